//! Shared helpers: start a server on 127.0.0.1:0, connect tokio-tungstenite clients.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use ws::{Application, EmbeddedServer, RunningServer};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Starts a server on an ephemeral loopback port.
pub async fn serve(configure: impl FnOnce(&mut Application)) -> RunningServer {
    EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .grace_period(Duration::from_secs(2))
        .configure(configure)
        .bind()
        .await
        .expect("server binds")
}

/// Connects a tokio-tungstenite client to `path`.
pub async fn connect(addr: SocketAddr, path: &str) -> Client {
    let (client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}{path}"))
        .await
        .expect("client connects");
    client
}

/// The next message, failing the test after 5 s.
pub async fn next(client: &mut Client) -> Option<Message> {
    tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .expect("a message within 5 s")
        .map(|m| m.expect("no protocol error"))
}

/// The next text message.
pub async fn next_text(client: &mut Client) -> String {
    match next(client).await {
        Some(Message::Text(text)) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

pub async fn send_text(client: &mut Client, text: &str) {
    client.send(Message::text(text)).await.expect("send");
}

/// A running example process, killed when dropped.
pub struct Example {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile dir");
    let path = dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --examples`",
        path.display()
    );
    path
}

/// Starts an example on a free port and waits for its `Listening on` line.
pub fn start(name: &str) -> Example {
    start_with(name, &[], None)
}

/// Starts an example with extra arguments, under `ulimit -n` if given.
pub fn start_with(name: &str, args: &[&str], max_files: Option<u32>) -> Example {
    let path = example_path(name);
    let mut command = match max_files {
        None => Command::new(&path),
        Some(n) => {
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(&path);
            sh
        }
    };
    let mut child = command
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("example starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    // Lines before `Listening on` (the auth example's tokens) are passed over.
    let line = lines
        .by_ref()
        .take(50)
        .map(|l| l.expect("stdout is UTF-8"))
        .find(|l| l.starts_with("Listening on "))
        .expect("the example prints its `Listening on` line");
    let addr = line
        .strip_prefix("Listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port = addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    // Keep draining stdout so the example never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Example {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

/// The resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// CPU time (user + system) a process has used, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// What a process wrote to stderr so far, read by a thread as it comes.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<(String, bool)>>);

impl Captured {
    /// Reads `from` line by line until it ends.
    pub fn follow(from: impl std::io::Read + Send + 'static) -> Self {
        let captured = Self::default();
        let text = captured.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines() {
                let Ok(line) = line else { break };
                let mut text = text.lock().unwrap();
                text.0.push_str(&line);
                text.0.push('\n');
            }
            text.lock().unwrap().1 = true;
        });
        captured
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap().0.clone()
    }

    /// Everything the process wrote, once its stderr has ended (waiting up to 10 s).
    pub fn wait_for_end(&self) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let (text, true) = &*self.0.lock().unwrap() {
                return text.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "stderr did not end within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The first line that contains every one of `parts`, waiting up to 10 s for it.
    pub fn wait_for_line(&self, parts: &[&str]) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text();
            if let Some(line) = text.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                return line.to_string();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no line with {parts:?} within 10 s; stderr so far:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts an example with `args` and environment `envs`, its stderr captured (the log).
pub fn start_logged(name: &str, args: &[&str], envs: &[(&str, &str)]) -> (Example, Captured) {
    let mut command = Command::new(example_path(name));
    command.env_remove("RUST_LOG");
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("example starts");
    let log = Captured::follow(child.stderr.take().expect("stderr piped"));
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .by_ref()
        .take(50)
        .map(|l| l.expect("stdout is UTF-8"))
        .find(|l| l.starts_with("Listening on "))
        .unwrap_or_else(|| panic!("no `Listening on` line; stderr:\n{}", log.text()));
    let port = line.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    std::thread::spawn(move || for _ in lines {});
    let example = Example {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    (example, log)
}
