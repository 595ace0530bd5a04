//! The cases, grouped like Autobahn|Testsuite's sections.

mod close;
mod deflate;
mod fragmentation;
mod framing;
mod handshake;
mod limits;
mod masking;
mod pings;
mod reserved;
mod utf8;

use crate::case::{self, Case};

/// Section number and title, in report order.
pub const SECTIONS: [(&str, &str); 13] = [
    ("1", "Framing"),
    ("2", "Pings and pongs"),
    ("3", "Reserved bits"),
    ("4", "Reserved opcodes"),
    ("5", "Fragmentation"),
    ("6", "UTF-8 handling"),
    ("7", "Close handshake"),
    ("9", "Large messages and limits"),
    ("10", "Masking"),
    ("11", "Opening handshake"),
    ("12", "permessage-deflate messages"),
    ("13", "permessage-deflate negotiation"),
    ("14", "Sections 1-10 on a deflate session"),
];

/// Every case, in section order.
pub fn all() -> Vec<Case> {
    let mut out = Vec::new();
    out.extend(framing::cases());
    out.extend(pings::cases());
    out.extend(reserved::rsv_cases());
    out.extend(reserved::opcode_cases());
    out.extend(fragmentation::cases());
    out.extend(utf8::cases());
    out.extend(close::cases());
    out.extend(limits::cases());
    out.extend(masking::cases());
    out.extend(handshake::cases());
    out.extend(deflate::message_cases());
    out.extend(deflate::negotiation_cases());
    // 14: the scripted cases of sections 1-10 again, on sessions that negotiated
    // permessage-deflate, where every frame goes through the extension layer instead
    // of straight to tungstenite. Section 3 is left out: there RSV1 means "compressed".
    let replays: Vec<Case> = out
        .iter()
        .filter(|c| {
            let section = c.id.split('.').next().unwrap_or_default();
            matches!(section, "1" | "2" | "4" | "5" | "6" | "7" | "9" | "10") && !c.heavy
        })
        .filter_map(|c| case::replayed_on_deflate(c, "14"))
        .collect();
    out.extend(replays);
    out
}
