//! The close handshake (RFC 6455 §7) as one state and one transition function.
//!
//! Every way a connection ends goes through [`CloseState::on`]: the peer's close frame,
//! ours (from the handler, its return, or a shutdown), a failure (a protocol error, a
//! ping timeout), the transport's end, a deadline. The state says what the driver may
//! do: whether it reads, whether data may still be written, which close frame is due.

use std::time::Duration;

use tokio::time::Instant;

use crate::frame::{CloseCode, CloseReason};

/// The longest a close frame waits for the handler's answers to earlier messages.
const ANSWERS_MAX: Duration = Duration::from_secs(1);

/// The longest a failed connection lingers for the peer to read our close frame (the
/// `timeout` option if shorter). A peer still busy sending reads it only when it next
/// reads; dropping the connection earlier would reset it with the frame unread (a
/// Python client compressing a 100 MiB message in its event loop's thread needed more
/// than 2 s on a loaded machine).
const LINGER_MAX: Duration = Duration::from_secs(5);

/// Where the connection is in its life. The two states that carry a close frame keep
/// it boxed: every session holds this state, few ever close that way, and the common
/// states fit in 24 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CloseState {
    /// Frames flow both ways.
    Open,
    /// The peer's close frame arrived. Our reply (echoing its code) waits until the
    /// handler has answered the messages read before it, at most until `due`.
    ReplyDeferred(Box<Deferred>),
    /// Raw sessions: the peer's close frame arrived and went to the handler, which
    /// sends the reply itself.
    PeerClosed { deadline: Instant },
    /// Both close frames are sent or received; ours is being written. The connection
    /// ends once it is.
    Replied { deadline: Instant },
    /// Our close frame is sent; we wait for the peer's.
    Closing { deadline: Instant },
    /// The connection failed. Our close frame goes out at `due` (the handler may answer
    /// the messages read before the bad input first); `sent` once it is queued.
    Failing(Box<Failure>),
    /// After a failure: our close frame is written and our side half-closed; input is
    /// read and discarded until the peer closes or the deadline passes.
    Draining { deadline: Instant },
    /// The connection is gone.
    Done,
}

/// [`CloseState::ReplyDeferred`]: our reply to the peer's close, waiting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Deferred {
    reply: Option<CloseReason>,
    due: Instant,
    deadline: Instant,
}

/// [`CloseState::Failing`]: the close frame failing the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    reason: CloseReason,
    due: Instant,
    sent: bool,
    deadline: Instant,
}

/// What happened to the connection.
#[derive(Clone, Debug)]
pub(crate) enum CloseEvent {
    /// The peer's close frame arrived (`None`: it had no status code).
    PeerClose(Option<CloseReason>),
    /// Our close frame was queued for writing.
    LocalClose,
    /// The connection must fail with this reason; with `answers`, the handler may
    /// answer the messages read before the failure first.
    Fail { reason: CloseReason, answers: bool },
    /// Everything queued has been written to the transport.
    Written,
    /// The transport ended (EOF, reset, write error) or the handler terminated it.
    Gone,
    /// The clock, for deadlines.
    Tick(Instant),
}

/// What the driver must do after a transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CloseAction {
    /// Nothing more.
    None,
    /// Half-close the transport (our close frame is out).
    ShutdownWrite,
    /// Drop the transport: the connection is over.
    Finish,
}

/// What a session's close behaviour depends on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CloseConfig {
    /// The close handshake timeout (the `timeout` option).
    pub(crate) timeout: Duration,
    /// Raw sessions answer close frames themselves.
    pub(crate) raw: bool,
}

