//! The client side of permessage-deflate (RFC 7692): judging the server's
//! negotiation response against the offer, compressing what the client sends and
//! inflating what the server sends, with the agreed windows and context takeover.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::client::Response;

/// The parameters in force after a valid negotiation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreed {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    /// The server's compression window (15 if the response did not limit it).
    pub server_max_window_bits: u8,
    /// The window the client may use (15 unless the response limited it).
    pub client_max_window_bits: u8,
    /// Whether the response named `server_max_window_bits` at all.
    pub server_bits_named: bool,
    /// Whether the response named `client_max_window_bits` at all.
    pub client_bits_named: bool,
}

/// One element of an extensions header: name and parameters (quotes removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub params: Vec<(String, Option<String>)>,
}

impl Element {
    fn get(&self, name: &str) -> Option<&Option<String>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1) into its elements.
pub fn parse_elements(header: &str) -> Result<Vec<Element>, String> {
    let mut out = Vec::new();
    for element in split_outside_quotes(header, ',') {
        if element.trim().is_empty() {
            continue;
        }
        let mut parts = split_outside_quotes(&element, ';').into_iter();
        let name = parts.next().unwrap_or_default().trim().to_string();
        if name.is_empty() || !is_token(&name) {
            return Err(format!("bad extension name {name:?}"));
        }
        let mut params = Vec::new();
        for p in parts {
            let (n, v) = match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(unquote(v.trim()))),
                None => (p.trim(), None),
            };
            if !is_token(n) {
                return Err(format!("bad parameter name {n:?} in {element:?}"));
            }
            params.push((n.to_string(), v));
        }
        out.push(Element { name, params });
    }
    Ok(out)
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in s.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c == sep && !quoted {
            out.push(String::new());
        } else {
            out.last_mut().expect("non-empty").push(c);
        }
    }
    out
}

fn unquote(v: &str) -> String {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
        .replace('\\', "")
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A window-bits value: 1*DIGIT without leading zero, 8..=15 (RFC 7692 §7.1.2).
fn bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|b| (8..=15).contains(b))
}

/// Whether an offer is one a server may accept: known parameters, each once, with
/// well-formed values (RFC 7692 §7.1).
fn offer_is_valid(offer: &Element) -> bool {
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in &offer.params {
        let lower = name.to_ascii_lowercase();
        if seen.contains(&lower) {
            return false;
        }
        let ok = match lower.as_str() {
            "server_no_context_takeover" | "client_no_context_takeover" => value.is_none(),
            "server_max_window_bits" => value.as_deref().and_then(bits).is_some(),
            "client_max_window_bits" => value.as_deref().is_none_or(|v| bits(v).is_some()),
            _ => false,
        };
        if !ok {
            return false;
        }
        seen.push(lower);
    }
    true
}

/// Checks the response element itself (RFC 7692 §7.1): known parameters, each once,
/// well-formed values; returns the parameters in force.
fn response_params(resp: &Element) -> Result<Agreed, String> {
    let mut agreed = Agreed {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
        server_bits_named: false,
        client_bits_named: false,
    };
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in &resp.params {
        let lower = name.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(format!("response repeats {name} (RFC 7692 §7)"));
        }
        seen.push(lower.clone());
        match lower.as_str() {
            "server_no_context_takeover" | "client_no_context_takeover" => {
                if value.is_some() {
                    return Err(format!("response gives {name} a value (RFC 7692 §7.1.1)"));
                }
                if lower.starts_with("server") {
                    agreed.server_no_context_takeover = true;
                } else {
                    agreed.client_no_context_takeover = true;
                }
            }
            "server_max_window_bits" | "client_max_window_bits" => {
                let Some(b) = value.as_deref().and_then(bits) else {
                    return Err(format!(
                        "response has {name}={value:?}, not a value 8..15 (RFC 7692 §7.1.2)"
                    ));
                };
                if lower.starts_with("server") {
                    agreed.server_max_window_bits = b;
                    agreed.server_bits_named = true;
                } else {
                    agreed.client_max_window_bits = b;
                    agreed.client_bits_named = true;
                }
            }
            _ => {
                return Err(format!(
                    "response has unknown parameter {name} (RFC 7692 §7)"
                ));
            }
        }
    }
    Ok(agreed)
}

