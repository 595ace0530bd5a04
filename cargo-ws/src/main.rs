//! `cargo ws`: start a `ws` app from one of its examples, and list an app's endpoints.
//!
//! ```text
//! cargo install --path cargo-ws           # from a checkout of ws
//! cargo ws list                           # the templates, one line each
//! cargo ws new my-chat --template chat --deflate
//! cargo ws new my-echo --path ../ws       # depend on a checkout instead of a version
//! cargo ws routes                         # the endpoints of the project here (WebSocket and HTTP)
//! ```
//!
//! The templates are `ws`'s examples themselves, taken when this binary is built (see
//! `template.rs` for the marker lines an example carries); a generated app is the
//! example with its flags applied, its pages, the examples' shared `common` module, a
//! `Cargo.toml` whose versions are the workspace's, a README with the two commands, an
//! integration test that starts the app and talks to it, and a `.gitignore`.

mod generate;
mod routes;
mod template;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use generate::{Request, Source};

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

const USAGE: &str = "\
usage:
  cargo ws new NAME [--template NAME] [--deflate] [--tls] [--metrics] [--redis] [--path DIR | --git URL] [--force]
  cargo ws list
  cargo ws routes [DIR]";

fn main() -> ExitCode {
    // As `cargo ws ...`, cargo passes `ws` first.
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "ws") {
        args.remove(0);
    }
    match run(&args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<String, String> {
    let templates = template::all(EXAMPLES)?;
    match args.first().map(String::as_str) {
        Some("list") => Ok(list(&templates)),
        Some("new") => new(&templates, &args[1..]),
        Some("routes") => {
            let dir = args
                .get(1)
                .map_or_else(|| PathBuf::from("."), PathBuf::from);
            let (found, problems) = routes::scan(&dir);
            let mut out = routes::table(&found);
            for p in problems {
                out.push_str(&format!(
                    "warning: {}:{}: {}\n",
                    p.file.display(),
                    p.line,
                    p.message
                ));
            }
            if found.is_empty() {
                out.push_str(&format!(
                    "no routes (`#[web_socket]`, `#[web_socket_raw]`, `#[get]`, `#[post]`, ...) under {}/src or {}/examples\n",
                    dir.display(),
                    dir.display()
                ));
            }
            Ok(out)
        }
        Some("-h" | "--help" | "help") | None => Ok(format!("{USAGE}\n")),
        Some(other) => Err(format!(
            "unknown command `{other}`: the commands are `new`, `list` and `routes`"
        )),
    }
}

fn list(templates: &[template::Template]) -> String {
    let width = templates.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for t in templates {
        let mut flags: Vec<String> = t.flags.iter().map(|f| format!("--{f}")).collect();
        // Flags that stand for another template (`chat --redis`: `chat_cluster`).
        for (flag, _) in template::FLAGS {
            if template::flag_template(flag, &t.name).is_some_and(|other| other != t.name) {
                flags.push(format!("--{flag}"));
            }
        }
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", flags.join(" "))
        };
        out.push_str(&format!("{:<width$}  {}{flags}\n", t.name, t.description));
    }
    out
}

fn new(templates: &[template::Template], args: &[String]) -> Result<String, String> {
    let names = || {
        templates
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut name = None;
    let mut template = "echo".to_string();
    let mut flags = BTreeSet::new();
    let mut source = Source::Version;
    let mut force = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |what: &str| {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("`{arg}` takes {what}"))
        };
        match arg.as_str() {
            "--template" => template = value("a template name")?,
            "--path" => source = Source::Path(PathBuf::from(value("a directory")?)),
            "--git" => source = Source::Git(value("a repository URL")?),
            "--force" => force = true,
            flag if flag.starts_with("--") => {
                let flag = &flag[2..];
                if !template::FLAGS.iter().any(|(f, _)| *f == flag) {
                    return Err(format!(
                        "unknown option `--{flag}`: options are --template, --path, --git, --force and the flags {}",
                        generate::flag_names()
                    ));
                }
                flags.insert(flag.to_string());
            }
            positional if name.is_none() => name = Some(positional.to_string()),
            extra => return Err(format!("unexpected argument `{extra}`\n{USAGE}")),
        }
    }
    let name = name.ok_or_else(|| format!("`cargo ws new` needs the app's name\n{USAGE}"))?;
    generate::check_name(&name)?;
    // A flag that stands for a template (`chat --redis` is `chat_cluster`).
    for flag in flags.clone() {
        if let Some(by_flag) = template::flag_template(&flag, &template) {
            template = by_flag.to_string();
            flags.remove(&flag);
        } else if flag == "redis" {
            return Err(format!(
                "template `{template}` does not take --redis: it applies to the chat (then the chat_cluster template)"
            ));
        }
    }
    let t = templates
        .iter()
        .find(|t| t.name == template)
        .ok_or_else(|| {
            format!(
                "unknown template `{template}`: the templates are {}",
                names()
            )
        })?;
    if let Source::Path(p) = &source {
        let p = std::fs::canonicalize(p).map_err(|e| format!("--path {}: {e}", p.display()))?;
        if !p.join("Cargo.toml").is_file() || !p.join("ws-runtime").is_dir() {
            return Err(format!("--path {}: not a checkout of ws", p.display()));
        }
        source = Source::Path(p);
    }
    let request = Request {
        dir: PathBuf::from(&name),
        name,
        template: template.clone(),
        flags,
        source,
        force,
    };
    let written = generate::write(t, &request)?;
    let mut out = format!(
        "Created `{}` from the `{}` template:\n",
        request.name, request.template
    );
    for path in generate::relative(&request.dir, &written) {
        out.push_str(&format!("  {path}\n"));
    }
    out.push_str(&format!(
        "\nRun it:   cd {} && cargo run\nTest it:  cargo test\n",
        request.name
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn bad_requests_get_one_line_naming_the_choices() {
        let e = run(&args("new 9lives")).unwrap_err();
        assert!(e.contains("not a crate name"), "{e}");
        let e = run(&args("new app --template nope")).unwrap_err();
        assert!(
            e.contains("unknown template `nope`") && e.contains("chat"),
            "{e}"
        );
        let e = run(&args("new app --zstd")).unwrap_err();
        assert!(e.contains("--deflate"), "{e}");
        let e = run(&args("new app --template echo --redis")).unwrap_err();
        assert!(
            e.contains("does not take --redis") && e.contains("chat"),
            "{e}"
        );
        let e = run(&args("new app --template chat --metrics")).unwrap_err();
        assert!(e.contains("does not take --metrics"), "{e}");
        let e = run(&args("frobnicate")).unwrap_err();
        assert!(e.contains("`new`, `list` and `routes`"), "{e}");
        for e in [
            run(&args("new 9lives")).unwrap_err(),
            run(&args("new app --template nope")).unwrap_err(),
        ] {
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    #[test]
    fn list_shows_each_template_with_its_description() {
        let out = run(&args("list")).unwrap();
        let chat = out
            .lines()
            .find(|l| l.starts_with("chat "))
            .expect("chat is listed");
        assert!(chat.contains("Ktor's multi-session chat sample"), "{chat}");
        assert!(
            !out.contains("conformance"),
            "the conformance server is not a template"
        );
    }
}
