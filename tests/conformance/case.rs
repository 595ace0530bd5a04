//! What a case is, and the scripts most cases are made of.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::client::{Conn, Delivery, Frame, Msg, READ_WAIT, concat};

/// The servers under test.
#[derive(Clone, Debug)]
pub struct Env {
    /// The `conformance` example: echo on `/echo`, default limits.
    pub echo: SocketAddr,
    /// The `deflate` example: the same echo with permessage-deflate.
    pub deflate: SocketAddr,
    /// An in-process echo server with a 300 ms handshake timeout.
    pub short_handshake: SocketAddr,
}

/// A case that did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// The server ended up where the RFC wants it, but later or more leniently than
    /// the strictest reading (Autobahn's NON-STRICT); the text says how.
    NonStrict(String),
}

/// `Err` is a failure, with what went wrong.
pub type Outcome = Result<Verdict, String>;

type CaseFn = Arc<dyn Fn(Env) -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send + Sync>;

/// One conformance case.
#[derive(Clone)]
pub struct Case {
    /// Autobahn-style id, `section.group.n`.
    pub id: String,
    /// One line: what is sent and what must happen.
    pub desc: String,
    /// The clause it checks.
    pub rfc: &'static str,
    /// Upper bound on the whole case.
    pub timeout: Duration,
    /// Moves many megabytes: run with few others in flight.
    pub heavy: bool,
    /// The script, for cases made of one (so it can be replayed elsewhere).
    pub script: Option<Script>,
    run: CaseFn,
}

impl Case {
    pub fn new<F, Fut>(
        id: impl Into<String>,
        desc: impl Into<String>,
        rfc: &'static str,
        f: F,
    ) -> Case
    where
        F: Fn(Env) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        Case {
            id: id.into(),
            desc: desc.into(),
            rfc,
            timeout: Duration::from_secs(15),
            heavy: false,
            script: None,
            run: Arc::new(move |env| Box::pin(f(env))),
        }
    }

    /// Marks the case as moving a lot of data.
    pub fn heavy(mut self) -> Case {
        self.heavy = true;
        self.timeout = Duration::from_secs(60);
        self
    }

    pub fn run(&self, env: Env) -> Pin<Box<dyn Future<Output = Outcome> + Send>> {
        (self.run)(env)
    }
}

/// Why a server may fail without answering the valid frames that came before the bad
/// one in the same write.
pub const FAIL_AT_ONCE: &str = "RFC 6455 §7.1.7 lets an endpoint that must fail the connection stop at once; \
     the reply to the valid message read in the same batch is application output it may drop \
     (Autobahn grades this NON-STRICT)";

/// What the server must send back, in order.
#[derive(Clone, Debug)]
pub enum Expect {
    /// A data message (opcode, payload).
    Msg(u8, Vec<u8>),
    /// A pong with this payload.
    Pong(Vec<u8>),
}

impl Expect {
    /// Whether `got` is this reply.
    pub fn check(&self, got: &Msg) -> Result<(), String> {
        match self {
            Expect::Msg(op, payload) => got.check_data(*op, payload),
            Expect::Pong(payload) => got.check_pong(payload),
        }
    }

    pub fn text(p: impl Into<Vec<u8>>) -> Expect {
        Expect::Msg(crate::client::TEXT, p.into())
    }

    pub fn binary(p: impl Into<Vec<u8>>) -> Expect {
        Expect::Msg(crate::client::BINARY, p.into())
    }

    pub fn pong(p: impl Into<Vec<u8>>) -> Expect {
        Expect::Pong(p.into())
    }
}

/// How a scripted case ends.
#[derive(Clone, Debug)]
pub enum End {
    /// The session is still healthy: we close with 1000 and expect 1000 back, then
    /// TCP closed by the server.
    Clean,
    /// The server must close with one of these codes (1005 = an empty close body),
    /// then close TCP.
    Close(Vec<u16>),
}

/// A scripted case: frames sent as one write (delivered as asked), the replies
/// expected in order, and how it ends.
#[derive(Clone, Debug)]
pub struct Script {
    pub frames: Vec<Frame>,
    pub delivery: Delivery,
    pub expect: Vec<Expect>,
    pub end: End,
    /// The replies may come in any order (a pong need not wait for an echo).
    pub unordered: bool,
    /// If the server ends with the expected close before sending the expected
    /// replies, grade NON-STRICT with this explanation instead of failing.
    pub replies_optional: Option<&'static str>,
}

impl Script {
    pub fn new(frames: Vec<Frame>) -> Script {
        Script {
            frames,
            delivery: Delivery::Whole,
            expect: Vec::new(),
            end: End::Clean,
            unordered: false,
            replies_optional: None,
        }
    }

    /// The replies may arrive in any order.
    pub fn unordered(mut self) -> Script {
        self.unordered = true;
        self
    }

    /// The server may fail (or close) before answering what came first in the same
    /// write; `why` says why the RFC allows it.
    pub fn replies_optional(mut self, why: &'static str) -> Script {
        self.replies_optional = Some(why);
        self
    }

    pub fn delivery(mut self, delivery: Delivery) -> Script {
        self.delivery = delivery;
        self
    }

    pub fn expect(mut self, expect: Vec<Expect>) -> Script {
        self.expect = expect;
        self
    }