/// Whether accepting `offer` with `resp` is legal (RFC 7692 §7.1.1, §7.1.2).
fn consistent(offer: &Element, resp: &Agreed) -> Result<(), String> {
    if offer.has("server_no_context_takeover") && !resp.server_no_context_takeover {
        return Err("offer has server_no_context_takeover, response lacks it (§7.1.1.1)".into());
    }
    if let Some(Some(v)) = offer.get("server_max_window_bits") {
        let limit = bits(v).unwrap_or(15);
        if !resp.server_bits_named || resp.server_max_window_bits > limit {
            return Err(format!(
                "offer limits server_max_window_bits to {limit}, response does not (§7.1.2.1)"
            ));
        }
    }
    if resp.client_bits_named {
        match offer.get("client_max_window_bits") {
            None => {
                return Err(
                    "response has client_max_window_bits the offer did not have (§7.1.2.2)".into(),
                );
            }
            Some(Some(v)) if resp.client_max_window_bits > bits(v).unwrap_or(15) => {
                return Err(
                    "response raises client_max_window_bits above the offer (§7.1.2.2)".into(),
                );
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Judges the server's `Sec-WebSocket-Extensions` against what the client offered:
/// `None` if deflate was declined, the agreed parameters if it was accepted legally,
/// an error if the response is one RFC 6455 §9.1 / RFC 7692 §7 forbid.
pub fn check_response(offer_header: &str, response: &Response) -> Result<Option<Agreed>, String> {
    let values = response.all("sec-websocket-extensions");
    if values.is_empty() {
        return Ok(None);
    }
    let offered = parse_elements(offer_header).unwrap_or_default();
    let elements = parse_elements(&values.join(","))
        .map_err(|e| format!("unparsable Sec-WebSocket-Extensions response: {e}"))?;
    let mut agreed = None;
    for element in &elements {
        if !offered
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(&element.name))
        {
            return Err(format!(
                "server accepted extension {:?}, which was not offered (RFC 6455 §9.1)",
                element.name
            ));
        }
        if !element.name.eq_ignore_ascii_case("permessage-deflate") {
            return Err(format!(
                "server accepted unknown extension {:?}",
                element.name
            ));
        }
        if agreed.is_some() {
            return Err("response names permessage-deflate twice (RFC 7692 §5)".into());
        }
        let params = response_params(element)?;
        let candidates: Vec<&Element> = offered
            .iter()
            .filter(|o| o.name.eq_ignore_ascii_case("permessage-deflate") && offer_is_valid(o))
            .collect();
        if candidates.is_empty() {
            return Err("server accepted permessage-deflate, but no offer was valid".into());
        }
        let mut reasons = Vec::new();
        if !candidates.iter().any(|o| match consistent(o, &params) {
            Ok(()) => true,
            Err(e) => {
                reasons.push(e);
                false
            }
        }) {
            return Err(format!(
                "response {:?} fits no offer: {}",
                values.join(","),
                reasons.join("; ")
            ));
        }
        agreed = Some(params);
    }
    Ok(agreed)
}

/// The sync-flush tail that senders strip and receivers restore (RFC 7692 §7.2.1).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compression state of one client connection.
pub struct DeflateClient {
    pub agreed: Agreed,
    compressor: Option<Compress>,
    decompressor: Option<Decompress>,
}

impl DeflateClient {
    pub fn new(agreed: Agreed) -> DeflateClient {
        DeflateClient {
            agreed,
            compressor: None,
            decompressor: None,
        }
    }

    /// Compresses one message as RFC 7692 §7.2.1 says: deflate, sync flush, strip
    /// the tail; the window and context takeover are the ones we agreed to.
    pub fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        let bits = self.agreed.client_max_window_bits;
        let compressor = self.compressor.get_or_insert_with(|| new_compressor(bits));
        let mut out = run_compress(compressor, data, FlushCompress::Sync);
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - 4);
        }
        if self.agreed.client_no_context_takeover {
            self.compressor = None;
        }
        out
    }

    /// Compresses one message as a complete deflate stream ending in a BFINAL block
    /// (RFC 7692 §7.2.3.4 allows it); each such message uses a fresh compressor.
    pub fn compress_final(&mut self, data: &[u8]) -> Vec<u8> {
        let mut compressor = new_compressor(self.agreed.client_max_window_bits);
        run_compress(&mut compressor, data, FlushCompress::Finish)
    }

    /// Inflates one message from the server (tail restored, RFC 7692 §7.2.2), with
    /// the server's window and a fresh inflater per message if the server promised
    /// no context takeover: so a server that breaks its promise fails here.
    pub fn inflate_message(&mut self, data: &[u8]) -> Result<Vec<u8>, String> {
        let bits = self.agreed.server_max_window_bits.max(9);
        let decompressor = self
            .decompressor
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let mut out = Vec::with_capacity(data.len() * 4 + 64);
        let mut ended = false;
        for chunk in [data, &TAIL[..]] {
            let start = decompressor.total_in();
            loop {
                let used = (decompressor.total_in() - start) as usize;
                if ended || (used == chunk.len() && out.len() < out.capacity()) {
                    break;
                }
                let status = decompressor
                    .decompress_vec(&chunk[used..], &mut out, FlushDecompress::Sync)
                    .map_err(|e| format!("server sent corrupt deflate data: {e}"))?;
                if status == Status::StreamEnd {
                    ended = true;
                }
                if out.len() == out.capacity() {
                    out.reserve(out.capacity().max(4096));
                } else if (decompressor.total_in() - start) as usize == used && !ended {
                    break;
                }
            }
        }
        if ended || self.agreed.server_no_context_takeover {
            self.decompressor = None;
        }
        Ok(out)
    }
}

