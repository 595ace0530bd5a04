//! `cargo ws routes`: the endpoints of a project, WebSocket and HTTP, read from its
//! sources with the parsers the attributes themselves use
//! (`ws_codegen::web_socket::describe`, `ws_codegen::http::describe`).

use std::path::{Path, PathBuf};

use syn::visit::Visit;
use ws_codegen::http::HttpMethod;
use ws_codegen::web_socket::{Kind, RouteSummary};

/// One endpoint found in the sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// `WS` for a WebSocket route, else the HTTP method (`GET`).
    pub(crate) method: &'static str,
    pub(crate) route: RouteSummary,
    pub(crate) handler: String,
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
}

/// A source file that did not parse, or an attribute the macro would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
    pub(crate) message: String,
}

struct Visitor<'a> {
    file: &'a Path,
    found: Vec<Found>,
    problems: Vec<Problem>,
}

impl<'ast> Visit<'ast> for Visitor<'_> {
    fn visit_item_fn(&mut self, func: &'ast syn::ItemFn) {
        for attr in &func.attrs {
            let last = attr.path().segments.last().map(|s| s.ident.to_string());
            let line = attr.pound_token.span.start().line;
            let args = match &attr.meta {
                syn::Meta::List(list) => list.tokens.clone(),
                _ => proc_macro2::TokenStream::new(),
            };
            let ws = |kind| ws_codegen::web_socket::describe(args.clone(), kind).map(|r| ("WS", r));
            let http = |method: HttpMethod| {
                ws_codegen::http::describe(args.clone(), method).map(|r| (method.constant(), r))
            };
            let described = match last.as_deref() {
                Some("web_socket") => ws(Kind::Normal),
                Some("web_socket_raw") => ws(Kind::Raw),
                Some("get") => http(HttpMethod::Get),
                Some("post") => http(HttpMethod::Post),
                Some("put") => http(HttpMethod::Put),
                Some("patch") => http(HttpMethod::Patch),
                Some("delete") => http(HttpMethod::Delete),
                _ => continue,
            };
            match described {
                Ok((method, route)) => self.found.push(Found {
                    method,
                    route,
                    handler: func.sig.ident.to_string(),
                    file: self.file.to_path_buf(),
                    line,
                }),
                Err(messages) => self.problems.push(Problem {
                    file: self.file.to_path_buf(),
                    line,
                    message: messages.join("; "),
                }),
            }
        }
        syn::visit::visit_item_fn(self, func);
    }
}

/// Every `.rs` file under `dir`, `target/` and hidden directories skipped, sorted.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') && name != "node_modules" {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// The endpoints of the project at `root` (its `src/`, `examples/` and `tests/`).
pub(crate) fn scan(root: &Path) -> (Vec<Found>, Vec<Problem>) {
    let mut files = Vec::new();
    for sub in ["src", "examples"] {
        sources(&root.join(sub), &mut files);
    }
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let shown = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
        match syn::parse_file(&text) {
            Ok(ast) => {
                let mut visitor = Visitor {
                    file: &shown,
                    found: Vec::new(),
                    problems: Vec::new(),
                };
                visitor.visit_file(&ast);
                found.extend(visitor.found);
                problems.extend(visitor.problems);
            }
            Err(e) => problems.push(Problem {
                file: shown,
                line: e.span().start().line,
                message: format!("does not parse: {e}"),
            }),
        }
    }
    (found, problems)
}

/// The table `cargo ws routes` prints.
pub(crate) fn table(found: &[Found]) -> String {
    let rows: Vec<[String; 5]> = found
        .iter()
        .map(|f| {
            let mut kind = String::new();
            if f.route.raw {
                kind.push_str("raw");
            }
            if let Some(g) = &f.route.guard {
                if !kind.is_empty() {
                    kind.push_str(", ");
                }
                kind.push_str(&format!("guard {g}"));
            }
            [
                f.method.to_string(),
                f.route.path.clone(),
                f.route.protocol.clone().unwrap_or_else(|| "-".into()),
                if kind.is_empty() {
                    f.handler.clone()
                } else {
                    format!("{} ({kind})", f.handler)
                },
                format!("{}:{}", f.file.display(), f.line),
            ]
        })
        .collect();
    let header = ["METHOD", "PATH", "PROTOCOL", "HANDLER", "SOURCE"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header.map(str::to_string)).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_examples_routes_with_their_lines() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let (found, problems) = scan(root);
        assert!(problems.is_empty(), "{problems:?}");
        let chat = found
            .iter()
            .find(|f| f.file == Path::new("examples/auth.rs") && f.handler == "chat")
            .expect("the auth example's chat route");
        assert_eq!(chat.route.path, "/chat");
        assert_eq!(chat.route.protocol.as_deref(), Some("chat"));
        assert_eq!(chat.route.guard.as_deref(), Some("authenticate"));
        let source = std::fs::read_to_string(root.join("examples/auth.rs")).unwrap();
        let line = source.lines().nth(chat.line - 1).unwrap();
        assert!(line.starts_with("#[web_socket(\"/chat\""), "{line}");
        assert_eq!(chat.method, "WS");
        // The HTTP routes too, with their methods.
        let stats = found
            .iter()
            .find(|f| f.file == Path::new("examples/chat_cluster.rs") && f.handler == "stats")
            .expect("the chat_cluster example's stats route");
        assert_eq!((stats.method, stats.route.path.as_str()), ("GET", "/stats"));
        let text = table(&found);
        assert!(text.starts_with("METHOD  PATH"), "{text}");
        assert!(text.contains("examples/echo.rs:"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("GET ") && l.contains("/stats") && l.contains("stats")),
            "{text}"
        );
    }
}
