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
    let child = command
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("example starts");
    listening(child, String::new)
}

/// Waits for a started example's `Listening on` line (lines before it, such as the
/// auth example's tokens, are passed over) and keeps draining its stdout so that it
/// never blocks on a full pipe. `context` adds to the panic if the line never comes.
fn listening(mut child: Child, context: impl FnOnce() -> String) -> Example {
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .by_ref()
        .take(50)
        .map(|l| l.expect("stdout is UTF-8"))
        .find(|l| l.starts_with("Listening on "))
        .unwrap_or_else(|| panic!("the example prints no `Listening on` line{}", context()));
    let addr = line
        .strip_prefix("Listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port = addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
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

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `redis-server` this test started on its own port, killed (-9) when dropped.
/// Nothing is persisted: a restart begins empty, as after a crash without persistence.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

/// The `redis-server` binary (`REDIS_SERVER`, else the one on `PATH`); fails the test
/// with how to install it when there is none.
fn redis_server_binary() -> String {
    let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
    let found = Command::new(&binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{binary}` not found: these tests run a real Redis. Install it with \
         `apt-get install -y redis-server` (./test.sh does so), or set REDIS_SERVER"
    );
    binary
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers PING.
    pub fn start() -> Self {
        let mut server = RedisServer {
            child: None,
            port: free_port(),
        };
        server.restart();
        server
    }

    /// A port with nothing listening yet (for a Redis that comes later).
    pub fn unstarted() -> Self {
        RedisServer {
            child: None,
            port: free_port(),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Kills it with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port; waits until it answers PING (10 s at most).
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(redis_server_binary())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if self.command("PING").as_deref() == Some("+PONG") {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server on port {} did not answer PING within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends one inline command and returns the first line of the answer.
    pub fn command(&self, command: &str) -> Option<String> {
        use std::io::{Read, Write};
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream =
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(format!("{command}\r\n").as_bytes()).ok()?;
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while answer.len() < 4096 && stream.read(&mut byte).ok()? == 1 {
            if byte[0] == b'\n' {
                break;
            }
            answer.push(byte[0]);
        }
        Some(String::from_utf8_lossy(&answer).trim_end().to_owned())
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`): a Redis that stops answering, then goes on.
    pub fn pause(&self, stop: bool) {
        let signal = if stop { "-STOP" } else { "-CONT" };
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
    }
}

/// A plain HTTP GET on loopback; the body.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    http_get_status(addr, path).1
}

/// A plain HTTP GET on loopback; the status line and the body.
pub fn http_get_status(addr: SocketAddr, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .expect("connects for HTTP");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, body.to_owned())
}

/// Polls `condition` every 20 ms until it holds, failing the test after `limit`.
pub async fn eventually(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
    let example = listening(child, || format!("; stderr:\n{}", log.text()));
    (example, log)
}
