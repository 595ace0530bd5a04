//! Generated apps build and run: every template, and some flag combinations, generated
//! into a temporary directory with `--path` to this workspace, built with the
//! workspace's target directory (and its lock file, so the dependencies are the ones
//! already built), and their own generated test run: it starts the app and talks to it
//! with tokio-tungstenite.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cargo-ws sits in the workspace")
        .to_path_buf()
}

/// Cargo's target directory for this workspace, wherever it is.
fn target_dir() -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(workspace())
        .output()
        .expect("cargo metadata runs");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let key = "\"target_directory\":\"";
    let start = text.find(key).expect("a target directory") + key.len();
    PathBuf::from(&text[start..start + text[start..].find('"').unwrap()])
}

fn cargo_ws(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-ws"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("cargo-ws runs")
}

/// A `redis-server` on a free loopback port for the chat over Redis, killed when dropped.
struct Redis {
    child: std::process::Child,
    url: String,
}

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(std::env::var("REDIS_SERVER").unwrap_or("redis-server".into()))
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server; ./test.sh installs it)");
        // Ready when it accepts a connection (10 s at most).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not listen on {port} within 10 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Redis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Generates `name` from `template` with `flags`, then runs its tests.
fn generate_and_test(scratch: &Path, redis_url: &str, name: &str, template: &str, flags: &[&str]) {
    let root = workspace();
    let root_arg = root.display().to_string();
    let mut args = vec![
        "ws",
        "new",
        name,
        "--template",
        template,
        "--path",
        &root_arg,
    ];
    args.extend(flags);
    let out = cargo_ws(scratch, &args);
    assert!(
        out.status.success(),
        "cargo ws new {template} {flags:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = scratch.join(name);
    std::fs::copy(root.join("Cargo.lock"), app.join("Cargo.lock")).expect("the lock file");
    let test = Command::new(env!("CARGO"))
        .args(["test", "--quiet"])
        .env("REDIS_URL", redis_url)
        .env("CARGO_TARGET_DIR", target_dir().join("cargo-ws-apps"))
        .current_dir(&app)
        .output()
        .expect("cargo test runs");
    assert!(
        test.status.success(),
        "the app generated from `{template}` {flags:?} failed its test:\n{}\n{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
}

#[test]
fn every_template_and_some_flag_sets_build_start_and_answer() {
    // Outside the workspace's directory, or cargo would take the apps for members.
    let scratch = std::env::temp_dir().join(format!("cargo-ws-apps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let list = cargo_ws(&scratch, &["ws", "list"]);
    let list = String::from_utf8(list.stdout).unwrap();
    let templates: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        templates.contains(&"chat") && templates.contains(&"echo"),
        "{list}"
    );
    let redis = Redis::start();
    for template in &templates {
        generate_and_test(
            &scratch,
            &redis.url,
            &format!("app-{}", template.replace('_', "-")),
            template,
            &[],
        );
    }
    generate_and_test(
        &scratch,
        &redis.url,
        "chat-deflate-tls",
        "chat",
        &["--deflate", "--tls"],
    );
    generate_and_test(
        &scratch,
        &redis.url,
        "echo-deflate-metrics",
        "echo",
        &["--deflate", "--metrics"],
    );
    // `chat --redis` is the chat over Redis.
    generate_and_test(
        &scratch,
        &redis.url,
        "chat-redis-metrics",
        "chat",
        &["--redis", "--metrics"],
    );
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn the_generated_tree_is_complete_and_an_existing_directory_is_refused() {
    let scratch = std::env::temp_dir().join(format!("cargo-ws-tree-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let root = workspace().display().to_string();
    let out = cargo_ws(
        &scratch,
        &["ws", "new", "hello", "--template", "chat", "--path", &root],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "Cargo.toml",
        "README.md",
        ".gitignore",
        "src/main.rs",
        "src/common/mod.rs",
        "src/chat.html",
        "tests/app.rs",
    ] {
        assert!(
            scratch.join("hello").join(file).is_file(),
            "{file} is missing"
        );
    }
    let main = std::fs::read_to_string(scratch.join("hello/src/main.rs")).unwrap();
    assert!(
        !main.contains("ws-new") && !main.contains("//+"),
        "markers left in main.rs"
    );
    assert!(
        main.contains("cargo run"),
        "the header's commands are the app's"
    );
    let readme = std::fs::read_to_string(scratch.join("hello/README.md")).unwrap();
    assert!(
        readme.contains("cargo run") && readme.contains("cargo test"),
        "{readme}"
    );
    let again = cargo_ws(&scratch, &["ws", "new", "hello", "--template", "chat"]);
    assert!(!again.status.success());
    let error = String::from_utf8_lossy(&again.stderr);
    assert!(
        error.contains("already exists") && error.contains("--force"),
        "{error}"
    );
    assert_eq!(error.lines().count(), 1, "{error}");
    let forced = cargo_ws(
        &scratch,
        &["ws", "new", "hello", "--template", "echo", "--force"],
    );
    assert!(forced.status.success());
    // `cargo ws routes` in the generated project.
    let routes = cargo_ws(&scratch.join("hello"), &["ws", "routes"]);
    let routes = String::from_utf8(routes.stdout).unwrap();
    assert!(
        routes.contains("/echo") && routes.contains("src/main.rs:"),
        "{routes}"
    );
    let _ = std::fs::remove_dir_all(&scratch);
}
