//! The templates: `ws`'s own examples, read with a small marker syntax.
//!
//! An example becomes a template with a line `// ws-new: template`. Lines that start
//! with `// ws-new:` say what the generated app needs and are left out of it:
//!
//! | line | meaning |
//! |---|---|
//! | `// ws-new: template` | this example is a template |
//! | `// ws-new: deps rcgen serde` | crates the app needs beside `ws` and `tokio` (versions from the workspace) |
//! | `// ws-new: ws-features prometheus` | features of `ws` the app turns on |
//! | `// ws-new: test /echo "Please enter"` | the generated test connects to `/echo` and expects a first text message starting with that |
//! | `// ws-new: test-args --users ada=t` | the test starts the app with these arguments |
//! | `// ws-new: test-query ?token=t` | the test adds this query to the path |
//! | `// ws-new: test-protocol chat` | the test offers this subprotocol |
//! | `// ws-new: test-send hello` | the test sends this text first (for an echo that does not speak first) |
//! | `// ws-new: test-tls` | the app is started with `--test-ca DIR` and the test speaks `wss://`, trusting `DIR/ca.pem` |
//!
//! A flag's lines: `//+deflate: extensions { Deflate {} },` is the line
//! `extensions { Deflate {} },` (at the marker's indentation) in an app generated with
//! `--deflate`, and nothing otherwise. The example itself compiles and runs without
//! them. The flags a template takes are the ones its lines name. `--metrics` also turns
//! on `ws`'s `prometheus` feature; `--redis` is not a line but a template: `chat --redis`
//! generates `chat_cluster`.

use std::collections::BTreeSet;

/// Flags a template line may name.
pub(crate) const FLAGS: &[(&str, &str)] = &[
    ("deflate", "permessage-deflate on every session"),
    ("tls", "serve over TLS with --cert/--key PEM files"),
    ("metrics", "a /metrics route in Prometheus' text format"),
    (
        "redis",
        "rooms across server processes over Redis (the chat template becomes chat_cluster)",
    ),
];

/// Features of `ws` a flag turns on in the generated app.
pub(crate) fn flag_features(flag: &str) -> &'static [&'static str] {
    match flag {
        "metrics" => &["prometheus"],
        "redis" => &["redis"],
        _ => &[],
    }
}

/// The template a flag stands for, when it replaces the one asked for: `chat --redis`
/// is `chat_cluster` (which needs no flag for it).
pub(crate) fn flag_template(flag: &str, template: &str) -> Option<&'static str> {
    match (flag, template) {
        ("redis", "chat" | "chat_cluster") => Some("chat_cluster"),
        _ => None,
    }
}

/// An example read as a template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) name: String,
    pub(crate) description: String,
    source: String,
    pub(crate) deps: Vec<String>,
    /// Features of `ws` the app turns on.
    pub(crate) ws_features: Vec<String>,
    pub(crate) flags: BTreeSet<String>,
    pub(crate) pages: Vec<String>,
    pub(crate) test: Option<TestSpec>,
}

/// What the generated integration test does.
#[derive(Debug, Clone, Default)]
pub(crate) struct TestSpec {
    pub(crate) path: String,
    pub(crate) expect: String,
    pub(crate) args: Vec<String>,
    pub(crate) query: String,
    pub(crate) protocol: Option<String>,
    pub(crate) send: Option<String>,
    pub(crate) tls: bool,
}

const MARK: &str = "// ws-new:";

/// A flag marker on a line (`//+deflate: code`): the flag and the code.
fn flag_line(line: &str) -> Option<(&str, &str, &str)> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let rest = trimmed.strip_prefix("//+")?;
    let (flag, code) = rest.split_once(':')?;
    Some((indent, flag.trim(), code.trim()))
}

/// The first sentence of the `//!` header, on one line.
fn description(source: &str) -> String {
    let mut text = String::new();
    for line in source.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            break;
        };
        let doc = doc.trim();
        if doc.is_empty() {
            break;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(doc);
    }
    let end = text
        .char_indices()
        .find(|&(i, c)| {
            (c == '.' || c == ':') && text[i + 1..].starts_with(|n: char| n.is_whitespace())
        })
        .map_or(text.len(), |(i, _)| i);
    text[..end].trim().to_string()
}

/// A quoted string or the rest of the line.
fn unquote(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
        .to_string()
}