impl CloseState {
    /// Applies one event; returns what the driver must do about it.
    pub(crate) fn on(&mut self, event: CloseEvent, config: CloseConfig) -> CloseAction {
        use CloseEvent as E;
        use CloseState as S;
        let now = || Instant::now();
        match (&*self, event) {
            (S::Done, _) => CloseAction::None,
            (_, E::Gone) => self.finish(),
            (S::Open, E::PeerClose(reason)) => {
                let now = now();
                let deadline = now + config.timeout;
                *self = if config.raw {
                    S::PeerClosed { deadline }
                } else {
                    S::ReplyDeferred(Box::new(Deferred {
                        reply: reason,
                        due: now + config.timeout.min(ANSWERS_MAX),
                        deadline,
                    }))
                };
                CloseAction::None
            }
            (S::Open, E::LocalClose) => {
                *self = S::Closing {
                    deadline: now() + config.timeout,
                };
                CloseAction::None
            }
            (S::ReplyDeferred(deferred), E::LocalClose) => {
                *self = S::Replied {
                    deadline: deferred.deadline,
                };
                CloseAction::None
            }
            (S::PeerClosed { deadline }, E::LocalClose) => {
                *self = S::Replied {
                    deadline: *deadline,
                };
                CloseAction::None
            }
            (S::Closing { deadline }, E::PeerClose(_)) => {
                // The handshake is complete once our close frame is out.
                *self = S::Replied {
                    deadline: *deadline,
                };
                CloseAction::None
            }
            (S::Replied { .. }, E::Written) => self.finish(),
            (S::Open | S::ReplyDeferred(_) | S::PeerClosed { .. }, E::Fail { reason, answers }) => {
                let now = now();
                *self = S::Failing(Box::new(Failure {
                    reason,
                    due: if answers {
                        now + config.timeout.min(ANSWERS_MAX)
                    } else {
                        now
                    },
                    sent: false,
                    deadline: now + config.timeout.min(LINGER_MAX),
                }));
                CloseAction::None
            }
            (S::Closing { .. } | S::Replied { .. }, E::Fail { .. }) => {
                // Our close frame is already out: no second one, just linger.
                *self = S::Draining {
                    deadline: now() + config.timeout.min(LINGER_MAX),
                };
                CloseAction::ShutdownWrite
            }
            (S::Failing(failure), E::Written) if failure.sent => {
                *self = S::Draining {
                    deadline: failure.deadline,
                };
                CloseAction::ShutdownWrite
            }
            (S::Failing(_), E::LocalClose) => {
                if let S::Failing(failure) = self {
                    failure.sent = true;
                }
                CloseAction::None
            }
            (_, E::Tick(now)) => match self.deadline() {
                Some(deadline) if now >= deadline => {
                    tracing::debug!("close handshake timed out; dropping the connection");
                    self.finish()
                }
                _ => CloseAction::None,
            },
            // Anything else changes nothing: a second close, a write while open, ...
            _ => CloseAction::None,
        }
    }

    fn finish(&mut self) -> CloseAction {
        *self = CloseState::Done;
        CloseAction::Finish
    }

    /// Whether the connection is gone.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self, CloseState::Done)
    }

    /// Whether frames are still read and delivered.
    pub(crate) fn reads(&self) -> bool {
        matches!(self, CloseState::Open | CloseState::Closing { .. })
    }

    /// Whether input is read only to be discarded.
    pub(crate) fn drains(&self) -> bool {
        matches!(self, CloseState::Draining { .. })
    }

    /// Whether the handler's data frames may still be written.
    pub(crate) fn writes_data(&self) -> bool {
        self.may_close()
    }

    /// Whether control frames of our own (pongs, pings) may be written.
    pub(crate) fn writes_control(&self) -> bool {
        matches!(self, CloseState::Open | CloseState::PeerClosed { .. })
    }

    /// Whether a close frame of ours may still be written.
    pub(crate) fn may_close(&self) -> bool {
        match self {
            CloseState::Open | CloseState::ReplyDeferred(_) | CloseState::PeerClosed { .. } => true,
            CloseState::Failing(failure) => !failure.sent,
            _ => false,
        }
    }

    /// The close frame that is waiting, with the instant it is due, if any: our reply
    /// to the peer's close (echoing its code and reason, RFC 6455 §5.5.1), or the frame
    /// failing the connection. Whatever close the handler queues meanwhile, this is the
    /// one sent.
    pub(crate) fn pending_frame(&self) -> Option<(Option<CloseReason>, Instant)> {
        match self {
            CloseState::ReplyDeferred(deferred) => Some((deferred.reply.clone(), deferred.due)),
            CloseState::Failing(failure) if !failure.sent => {
                Some((Some(failure.reason.clone()), failure.due))
            }
            _ => None,
        }
    }

    /// The instant the connection is dropped at, whatever happens.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            CloseState::ReplyDeferred(deferred) => Some(deferred.deadline),
            CloseState::Failing(failure) => Some(failure.deadline),
            CloseState::PeerClosed { deadline }
            | CloseState::Replied { deadline }
            | CloseState::Closing { deadline }
            | CloseState::Draining { deadline } => Some(*deadline),
            CloseState::Open | CloseState::Done => None,
        }
    }
}

