//! The servers under test: the `conformance` and `deflate` examples as subprocesses
//! (found next to this test executable), with an in-process fallback built from the
//! runtime API when an example binary is missing, plus one in-process server with a
//! short handshake timeout for the slowloris case.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ws::extension::Deflate;
use ws::{EmbeddedServer, Route, RunningServer, WebSocketOptions};

use crate::case::Env;

/// A child process killed (and reaped) when dropped, also while unwinding a panic.
struct ChildGuard {
    child: Child,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keeps the servers alive; dropping it stops them.
pub struct Servers {
    pub env: Env,
    /// How each server was started, for the report.
    pub notes: Vec<String>,
    _children: Vec<ChildGuard>,
    _in_process: Vec<RunningServer>,
}

/// `target/<profile>/examples/<name>`, seen from `target/<profile>/deps/<test>`.
fn example_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    path.is_file().then_some(path)
}

/// A warning if `binary` is older than the newest runtime library next to it: it was
/// built before the last runtime change (`cargo test --test conformance` alone does
/// not rebuild examples; `cargo build --examples` or a plain `cargo test` does).
fn stale_warning(binary: &Path) -> Option<String> {
    let built = std::fs::metadata(binary).ok()?.modified().ok()?;
    let deps = binary.parent()?.parent()?.join("deps");
    let runtime = std::fs::read_dir(deps)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libws_runtime-") && name.ends_with(".rlib")
        })
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()?;
    (runtime > built).then(|| {
        format!(
            "WARNING: {} is older than the runtime library: run `cargo build --examples` first",
            binary.display()
        )
    })
}

/// Starts an example with `--port 0` (and `extra` arguments) and reads the address
/// from its `Listening on http://ADDR` line.
fn spawn_example(
    path: &PathBuf,
    extra: &[&str],
    verbose: bool,
) -> Result<(ChildGuard, SocketAddr), String> {
    let child = Command::new(path)
        .args(["--port", "0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if verbose {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
    let mut guard = ChildGuard { child };
    let stdout = guard.child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    // Keep draining stdout for the child's whole life so it never blocks on a full
    // pipe; only the first lines matter.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if verbose {
                eprintln!("[server] {line}");
            }
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| format!("{} printed no `Listening on http://` line", path.display()))?;
        if let Some(rest) = line.split("Listening on http://").nth(1) {
            let addr_text = rest
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or_default();
            let mut addr: SocketAddr = addr_text
                .parse()
                .map_err(|e| format!("cannot parse address {addr_text:?}: {e}"))?;
            if addr.ip().is_unspecified() {
                addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
            }
            return Ok((guard, addr));
        }
    }
}

/// The echo route every server under test has.
fn echo_route() -> Route {
    Route::new("/echo", |session: ws::WebSocketSession| async move {
        while let Some(frame) = session.incoming.recv().await {
            session.send(frame).await?;
        }
        Ok::<(), ws::Error>(())
    })
}

async fn in_process(options: WebSocketOptions) -> Result<RunningServer, String> {
    EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .grace_period(Duration::from_secs(1))
        .configure(move |app| {
            app.install(options);
            app.route(echo_route());
        })
        .bind()
        .await
        .map_err(|e| format!("in-process server: {e}"))
}

impl Servers {
    /// Starts everything; `force_in_process` skips the example binaries.
    pub async fn start(
        force_in_process: bool,
        verbose: bool,
        memory: ws::extension::DeflateMemory,
    ) -> Result<Servers, String> {
        let mode = format!("{memory:?}").to_ascii_lowercase();
        let mut notes = Vec::new();
        let mut children = Vec::new();
        let mut in_proc = Vec::new();
        let mut addrs = Vec::new();
        for (name, options) in [
            ("conformance", WebSocketOptions::new()),
            (
                "deflate",
                WebSocketOptions::new().extension(Deflate::new().memory(memory)),
            ),
        ] {
            // The deflate server is the `deflate` example, else the `conformance`
            // example's own `--deflate` mode.
            let binary = if force_in_process {
                None
            } else if let Some(path) = example_binary(name) {
                let extra = if name == "deflate" {
                    vec!["--memory", mode.as_str()]
                } else {
                    Vec::new()
                };
                Some((path, extra))
            } else if name == "deflate" {
                example_binary("conformance").map(|p| (p, vec!["--deflate"]))
            } else {
                None
            };
            match binary {
                Some((path, extra)) => {
                    let (guard, addr) = spawn_example(&path, &extra, verbose)?;
                    let args: String = extra.iter().map(|a| format!(" {a}")).collect();
                    notes.push(format!(
                        "{name}: example {}{args} on {addr}",
                        path.display()
                    ));
                    notes.extend(stale_warning(&path));
                    children.push(guard);
                    addrs.push(addr);
                }
                None => {
                    let server = in_process(options).await?;
                    let why = if force_in_process {
                        "--in-process"
                    } else {
                        "example binary not built (run `cargo build --examples`)"
                    };
                    notes.push(format!(
                        "{name}: IN-PROCESS fallback on {} ({why})",
                        server.local_addr()
                    ));
                    addrs.push(server.local_addr());
                    in_proc.push(server);
                }
            }
        }
        let short =
            in_process(WebSocketOptions::new().handshake_timeout(Duration::from_millis(300)))
                .await?;
        notes.push(format!(
            "handshake timeout 300 ms: in-process on {}",
            short.local_addr()
        ));
        let env = Env {
            echo: addrs[0],
            deflate: addrs[1],
            short_handshake: short.local_addr(),
        };
        in_proc.push(short);
        Ok(Servers {
            env,
            notes,
            _children: children,
            _in_process: in_proc,
        })
    }
}