    /// The server must fail the connection with `code` (after the expected replies).
    pub fn fails(mut self, code: u16) -> Script {
        self.end = End::Close(vec![code]);
        self
    }

    pub fn ends(mut self, end: End) -> Script {
        self.end = end;
        self
    }

    /// Runs the script on a fresh connection to `addr`'s `/echo`.
    pub async fn run(self, addr: SocketAddr) -> Outcome {
        let mut conn = Conn::connect(addr, "/echo").await?;
        self.run_on(&mut conn).await
    }

    /// Runs the script on an open connection.
    pub async fn run_on(self, conn: &mut Conn) -> Outcome {
        if self.frames.iter().any(|f| f.opcode == crate::client::CLOSE) {
            conn.sent_close = true;
        }
        let bytes = concat(&self.frames);
        let sent = conn.send(&bytes, self.delivery).await;
        // A server that fails the connection early may refuse the rest of our bytes;
        // that is judged by what it sent, not by our write.
        if let Err(e) = sent
            && matches!(self.end, End::Clean)
        {
            return Err(e);
        }
        let mut pending: Vec<&Expect> = self.expect.iter().collect();
        while !pending.is_empty() {
            let got = conn.next_reply(READ_WAIT).await?;
            if let (Some(why), End::Close(codes), Msg::Close(code, _)) =
                (self.replies_optional, &self.end, &got)
            {
                let code = code.unwrap_or(1005);
                if codes.contains(&code) {
                    conn.finish_close(code).await?;
                    return Ok(Verdict::NonStrict(format!(
                        "closed with {code} without {} of the expected replies: {why}",
                        pending.len()
                    )));
                }
            }
            let candidates = if self.unordered { pending.len() } else { 1 };
            let mut errors = Vec::new();
            let hit = pending[..candidates]
                .iter()
                .position(|e| match e.check(&got) {
                    Ok(()) => true,
                    Err(err) => {
                        errors.push(err);
                        false
                    }
                });
            match hit {
                Some(i) => {
                    pending.remove(i);
                }
                None => return Err(errors.join("; or ")),
            }
        }
        match &self.end {
            End::Clean => conn.close_normally().await?,
            End::Close(codes) => conn.expect_close(codes).await?,
        }
        Ok(Verdict::Pass)
    }
}

/// Bytes of a repeatable pseudo-random sequence (xorshift), for binary payloads.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Printable ASCII text of exactly `len` bytes (compressible, like real text).
pub fn text_of(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "alpha ",
        "bravo ",
        "charlie ",
        "delta ",
        "echo ",
        "foxtrot ",
        "golf ",
        "hotel ",
        "india ",
        "juliet ",
        "kilo ",
        "lima ",
        "mike ",
        "november ",
        "oscar ",
        "papa ",
    ];
    let picks = noise(len / 4 + 16, seed);
    let mut out = Vec::with_capacity(len + 16);
    for p in picks {
        if out.len() >= len {
            break;
        }
        out.extend_from_slice(WORDS[(p & 15) as usize].as_bytes());
    }
    while out.len() < len {
        out.push(b'.');
    }
    out.truncate(len);
    out
}

/// A message split into fragments of `size` bytes (at least one fragment).
pub fn fragments(opcode: u8, payload: &[u8], size: usize) -> Vec<Frame> {
    let size = size.max(1);
    let mut frames = Vec::new();
    let mut chunks: Vec<&[u8]> = payload.chunks(size).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.into_iter().enumerate() {
        let op = if i == 0 { opcode } else { crate::client::CONT };
        frames.push(Frame::new(op, chunk.to_vec()).fin(i == last));
    }
    frames
}

/// A message split at the given byte positions.
pub fn split_at(opcode: u8, payload: &[u8], cuts: &[usize]) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut start = 0;
    let mut points: Vec<usize> = cuts.to_vec();
    points.push(payload.len());
    let last = points.len() - 1;
    for (i, end) in points.into_iter().enumerate() {
        let op = if i == 0 { opcode } else { crate::client::CONT };
        frames.push(Frame::new(op, payload[start..end].to_vec()).fin(i == last));
        start = end;
    }
    frames
}

/// Shorthand: a case that runs a script against the echo server.
pub fn scripted(
    id: impl Into<String>,
    desc: impl Into<String>,
    rfc: &'static str,
    script: Script,
) -> Case {
    let s = script.clone();
    let mut case = Case::new(id, desc, rfc, move |env: Env| s.clone().run(env.echo));
    case.script = Some(script);
    case
}

/// The same script on a session of the deflate server that negotiated
/// permessage-deflate: every frame now passes through the extension layer.
pub fn replayed_on_deflate(case: &Case, prefix: &str) -> Option<Case> {
    let script = case.script.clone()?;
    let mut replay = Case::new(
        format!("{prefix}.{}", case.id),
        format!("{} (deflate session)", case.desc),
        case.rfc,
        move |env: Env| {
            let script = script.clone();
            async move {
                let mut conn = Conn::upgrade_deflate(env.deflate, "permessage-deflate").await?;
                if conn.deflate.is_none() {
                    return Err("deflate server declined permessage-deflate".into());
                }
                script.run_on(&mut conn).await
            }
        },
    );
    replay.heavy = case.heavy;
    replay.timeout = case.timeout;
    Some(replay)
}
