//! The keys of `install!(app, WebSockets { ... })` and of `Deflate { ... }`: one row
//! per key, read by the macro (which values it accepts, which setter it calls) and by
//! the documentation (the option tables of the README, of `install!` and of the
//! builders, generated from these rows).
//!
//! # Adding a key
//!
//! 1. Add its setter to the runtime builder (`WebSocketOptions` in
//!    `ws-runtime/src/options.rs`, or `Deflate` in `ws-runtime/src/extension/deflate.rs`).
//! 2. Add one row to [`PLUGIN`](Key) or [`DEFLATE`](DeflateKey) below: its variant, name,
//!    [`Rule`], Ktor spelling, default, setter and what it does.
//! 3. `UPDATE_README=1 cargo test -p ws-dsl` rewrites the README's tables from the rows
//!    (`cargo test` fails while they differ).
//!
//! The macro needs no change unless the key needs a [`Rule`] no other key has: then
//! the new `Rule` variant is a compile error in every `match` over rules (there is no
//! catch-all arm) until it is handled.

/// An integer type of a setter's parameter: what a literal must fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntType {
    /// `u8`.
    U8,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `usize` (checked as 64 bits: the macro does not know the target).
    Usize,
}

impl IntType {
    /// The type as Rust spells it.
    pub fn name(self) -> &'static str {
        match self {
            IntType::U8 => "u8",
            IntType::U32 => "u32",
            IntType::U64 => "u64",
            IntType::Usize => "usize",
        }
    }

    /// The largest literal accepted.
    pub fn max(self) -> u128 {
        match self {
            IntType::U8 => u128::from(u8::MAX),
            IntType::U32 => u128::from(u32::MAX),
            IntType::U64 | IntType::Usize => u128::from(u64::MAX),
        }
    }
}

/// The range of a [`Rule::Count`], checked on literals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// The smallest value.
    pub min: u128,
    /// The largest value.
    pub max: u128,
    /// Values with a message of their own, checked before the range.
    pub refused: &'static [(u128, &'static str)],
    /// The message for a value outside `min..=max`; `{found}` is replaced by the value.
    pub outside: &'static str,
}

/// A variant of a [`Rule::Variant`] key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// The variant, as written in `install!` and in Rust.
    pub name: &'static str,
    /// Ktor's spelling, for the hint on a wrong case.
    pub ktor: &'static str,
    /// What it does, for messages.
    pub means: &'static str,
}

/// How a key's value is read and checked. A literal is checked here; any other
/// expression is passed to the setter as written, and the compiler checks its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// A duration: `500ms`, `15s`, `1.5s`, `2m`, `1h`. `zero`: how a literal zero is
    /// refused (the message after the key), or `None` if it is accepted.
    Duration {
        /// The message for `0s`.
        zero: Option<&'static str>,
    },
    /// A size in bytes: `1024`, `1KiB`, `64MiB`, `u64::MAX`.
    Size {
        /// The setter's parameter type.
        ty: IntType,
        /// The message for `0`.
        zero: Option<&'static str>,
    },
    /// A plain number without a unit (frames, a level, window bits).
    Count {
        /// What the number is, for messages ("a number of frames").
        what: &'static str,
        /// The setter's parameter type.
        ty: IntType,
        /// The message for `0`.
        zero: Option<&'static str>,
        /// The accepted range, if narrower than the type's.
        range: Option<Range>,
    },
    /// `true` or `false`.
    Bool {
        /// The message for `true`, if it is refused.
        refuse_true: Option<&'static str>,
    },
    /// Any expression but a literal (a converter, a predicate).
    Expr {
        /// What is expected, for messages ("a converter such as `JsonConverter`").
        expects: &'static str,
    },
    /// A variant of the enum `ws::{ty}`, written bare (`Close`), or an expression.
    Variant {
        /// The enum, a path from the `ws` crate root.
        ty: &'static str,
        /// What a value is called, for messages ("overflow policy").
        what: &'static str,
        /// The variants.
        variants: &'static [Variant],
    },
    /// A list of origins `["https://a.example", ...]`, each checked, or an expression.
    Origins,
    /// A block of extensions, `extensions { Deflate { ... }, MyExtension }`: one setter
    /// call per extension.
    Extensions,
}