/// The reason `close_reason()` reports for a peer's close frame.
pub(crate) fn peer_reason(peer: Option<&CloseReason>) -> CloseReason {
    peer.cloned()
        .unwrap_or_else(|| CloseReason::new(CloseCode::NO_STATUS, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: CloseConfig = CloseConfig {
        timeout: Duration::from_secs(5),
        raw: false,
    };

    #[test]
    fn a_clean_close_started_by_us() {
        let mut state = CloseState::Open;
        assert_eq!(state.on(CloseEvent::LocalClose, CONFIG), CloseAction::None);
        assert!(matches!(state, CloseState::Closing { .. }));
        assert!(state.reads() && !state.writes_data());
        state.on(CloseEvent::PeerClose(None), CONFIG);
        assert_eq!(state.on(CloseEvent::Written, CONFIG), CloseAction::Finish);
        assert!(state.is_done());
    }

    #[test]
    fn a_clean_close_started_by_the_peer_defers_the_reply() {
        let mut state = CloseState::Open;
        let reason = CloseReason::new(CloseCode::GOING_AWAY, "bye");
        state.on(CloseEvent::PeerClose(Some(reason.clone())), CONFIG);
        let (reply, _) = state.pending_frame().unwrap();
        assert_eq!(reply, Some(reason));
        assert!(state.writes_data() && !state.reads());
        state.on(CloseEvent::LocalClose, CONFIG);
        assert!(state.pending_frame().is_none());
        assert_eq!(state.on(CloseEvent::Written, CONFIG), CloseAction::Finish);
    }

    #[test]
    fn a_failure_sends_its_frame_then_half_closes_and_drains() {
        let mut state = CloseState::Open;
        let reason = CloseReason::new(CloseCode::PROTOCOL_ERROR, "bad");
        state.on(
            CloseEvent::Fail {
                reason: reason.clone(),
                answers: false,
            },
            CONFIG,
        );
        assert_eq!(state.pending_frame().unwrap().0, Some(reason));
        state.on(CloseEvent::LocalClose, CONFIG);
        assert_eq!(
            state.on(CloseEvent::Written, CONFIG),
            CloseAction::ShutdownWrite
        );
        assert!(state.drains());
        assert_eq!(state.on(CloseEvent::Gone, CONFIG), CloseAction::Finish);
    }

    #[test]
    fn deadlines_end_every_state() {
        let later = Instant::now() + Duration::from_secs(60);
        for mut state in [
            CloseState::Closing {
                deadline: Instant::now(),
            },
            CloseState::Draining {
                deadline: Instant::now(),
            },
        ] {
            assert_eq!(
                state.on(CloseEvent::Tick(later), CONFIG),
                CloseAction::Finish
            );
        }
        let mut open = CloseState::Open;
        assert_eq!(open.on(CloseEvent::Tick(later), CONFIG), CloseAction::None);
    }
}
