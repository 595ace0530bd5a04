//! What the examples share: the port to listen on, and reading a command-line option.

/// `--port N` (or `--port=N`), else the `PORT` environment variable, else 8080.
/// `0` picks a free port; the server prints `Listening on http://ADDR` either way.
pub(crate) fn port() -> u16 {
    let mut args = std::env::args().skip(1);
    let mut value = None;
    while let Some(arg) = args.next() {
        if arg == "--port" {
            value = args.next();
        } else if let Some(v) = arg.strip_prefix("--port=") {
            value = Some(v.to_string());
        }
    }
    let value = value.or_else(|| std::env::var("PORT").ok());
    match value {
        None => 8080,
        Some(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("invalid port `{v}`: expected a number from 0 to 65535");
            std::process::exit(2);
        }),
    }
}

/// The value of `--NAME VALUE` (or `--NAME=VALUE`), parsed; exits with a message if it
/// does not parse.
#[allow(dead_code)]
pub(crate) fn option<T: std::str::FromStr>(name: &str) -> Option<T> {
    let flag = format!("--{name}");
    let mut args = std::env::args().skip(1);
    let mut value = None;
    while let Some(arg) = args.next() {
        if arg == flag {
            value = args.next();
        } else if let Some(v) = arg.strip_prefix(&format!("{flag}=")) {
            value = Some(v.to_string());
        }
    }
    value.map(|v| {
        v.trim().parse().unwrap_or_else(|_| {
            eprintln!("invalid {flag} `{v}`");
            std::process::exit(2);
        })
    })
}

/// The value of `--NAME VALUE`, which must be given: exits with a message if it is
/// missing or does not parse.
#[allow(dead_code)]
pub(crate) fn required<T: std::str::FromStr>(name: &str) -> T {
    option(name).unwrap_or_else(|| {
        eprintln!("--{name} is required");
        std::process::exit(2);
    })
}

/// Whether a secret a client sent is the expected one, in time that does not depend on
/// where they differ (so that timing does not reveal a prefix).
#[allow(dead_code)]
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    let (given, expected) = (given.as_bytes(), expected.as_bytes());
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}