impl Template {
    /// Reads an example; `Ok(None)` if it is not a template, `Err` for a marker the
    /// generator cannot render.
    pub(crate) fn parse(name: &str, source: &str) -> Result<Option<Self>, String> {
        let mut template = false;
        let mut deps = Vec::new();
        let mut ws_features = Vec::new();
        let mut flags = BTreeSet::new();
        let mut test: Option<TestSpec> = None;
        let mut extra = TestSpec::default();
        for (n, line) in source.lines().enumerate() {
            let at = || format!("examples/{name}.rs:{}", n + 1);
            if let Some(rest) = line.trim_start().strip_prefix(MARK) {
                let rest = rest.trim();
                let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
                match key {
                    "template" => template = true,
                    "deps" => deps.extend(value.split_whitespace().map(str::to_string)),
                    "ws-features" => {
                        ws_features.extend(value.split_whitespace().map(str::to_string))
                    }
                    "test" => {
                        let (path, expect) = value.trim().split_once(' ').ok_or_else(|| {
                            format!(
                                "{}: `test` takes a path and the expected first message",
                                at()
                            )
                        })?;
                        test = Some(TestSpec {
                            path: path.to_string(),
                            expect: unquote(expect),
                            ..TestSpec::default()
                        });
                    }
                    "test-args" => {
                        extra.args = value.split_whitespace().map(str::to_string).collect()
                    }
                    "test-query" => extra.query = value.trim().to_string(),
                    "test-protocol" => extra.protocol = Some(value.trim().to_string()),
                    "test-tls" => extra.tls = true,
                    "test-send" => extra.send = Some(value.trim().to_string()),
                    other => return Err(format!("{}: unknown `ws-new` key `{other}`", at())),
                }
                continue;
            }
            if line.trim_start().starts_with("//+") {
                let Some((_, flag, code)) = flag_line(line) else {
                    return Err(format!("{}: a flag line is `//+FLAG: code`", at()));
                };
                if !FLAGS.iter().any(|(f, _)| *f == flag) {
                    return Err(format!(
                        "{}: unknown flag `{flag}` (flags: {})",
                        at(),
                        FLAGS.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ")
                    ));
                }
                if code.is_empty() {
                    return Err(format!("{}: the flag line `{flag}` has no code", at()));
                }
                flags.insert(flag.to_string());
            }
        }
        if !template {
            return Ok(None);
        }
        let pages = source
            .match_indices("include_str!(\"")
            .map(|(i, m)| {
                let rest = &source[i + m.len()..];
                rest[..rest.find('"').unwrap_or(0)].to_string()
            })
            .collect();
        let test = test.map(|t| TestSpec {
            args: extra.args,
            query: extra.query,
            protocol: extra.protocol,
            send: extra.send,
            tls: extra.tls,
            ..t
        });
        Ok(Some(Self {
            name: name.to_string(),
            description: description(source),
            source: source.to_string(),
            deps,
            ws_features,
            flags,
            pages,
            test,
        }))
    }

    /// The app's `src/main.rs` with these flags on.
    pub(crate) fn render(&self, on: &BTreeSet<String>) -> String {
        let mut out = String::with_capacity(self.source.len());
        for line in self.source.lines() {
            if line.trim_start().starts_with(MARK) {
                continue;
            }
            if let Some((indent, flag, code)) = flag_line(line) {
                if on.contains(flag) {
                    out.push_str(indent);
                    out.push_str(code);
                    out.push('\n');
                }
                continue;
            }
            let line = line
                .replace(
                    &format!("cargo run --example {} -- ", self.name),
                    "cargo run -- ",
                )
                .replace(&format!("cargo run --example {}", self.name), "cargo run");
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// Every template among `examples`, or the first example the generator cannot read.
pub(crate) fn all(examples: &[(&str, &str)]) -> Result<Vec<Template>, String> {
    let mut templates = Vec::new();
    for (name, source) in examples {
        if let Some(t) = Template::parse(name, source)? {
            templates.push(t);
        }
    }
    Ok(templates)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"//! A sample: it echoes. More text.
//!
//! ```text
//! cargo run --example sample -- --port 9000
//! ```
// ws-new: template
// ws-new: deps serde
// ws-new: test /echo "hi"
fn main() {
    install!(app, WebSockets {
        //+deflate: extensions { Deflate {} },
    });
}
"#;

    #[test]
    fn reads_markers_and_renders_flags() {
        let t = Template::parse("sample", EXAMPLE).unwrap().unwrap();
        assert_eq!(t.description, "A sample");
        assert_eq!(t.deps, ["serde"]);
        assert_eq!(t.flags.iter().collect::<Vec<_>>(), ["deflate"]);
        let test = t.test.clone().unwrap();
        assert_eq!((test.path.as_str(), test.expect.as_str()), ("/echo", "hi"));
        let plain = t.render(&BTreeSet::new());
        assert!(
            !plain.contains("ws-new") && !plain.contains("Deflate"),
            "{plain}"
        );
        assert!(plain.contains("//! cargo run -- --port 9000"), "{plain}");
        let on = t.render(&["deflate".to_string()].into());
        assert!(on.contains("        extensions { Deflate {} },\n"), "{on}");
    }

    #[test]
    fn a_bad_marker_is_an_error_naming_its_line() {
        let bad = "// ws-new: template\n//+zstd: x\n";
        let e = Template::parse("bad", bad).unwrap_err();
        assert!(e.contains("examples/bad.rs:2") && e.contains("zstd"), "{e}");
        assert!(
            Template::parse("plain", "fn main() {}\n")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn every_example_renders() {
        let templates = all(crate::EXAMPLES).expect("every example reads");
        assert!(templates.len() >= 4, "{templates:?}");
        for t in &templates {
            for page in &t.pages {
                assert!(
                    crate::PAGES.iter().any(|(p, _)| p == page),
                    "{} includes {page}, which is not in examples/",
                    t.name
                );
            }
            assert!(t.test.is_some(), "{} has no `ws-new: test` line", t.name);
            let all: BTreeSet<String> = t.flags.clone();
            for on in [BTreeSet::new(), all] {
                let main = t.render(&on);
                syn::parse_file(&main).unwrap_or_else(|e| {
                    panic!("template {} with {on:?} does not parse: {e}", t.name)
                });
            }
        }
    }
}
