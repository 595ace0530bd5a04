//! `cargo ws new`: writes a complete crate from a template.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::template::{FLAGS, Template};

/// Where the app's `ws` dependency comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The published version this generator was built with.
    Version,
    /// A checkout of the workspace.
    Path(PathBuf),
    /// A git repository.
    Git(String),
}

/// What `cargo ws new` was asked for.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) template: String,
    pub(crate) flags: BTreeSet<String>,
    pub(crate) source: Source,
    pub(crate) force: bool,
}

/// A crate name cargo accepts: ASCII letters, digits, `-` and `_`, a letter first.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(format!(
            "`{name}` is not a crate name: use ASCII letters, digits, `-` and `_`, starting with a letter"
        ));
    }
    if ["ws", "test", "self", "crate", "super", "core", "std"].contains(&name) {
        return Err(format!("`{name}` is reserved: choose another name"));
    }
    Ok(())
}

/// The line of a dependency for the app's `Cargo.toml`, from the workspace's spec.
fn dependency(name: &str) -> Result<String, String> {
    crate::VERSIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, spec)| format!("{n} = {spec}"))
        .ok_or_else(|| format!("the workspace has no dependency `{name}` to take its version from"))
}

/// The files of the app, `(relative path, contents)`.
pub(crate) fn files(t: &Template, req: &Request) -> Result<Vec<(String, String)>, String> {
    let unknown: Vec<_> = req.flags.iter().filter(|f| !t.flags.contains(*f)).collect();
    if !unknown.is_empty() {
        let takes = if t.flags.is_empty() {
            "no flags".to_string()
        } else {
            t.flags
                .iter()
                .map(|f| format!("--{f}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "template `{}` does not take {}: it takes {takes}",
            t.name,
            unknown
                .iter()
                .map(|f| format!("--{f}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut files = Vec::new();
    let mut ws_features = t.ws_features.clone();
    for flag in &req.flags {
        for feature in crate::template::flag_features(flag) {
            if !ws_features.iter().any(|f| f == feature) {
                ws_features.push((*feature).to_string());
            }
        }
    }
    let features = if ws_features.is_empty() {
        String::new()
    } else {
        format!(", features = {ws_features:?}")
    };
    let ws = match &req.source {
        Source::Version if features.is_empty() => format!("ws = \"{}\"", crate::WS_VERSION),
        Source::Version => format!("ws = {{ version = \"{}\"{features} }}", crate::WS_VERSION),
        Source::Path(p) => format!("ws = {{ path = {:?}{features} }}", p.display().to_string()),
        Source::Git(url) => format!("ws = {{ git = {url:?}{features} }}"),
    };
    let mut deps = vec![ws, dependency("tokio")?];
    for d in &t.deps {
        deps.push(dependency(d)?);
    }
    let mut dev = vec![
        dependency("tokio-tungstenite")?.replace(
            "default-features = false",
            "default-features = false, features = [\"connect\"]",
        ),
        dependency("futures-util")?
            .replace("features = [\"std\"]", "features = [\"std\", \"sink\"]"),
    ];
    let test = t
        .test
        .clone()
        .ok_or_else(|| format!("template `{}` has no test", t.name))?;
    let tls = if test.tls {
        Tls::AppCa
    } else if req.flags.contains("tls") {
        dev.push(dependency("rcgen")?);
        Tls::TestCerts
    } else {
        Tls::Off
    };
    if tls != Tls::Off {
        dev.push(dependency("tokio-rustls")?);
        dev.push(dependency("rustls-pki-types")?);
    }
    let mut cargo = String::new();
    writeln!(
        cargo,
        "[package]\nname = \"{}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]",
        req.name
    )
    .unwrap();
    for d in &deps {
        writeln!(cargo, "{d}").unwrap();
    }
    cargo.push_str("\n[dev-dependencies]\n");
    for d in &dev {
        writeln!(cargo, "{d}").unwrap();
    }
    files.push(("Cargo.toml".into(), cargo));
    files.push(("src/main.rs".into(), t.render(&req.flags)));
    files.push(("src/common/mod.rs".into(), crate::COMMON.to_string()));
    for page in &t.pages {
        let (_, contents) = crate::PAGES
            .iter()
            .find(|(p, _)| p == page)
            .ok_or_else(|| format!("template `{}` includes `{page}`, which is missing", t.name))?;
        files.push((format!("src/{page}"), contents.to_string()));
    }
    files.push((".gitignore".into(), "/target\n".into()));
    files.push(("README.md".into(), readme(t, req)));
    files.push(("tests/app.rs".into(), app_test(&req.name, &test, tls)));
    Ok(files)
}

fn readme(t: &Template, req: &Request) -> String {
    let flags: Vec<_> = req.flags.iter().map(|f| format!("--{f}")).collect();
    let made = if flags.is_empty() {
        format!("`cargo ws new --template {}`", t.name)
    } else {
        format!("`cargo ws new --template {} {}`", t.name, flags.join(" "))
    };
    let run = if req.flags.contains("tls") {
        "cargo run -- --port 8443 --cert cert.pem --key key.pem   # the server"
    } else {
        "cargo run        # the server, on port 8080 (`-- --port N` for another)"
    };
    format!(
        "# {}\n\n```sh\n{run}\ncargo test       # starts it and talks to it\n```\n\n{}.\n\nMade by {made} from `ws`'s `{}` example; `src/main.rs` says how to use it.\n",
        req.name, t.description, t.name
    )
}

/// How the generated test reaches the app.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tls {
    /// `ws://`.
    Off,
    /// The app makes a test CA (`--test-ca DIR`); the test trusts `DIR/ca.pem`.
    AppCa,
    /// The test makes a CA and a certificate with rcgen and starts the app with
    /// `--cert` and `--key`.
    TestCerts,
}

/// The generated integration test: starts the app's binary on a free port and talks to
/// it with tokio-tungstenite.
fn app_test(name: &str, test: &crate::template::TestSpec, tls: Tls) -> String {
    let bin = name;
    let args: Vec<String> = test.args.iter().map(|a| format!("{a:?}")).collect();
    let protocol = match &test.protocol {
        Some(p) => format!(
            "    request\n        .headers_mut()\n        .insert(\"sec-websocket-protocol\", {p:?}.parse().unwrap());\n"
        ),
        None => String::new(),
    };
    let send = match &test.send {
        Some(text) => format!("    client.send(Message::text({text:?})).await.unwrap();\n"),
        None => String::new(),
    };
    let dir = "    let dir = std::env::temp_dir().join(format!(\"{}-test-{}\", env!(\"CARGO_PKG_NAME\"), std::process::id()));\n    std::fs::create_dir_all(&dir).unwrap();\n";
    let setup = match tls {
        Tls::Off => String::new(),
        Tls::AppCa => format!("{dir}    command.arg(\"--test-ca\").arg(&dir);\n"),
        Tls::TestCerts => format!(
            "{dir}{}",
            r#"    {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &Issuer::new(ca, ca_key))
            .unwrap();
        std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    }
    command.arg("--cert").arg(dir.join("cert.pem"));
    command.arg("--key").arg(dir.join("key.pem"));
"#
        ),
    };
    let connect = if tls == Tls::Off {
        "    let (mut client, _) = tokio_tungstenite::connect_async(request)\n        .await\n        .expect(\"the app accepts a WebSocket\");\n".to_string()
    } else {
        r#"    let ca = std::fs::read(dir.join("ca.pem")).expect("ca.pem");
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap()))
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("the app's certificate is trusted");
    let (mut client, _) = tokio_tungstenite::client_async(request, tls)
        .await
        .expect("the app accepts a WebSocket");
"#
        .to_string()
    };
    let (scheme, host) = if tls == Tls::Off {
        ("ws", "127.0.0.1")
    } else {
        ("wss", "localhost")
    };
    format!(
        r#"//! Starts the app on a free port and talks to it as a client would.

use std::io::{{BufRead, BufReader}};
use std::process::{{Command, Stdio}};
use std::time::Duration;

use futures_util::{{SinkExt, StreamExt}};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The app, killed when the test ends.
struct App(std::process::Child);

impl Drop for App {{
    fn drop(&mut self) {{
        let _ = self.0.kill();
        let _ = self.0.wait();
    }}
}}

#[tokio::test]
async fn the_app_answers_a_websocket_client() {{
    let mut command = Command::new(env!("CARGO_BIN_EXE_{bin}"));
    command.args(["--port", "0"]).args::<[&str; {nargs}], _>([{args}]);
{setup}    let mut app = App(
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the app starts"),
    );
    let stdout = app.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .by_ref()
        .take(50)
        .map(|l| l.unwrap())
        .find(|l| l.starts_with("Listening on "))
        .expect("the app prints where it listens");
    std::thread::spawn(move || for _ in lines {{}});
    let port = line.rsplit(':').next().unwrap().trim().to_string();
    let url = format!("{scheme}://{host}:{{port}}{path}{query}");
    #[allow(unused_mut)]
    let mut request = url.into_client_request().unwrap();
{protocol}{connect}{send}    let first = tokio::time::timeout(Duration::from_secs(10), client.next())
        .await
        .expect("a message within 10 s")
        .expect("the session is open")
        .expect("no protocol error");
    match first {{
        Message::Text(text) => assert!(
            text.starts_with({expect:?}),
            "the first message is {{text:?}}"
        ),
        other => panic!("expected a text message, got {{other:?}}"),
    }}
    client.send(Message::Close(None)).await.unwrap();
}}
"#,
        nargs = args.len(),
        args = args.join(", "),
        path = test.path,
        query = test.query,
        expect = test.expect,
    )
}

/// Writes the app; refuses an existing, non-empty directory unless `force`.
pub(crate) fn write(t: &Template, req: &Request) -> Result<Vec<PathBuf>, String> {
    let files = files(t, req)?;
    if req.dir.exists()
        && !req.force
        && std::fs::read_dir(&req.dir).map_or(true, |mut d| d.next().is_some())
    {
        return Err(format!(
            "`{}` already exists: choose another name or pass --force to write into it",
            req.dir.display()
        ));
    }
    let mut written = Vec::new();
    for (path, contents) in files {
        let full = req.dir.join(&path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&full, contents)
            .map_err(|e| format!("cannot write {}: {e}", full.display()))?;
        written.push(full);
    }
    Ok(written)
}

/// The flags a user can pass, for messages.
pub(crate) fn flag_names() -> String {
    FLAGS
        .iter()
        .map(|(f, _)| format!("--{f}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `dir/name` relative paths in a stable order, for printing.
pub(crate) fn relative(dir: &Path, written: &[PathBuf]) -> Vec<String> {
    written
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
        .collect()
}