/// One row of a key table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// The key as written in the macro.
    pub name: &'static str,
    /// How its value is read.
    pub rule: Rule,
    /// Ktor's spellings (the first one is documented); spellings that are not just a
    /// camelCase form of [`name`](Self::name) get a hint naming this key.
    pub ktor: &'static [&'static str],
    /// The value, for the documentation ("duration").
    pub value: &'static str,
    /// The default, for the documentation.
    pub default: &'static str,
    /// The builder method the macro calls with the value.
    pub setter: &'static str,
    /// What it does, for the documentation.
    pub doc: &'static str,
}

impl KeySpec {
    /// The spellings that get "Ktor's `X` is `key` here" (not plain camelCase forms of
    /// the key, which get a snake_case hint of their own).
    pub fn aliases(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.ktor
            .iter()
            .copied()
            .filter(|spelling| snake_case(spelling) != self.name)
    }
}

/// `pingPeriod` → `ping_period`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A table of keys: [`Key`] or [`DeflateKey`].
pub trait KeyTable: Copy + Ord + 'static {
    /// Every key, in table order (the order of the documentation and of the generated
    /// setter calls).
    const ALL: &'static [Self];

    /// The key's row.
    fn spec(self) -> &'static KeySpec;

    /// The key written `name`, if there is one.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|key| key.spec().name == name)
    }

    /// Every key name, in table order.
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|key| key.spec().name).collect()
    }
}

