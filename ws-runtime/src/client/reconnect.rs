//! Reconnecting with a jittered, growing backoff, and the hook called on each
//! reconnect.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use super::ClientError;
use crate::frame::{CloseCode, CloseReason};

/// How [`Client::web_socket_reconnecting`](super::Client::web_socket_reconnecting)
/// waits between sessions, how often it tries, and what it tells you.
///
/// The `n`th attempt in a row waits a random time between half and all of
/// `min_delay × 2ⁿ⁻¹`, capped at `max_delay` (so clients that lost the same server
/// at once do not come back at once); a session that opened resets the count.
///
/// ```
/// use std::time::Duration;
/// use ws::client::{Reconnect, ReconnectCause};
///
/// let reconnect = Reconnect::new()
///     .min_delay(Duration::from_millis(200))
///     .max_delay(Duration::from_secs(30))
///     .max_attempts(10)
///     .on_reconnect(|attempt| {
///         let why = match attempt.cause {
///             ReconnectCause::Failed(error) => error.to_string(),
///             ReconnectCause::Closed(reason) => format!("closed: {reason:?}"),
///         };
///         eprintln!("reconnect #{} in {:?} ({why})", attempt.attempt, attempt.delay);
///     });
/// # let _ = reconnect;
/// ```
pub struct Reconnect {
    min_delay: Duration,
    max_delay: Duration,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) hook: Option<Hook>,
}

pub(crate) type Hook = Box<dyn FnMut(&ReconnectAttempt<'_>) + Send>;

impl Default for Reconnect {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnect")
            .field("min_delay", &self.min_delay)
            .field("max_delay", &self.max_delay)
            .field("max_attempts", &self.max_attempts)
            .field("on_reconnect", &self.hook.is_some())
            .finish()
    }
}

impl Reconnect {
    /// 100 ms doubling up to 30 s, with no limit on attempts and no hook.
    pub fn new() -> Self {
        Self {
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
            hook: None,
        }
    }

    /// The first wait's upper bound (100 ms).
    pub fn min_delay(mut self, delay: Duration) -> Self {
        self.min_delay = delay;
        self
    }

    /// The longest wait (30 s).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Gives up after this many attempts in a row that opened no session, returning
    /// the last attempt's error (no limit by default). 0: never reconnect.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Calls `hook` before each wait, with the attempt's number, the wait and why.
    pub fn on_reconnect(
        mut self,
        hook: impl FnMut(&ReconnectAttempt<'_>) + Send + 'static,
    ) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// The wait before the `attempt`th attempt in a row (from 1).
    pub(crate) fn delay(&self, attempt: u32, jitter: &mut Jitter) -> Duration {
        let doubling = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
        let ceiling = self
            .min_delay
            .saturating_mul(doubling)
            .min(self.max_delay.max(self.min_delay));
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(jitter.next() % spread.saturating_add(1))
    }
}

/// One reconnect, as the [`Reconnect::on_reconnect`] hook sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReconnectAttempt<'a> {
    /// Attempts in a row so far, this one included (1 after a session ended).
    pub attempt: u32,
    /// How long it waits before connecting.
    pub delay: Duration,
    /// What ended the last session or attempt.
    pub cause: ReconnectCause<'a>,
}

/// Why a reconnect happens.
#[derive(Debug)]
pub enum ReconnectCause<'a> {
    /// The last attempt could not connect.
    Failed(&'a ClientError),
    /// The last session ended so: its close reason, `None` if the connection was
    /// lost without a close frame.
    Closed(Option<&'a CloseReason>),
}

/// Whether a session that ended with this close reason is worth reconnecting.
pub(crate) fn reconnects(reason: Option<&CloseReason>) -> bool {
    let Some(reason) = reason else {
        return true;
    };
    [
        CloseCode::GOING_AWAY,
        CloseCode::CLOSED_ABNORMALLY,
        CloseCode::INTERNAL_ERROR,
        CloseCode::SERVICE_RESTART,
        CloseCode::TRY_AGAIN_LATER,
        CloseCode::new(1014),
    ]
    .contains(&reason.code())
}

/// Whether a failed attempt may succeed later.
pub(crate) fn retryable(error: &ClientError) -> bool {
    match error {
        ClientError::Io(_) | ClientError::Timeout(_) | ClientError::Http(_) => true,
        ClientError::Handshake(e) => {
            let status = e.status();
            status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS
        }
        _ => false,
    }
}

/// A random 64-bit value: SipHash of a counter under the standard library's random
/// per-process keys. For nonces and jitter, not for secrets.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// The jitter's random numbers (xorshift64*).
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Self {
        Self(random_u64() | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_with_jitter_in_the_upper_half() {
        let reconnect = Reconnect::new()
            .min_delay(Duration::from_millis(100))
            .max_delay(Duration::from_secs(2));
        let mut jitter = Jitter::new();
        for attempt in 1..40 {
            let ceiling = Duration::from_millis(100)
                .saturating_mul(2u32.saturating_pow(attempt - 1))
                .min(Duration::from_secs(2));
            let mut seen = std::collections::HashSet::new();
            for _ in 0..50 {
                let d = reconnect.delay(attempt, &mut jitter);
                assert!(d >= ceiling / 2 && d <= ceiling, "{attempt}: {d:?}");
                seen.insert(d);
            }
            assert!(seen.len() > 10, "jittered: {seen:?}");
        }
    }

    #[test]
    fn which_ends_reconnect() {
        assert!(reconnects(None));
        for code in [1001, 1006, 1011, 1012, 1013, 1014] {
            assert!(reconnects(Some(&CloseReason::new(code, ""))), "{code}");
        }
        for code in [1000, 1002, 1003, 1007, 1008, 1009, 4000] {
            assert!(!reconnects(Some(&CloseReason::new(code, ""))), "{code}");
        }
    }
}