fn new_compressor(bits: u8) -> Compress {
    if bits < 9 {
        // zlib cannot deflate with a 256-byte window; stored blocks reference nothing,
        // so they keep any window promise.
        Compress::new_with_window_bits(Compression::none(), false, 9)
    } else {
        Compress::new_with_window_bits(Compression::new(6), false, bits)
    }
}

fn run_compress(compressor: &mut Compress, data: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 128);
    let start = compressor.total_in();
    loop {
        let used = (compressor.total_in() - start) as usize;
        let before = out.len();
        let status = compressor
            .compress_vec(&data[used..], &mut out, flush)
            .expect("deflate does not fail on valid input");
        let used_now = (compressor.total_in() - start) as usize;
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            _ => used_now == data.len() && out.len() < out.capacity(),
        };
        if done {
            return out;
        }
        if out.len() == out.capacity() || (out.len() == before && used_now == used) {
            out.reserve(out.capacity().max(4096));
        }
    }
}

/// A raw deflate stream that inflates to `mib` MiB of zeros, built cheaply: one
/// MiB compressed with a sync flush ends byte-aligned on an empty stored block and
/// refers only to bytes it produced (zeros), so copies of it can follow each other.
/// The tail of the last copy is stripped, as a sender does.
pub fn zero_bomb(mib: usize) -> Vec<u8> {
    let mut compressor = Compress::new(Compression::best(), false);
    let unit = run_compress(&mut compressor, &vec![0u8; 1 << 20], FlushCompress::Sync);
    let mut out = Vec::with_capacity(unit.len() * mib);
    for _ in 0..mib {
        out.extend_from_slice(&unit);
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - 4);
    }
    out
}