/// Defines a key enum, its rows in order, and the lookups: the one place a key is
/// written.
macro_rules! key_table {
    (
        $(#[$meta:meta])*
        pub enum $enum:ident in $table:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $spec:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $enum {
            $( $(#[$vmeta])* $variant, )*
        }

        impl KeyTable for $enum {
            const ALL: &'static [$enum] = &[$($enum::$variant),*];

            fn spec(self) -> &'static KeySpec {
                &$table[self as usize]
            }
        }

        /// The rows, in the order of the enum's variants.
        pub static $table: &[KeySpec] = &[$($spec),*];
    };
}

key_table! {
    /// A key of `install!(app, WebSockets { ... })`.
    pub enum Key in PLUGIN {
        /// `ping_period`.
        PingPeriod => KeySpec {
            name: "ping_period",
            rule: Rule::Duration {
                zero: Some("must be greater than zero: to send no pings, leave `ping_period` out"),
            },
            ktor: &["pingPeriod", "pingPeriodMillis", "pingInterval"],
            value: "duration",
            default: "no pings",
            setter: "ping_period",
            doc: "send a Ping this often",
        },
        /// `timeout`.
        Timeout => KeySpec {
            name: "timeout",
            rule: Rule::Duration {
                zero: Some("must be greater than zero: it is how long to wait for a Pong after a Ping, and for the close handshake"),
            },
            ktor: &["timeout", "timeoutMillis"],
            value: "duration",
            default: "15s",
            setter: "timeout",
            doc: "with pings on, no Pong within it closes the session with 1011 \"Ping timeout\"; also how long a close handshake may take",
        },
        /// `max_frame_size`.
        MaxFrameSize => KeySpec {
            name: "max_frame_size",
            rule: Rule::Size {
                ty: IntType::U64,
                zero: Some("must be greater than zero: no message would fit; for no limit write `u64::MAX`"),
            },
            ktor: &["maxFrameSize"],
            value: "size",
            default: "`u64::MAX`",
            setter: "max_frame_size",
            doc: "a larger incoming message (checked on the reassembled message, as Ktor does) closes the session with 1009",
        },
        /// `masking`.
        Masking => KeySpec {
            name: "masking",
            rule: Rule::Bool {
                refuse_true: Some("`masking = true`: a server must not mask the frames it sends (RFC 6455 §5.1); remove the key or write `masking = false`"),
            },
            ktor: &["masking"],
            value: "`false`; `true` is a compile error",
            default: "`false`",
            setter: "masking",
            doc: "a server must not mask its frames (RFC 6455 §5.1)",
        },
        /// `extensions { ... }`.
        Extensions => KeySpec {
            name: "extensions",
            rule: Rule::Extensions,
            ktor: &["extensions"],
            value: "`{ Deflate { .. }, MyExtension { .. } }`",
            default: "none",
            setter: "extension",
            doc: "extensions offered, negotiated in order",
        },
        /// `content_converter`.
        ContentConverter => KeySpec {
            name: "content_converter",
            rule: Rule::Expr {
                expects: "a converter such as `JsonConverter`",
            },
            ktor: &["contentConverter"],
            value: "a converter, such as `JsonConverter`",
            default: "none",
            setter: "content_converter",
            doc: "used by `send_serialized` / `receive_deserialized`",
        },
        /// `max_message_size`.
        MaxMessageSize => KeySpec {
            name: "max_message_size",
            rule: Rule::Size {
                ty: IntType::U64,
                zero: Some("must be greater than zero: no message would fit; for no limit write `u64::MAX`"),
            },
            ktor: &[],
            value: "size",
            default: "64MiB",
            setter: "max_message_size",
            doc: "a larger incoming message, also after inflation, closes the session with 1009",
        },
        /// `outgoing_capacity`.
        OutgoingCapacity => KeySpec {
            name: "outgoing_capacity",
            rule: Rule::Count {
                what: "a number of frames",
                ty: IntType::Usize,
                zero: Some("must be at least 1 frame"),
                range: None,
            },
            ktor: &[],
            value: "frames",
            default: "64",
            setter: "outgoing_capacity",
            doc: "bound of each session's outgoing queue",
        },
        /// `outgoing_capacity_bytes`.
        OutgoingCapacityBytes => KeySpec {
            name: "outgoing_capacity_bytes",
            rule: Rule::Size {
                ty: IntType::Usize,
                zero: Some("must be greater than zero: a frame larger than the bound is queued alone"),
            },
            ktor: &[],
            value: "size",
            default: "4MiB",
            setter: "outgoing_capacity_bytes",
            doc: "bound of each session's outgoing queue in payload bytes, frames being written included",
        },
        /// `outgoing_overflow`.
        OutgoingOverflow => KeySpec {
            name: "outgoing_overflow",
            rule: Rule::Variant {
                ty: "ChannelOverflow",
                what: "overflow policy",
                variants: &[
                    Variant { name: "Suspend", ktor: "SUSPEND", means: "wait for room" },
                    Variant { name: "Close", ktor: "CLOSE", means: "close the session with 1008" },
                ],
            },
            ktor: &[],
            value: "`Suspend` or `Close` (Ktor's `ChannelOverflow`)",
            default: "`Suspend`",
            setter: "outgoing_overflow",
            doc: "what a full outgoing queue does: `send` waits, or the session is closed with 1008",
        },
        /// `incoming_capacity`.
        IncomingCapacity => KeySpec {
            name: "incoming_capacity",
            rule: Rule::Count {
                what: "a number of frames",
                ty: IntType::Usize,
                zero: Some("must be at least 1 frame"),
                range: None,
            },
            ktor: &[],
            value: "frames",
            default: "32",
            setter: "incoming_capacity",
            doc: "frames read ahead of the handler before reading pauses",
        },
        /// `handshake_timeout`.
        HandshakeTimeout => KeySpec {
            name: "handshake_timeout",
            rule: Rule::Duration {
                zero: Some("must be greater than zero"),
            },
            ktor: &[],
            value: "duration",
            default: "10s",
            setter: "handshake_timeout",
            doc: "a request whose headers are not complete by then is cut off",
        },
        /// `idle_timeout`.
        IdleTimeout => KeySpec {
            name: "idle_timeout",
            rule: Rule::Duration {
                zero: Some("must be greater than zero: to turn it off, write `idle_timeout = None`"),
            },
            ktor: &[],
            value: "duration or `None`",
            default: "5m",
            setter: "idle_timeout",
            doc: "no frame either way for this long (pings count) closes the session with 1001",
        },
        /// `max_messages_per_second`.
        MaxMessagesPerSecond => KeySpec {
            name: "max_messages_per_second",
            rule: Rule::Count {
                what: "a number of messages",
                ty: IntType::U32,
                zero: Some("must be at least 1 message: to turn the limit off, leave the key out"),
                range: None,
            },
            ktor: &[],
            value: "messages",
            default: "no limit",
            setter: "max_messages_per_second",
            doc: "more messages per second from a peer (a token bucket of one second's worth) closes the session with 1008",
        },
        /// `allowed_origins`.
        AllowedOrigins => KeySpec {
            name: "allowed_origins",
            rule: Rule::Origins,
            ktor: &[],
            value: "`[\"https://app.example\", \"https://*.app.example\", ..]`, `any`, or an expression",
            default: "the request's own host",
            setter: "allowed_origins",
            doc: "a browser whose `Origin` is neither the host it connected to nor listed gets 403 (`any`: no check, only where sessions carry no cookies or other ambient credentials)",
        },
        /// `read_buffer_size`.
        ReadBufferSize => KeySpec {
            name: "read_buffer_size",
            rule: Rule::Size {
                ty: IntType::Usize,
                zero: Some("must be greater than zero: nothing could be read"),
            },
            ktor: &[],
            value: "size",
            default: "64KiB",
            setter: "read_buffer_size",
            doc: "the most one socket read takes (reads go into a buffer each worker thread shares; 64 KiB is also the largest)",
        },
        /// `write_buffer_size`.
        WriteBufferSize => KeySpec {
            name: "write_buffer_size",
            rule: Rule::Size {
                ty: IntType::Usize,
                zero: None,
            },
            ktor: &[],
            value: "size",
            default: "64KiB",
            setter: "write_buffer_size",
            doc: "encoded bytes gathered before the writer writes without waiting for the end of the batch",
        },
    }
}

key_table! {
    /// A key of `Deflate { ... }` in `install!`'s `extensions { ... }`.
    pub enum DeflateKey in DEFLATE {
        /// `memory`.
        Memory => KeySpec {
            name: "memory",
            rule: Rule::Variant {
                ty: "extension::DeflateMemory",
                what: "deflate memory mode",
                variants: &[
                    Variant { name: "Shared", ktor: "SHARED", means: "one compressor per worker thread" },
                    Variant { name: "Dedicated", ktor: "DEDICATED", means: "a compressor per session" },
                    Variant { name: "Small", ktor: "SMALL", means: "a small compressor per session" },
                ],
            },
            ktor: &[],
            value: "`Shared`, `Dedicated` or `Small`",
            default: "`Shared`",
            setter: "memory",
            doc: "`Shared`: no compressor per session (answers `server_no_context_takeover`), broadcasts compressed once; `Dedicated`: a compressor kept per session, best ratio; `Small`: kept per session with a 2 KiB window",
        },
        /// `compression_level`.
        CompressionLevel => KeySpec {
            name: "compression_level",
            rule: Rule::Count {
                what: "a zlib level from 0 to 9",
                ty: IntType::U32,
                zero: None,
                range: Some(Range {
                    min: 0,
                    max: 9,
                    refused: &[],
                    outside: "`compression_level` is a zlib level from 0 (store) to 9 (smallest), found {found}",
                }),
            },
            ktor: &["compressionLevel"],
            value: "0 to 9",
            default: "6",
            setter: "compression_level",
            doc: "zlib level; level 1 is about twice as fast as 6 on incompressible data",
        },
        /// `compress_if_bigger_than`.
        CompressIfBiggerThan => KeySpec {
            name: "compress_if_bigger_than",
            rule: Rule::Size {
                ty: IntType::Usize,
                zero: None,
            },
            ktor: &["compressIfBiggerThan", "minimalSize"],
            value: "size",
            default: "0",
            setter: "compress_if_bigger_than",
            doc: "smaller messages are sent as they are (framing dominates small messages anyway)",
        },
        /// `compress_if`.
        CompressIf => KeySpec {
            name: "compress_if",
            rule: Rule::Expr {
                expects: "a predicate such as `|frame| frame.len() > 100`",
            },
            ktor: &["compressIf"],
            value: "a predicate on `&Frame`",
            default: "all",
            setter: "compress_if",
            doc: "a frame for which it is `false` is sent uncompressed",
        },
        /// `server_no_context_takeover`.
        ServerNoContextTakeover => KeySpec {
            name: "server_no_context_takeover",
            rule: Rule::Bool { refuse_true: None },
            ktor: &[],
            value: "bool",
            default: "off",
            setter: "server_no_context_takeover",
            doc: "each outgoing message starts with an empty window: worse ratio, no compressor kept between messages",
        },
        /// `client_no_context_takeover`.
        ClientNoContextTakeover => KeySpec {
            name: "client_no_context_takeover",
            rule: Rule::Bool { refuse_true: None },
            ktor: &[],
            value: "bool",
            default: "on (a client: off)",
            setter: "client_no_context_takeover",
            doc: "asks the client to do the same, so no decompressor is kept between messages (one per worker thread inflates)",
        },
        /// `server_max_window_bits`.
        ServerMaxWindowBits => KeySpec {
            name: "server_max_window_bits",
            rule: Rule::Count {
                what: "a number of window bits",
                ty: IntType::U8,
                zero: None,
                range: Some(Range {
                    min: 9,
                    max: 15,
                    refused: &[(8, "`server_max_window_bits` is 9 to 15: RFC 7692 allows 8, but zlib cannot deflate with an 8-bit window")],
                    outside: "`server_max_window_bits` is 9 to 15 (the LZ77 window is 2^bits bytes, RFC 7692 §7.1.2), found {found}",
                }),
            },
            ktor: &[],
            value: "9 to 15",
            default: "15",
            setter: "server_max_window_bits",
            doc: "our window (zlib cannot compress with 8); a client's offer lowers it",
        },
        /// `client_max_window_bits`.
        ClientMaxWindowBits => KeySpec {
            name: "client_max_window_bits",
            rule: Rule::Count {
                what: "a number of window bits",
                ty: IntType::U8,
                zero: None,
                range: Some(Range {
                    min: 8,
                    max: 15,
                    refused: &[],
                    outside: "`client_max_window_bits` is 8 to 15 (the LZ77 window is 2^bits bytes, RFC 7692 §7.1.2), found {found}",
                }),
            },
            ktor: &[],
            value: "8 to 15",
            default: "15",
            setter: "client_max_window_bits",
            doc: "the largest window asked of the client, when it lets us ask",
        },
        /// `max_compressors`.
        MaxCompressors => KeySpec {
            name: "max_compressors",
            rule: Rule::Count {
                what: "a number of compressors",
                ty: IntType::Usize,
                zero: None,
                range: None,
            },
            ktor: &[],
            value: "count",
            default: "unlimited",
            setter: "max_compressors",
            doc: "at most this many sessions hold a compressor at once; the others send uncompressed until one is free",
        },
    }
}

/// Where a generated table's setter links point, for rustdoc.
#[derive(Clone, Copy, Debug)]
pub enum Links {
    /// No links: keys in backticks (the README, `install!`).
    None,
    /// Intra-doc links `[`setter`](PREFIX::setter)`, e.g. `Self` in the builder's docs.
    Setters(&'static str),
}

/// The markdown table of `rows`: `| key | value | default | Ktor | what it does |`
/// (without the Ktor column when no row has a Ktor spelling).
pub fn markdown(rows: &[KeySpec], links: Links) -> String {
    let with_ktor = rows.iter().any(|row| !row.ktor.is_empty());
    let mut out = String::new();
    let first = match links {
        Links::None => "key",
        Links::Setters(_) => "setter",
    };
    if with_ktor {
        out.push_str(&format!(
            "| {first} | value | default | Ktor | what it does |\n|---|---|---|---|---|\n"
        ));
    } else {
        out.push_str(&format!(
            "| {first} | value | default | what it does |\n|---|---|---|---|\n"
        ));
    }
    for row in rows {
        let key = match links {
            Links::None => format!("`{}`", row.name),
            Links::Setters(prefix) => format!("[`{0}`]({prefix}::{0})", row.setter),
        };
        let ktor = row
            .ktor
            .first()
            .map(|k| format!("`{k}`"))
            .unwrap_or_default();
        if with_ktor {
            out.push_str(&format!(
                "| {key} | {} | {} | {ktor} | {} |\n",
                row.value, row.default, row.doc
            ));
        } else {
            out.push_str(&format!(
                "| {key} | {} | {} | {} |\n",
                row.value, row.default, row.doc
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_enums() {
        for (i, key) in Key::ALL.iter().enumerate() {
            assert_eq!(*key as usize, i);
            assert_eq!(Key::from_name(key.spec().name), Some(*key));
        }
        for (i, key) in DeflateKey::ALL.iter().enumerate() {
            assert_eq!(*key as usize, i);
            assert_eq!(DeflateKey::from_name(key.spec().name), Some(*key));
        }
        assert_eq!(PLUGIN.len(), Key::ALL.len());
        assert_eq!(DEFLATE.len(), DeflateKey::ALL.len());
        assert_eq!(Key::from_name("pingPeriod"), None);
    }

    #[test]
    fn setters_and_types_are_rust_paths() {
        let ident = |s: &str| {
            !s.is_empty()
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        for row in PLUGIN.iter().chain(DEFLATE) {
            assert!(ident(row.setter), "{}", row.setter);
            if let Rule::Variant { ty, variants, .. } = row.rule {
                assert!(ty.split("::").all(ident), "{ty}");
                assert!(variants.iter().all(|v| ident(v.name)));
            }
        }
    }

    #[test]
    fn names_are_unique_snake_case() {
        for table in [PLUGIN, DEFLATE] {
            for (i, row) in table.iter().enumerate() {
                assert_eq!(snake_case(row.name), row.name);
                assert!(row.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
                assert!(table[..i].iter().all(|other| other.name != row.name));
            }
        }
    }

    #[test]
    fn aliases_leave_out_camel_case_forms() {
        let ping = Key::PingPeriod.spec();
        assert_eq!(
            ping.aliases().collect::<Vec<_>>(),
            ["pingPeriodMillis", "pingInterval"]
        );
        assert_eq!(Key::ContentConverter.spec().aliases().count(), 0);
    }

    #[test]
    fn markdown_tables() {
        let table = markdown(&PLUGIN[..1], Links::None);
        assert_eq!(
            table,
            "| key | value | default | Ktor | what it does |\n|---|---|---|---|---|\n\
             | `ping_period` | duration | no pings | `pingPeriod` | send a Ping this often |\n"
        );
        let linked = markdown(&DEFLATE[4..5], Links::Setters("Self"));
        assert!(linked.starts_with("| setter | value | default | what it does |"));
        assert!(
            linked.contains("[`server_no_context_takeover`](Self::server_no_context_takeover)")
        );
    }
}
