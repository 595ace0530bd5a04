//! A custom WebSocket extension, negotiated and applied like permessage-deflate:
//! `x-crc32` appends a CRC-32 of each message's payload and marks the frame with RSV2.
//! Each side checks the other's messages; a mismatch closes the session with 1007.
//!
//! Run:  cargo run --example custom_extension -- --port 8080
//! Try:  a client must offer `Sec-WebSocket-Extensions: x-crc32`; the integration
//!       tests and the Python interop suite have clients that implement it. Clients
//!       that do not offer it get a plain echo.
//!
//! Wire format (this example's own, both directions): a data message with RSV2 set
//! carries `payload ++ crc32(payload)` (big-endian). Fragmented messages carry the
//! checksum at the end of the last fragment.

// ws-new: template
// ws-new: test /echo "hello"
// ws-new: test-send hello
mod common;

use ws::Rsv;
use ws::extension::{
    DataKind, ExtFrame, Extension, ExtensionError, ExtensionFactory, ExtensionParams,
    IncomingContext, Negotiated,
};
use ws::prelude::*;

/// The extension factory: installed once, negotiated per connection. It has no
/// settings; an extension with settings gives them builder methods, and
/// `install!(app, WebSockets { extensions { Name { key = value } } })` calls them.
#[derive(Default)]
struct Crc32;

impl ExtensionFactory for Crc32 {
    fn name(&self) -> &str {
        "x-crc32"
    }

    fn rsv(&self) -> Rsv {
        Rsv::RSV2
    }

    fn negotiate(&self, offers: &[ExtensionParams]) -> Option<Negotiated> {
        // The extension has no parameters: accept the first offer without any.
        let _offer = offers.iter().find(|o| o.params.is_empty())?;
        Some(Negotiated::new(
            ExtensionParams::new("x-crc32"),
            Crc32Session::default(),
        ))
    }
}

/// Per-session state: the running checksum of the message being received.
#[derive(Default)]
struct Crc32Session {
    /// Bytes of the current incoming message held back: the last four bytes seen so
    /// far, which may be the checksum if this turns out to be the last fragment.
    held: Vec<u8>,
    crc: Crc,
}

impl Extension for Crc32Session {
    fn process_outgoing(&mut self, mut frame: ExtFrame) -> Result<ExtFrame, ExtensionError> {
        let mut payload = frame.payload.to_vec();
        payload.extend_from_slice(&crc32(&frame.payload).to_be_bytes());
        frame.payload = payload.into();
        frame.rsv = frame.rsv | Rsv::RSV2;
        Ok(frame)
    }

    fn process_incoming(
        &mut self,
        mut frame: ExtFrame,
        ctx: &IncomingContext,
    ) -> Result<ExtFrame, ExtensionError> {
        if !ctx.message_rsv.contains(Rsv::RSV2) {
            return Ok(frame);
        }
        if frame.kind != DataKind::Continuation {
            self.held.clear();
            self.crc = Crc::new();
        }
        // Everything but the last four bytes seen so far is message data.
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(&frame.payload);
        let keep = data.len().min(4);
        self.held = data.split_off(data.len() - keep);
        self.crc.update(&data);
        if frame.fin {
            let expected = std::mem::take(&mut self.held);
            let actual = self.crc.finish().to_be_bytes();
            if expected.as_slice() != actual {
                return Err(ExtensionError::InvalidData(
                    "x-crc32 checksum mismatch".into(),
                ));
            }
        }
        frame.payload = data.into();
        frame.rsv = frame.rsv.without(Rsv::RSV2);
        Ok(frame)
    }
}

/// CRC-32 (IEEE 802.3, as zlib's `crc32`), bitwise with a small table.
#[derive(Clone, Copy)]
struct Crc(u32);

impl Default for Crc {
    fn default() -> Self {
        Crc::new()
    }
}

impl Crc {
    fn new() -> Self {
        Crc(0xffff_ffff)
    }

    fn update(&mut self, data: &[u8]) {
        const TABLE: [u32; 16] = {
            let mut table = [0u32; 16];
            let mut i = 0;
            while i < 16 {
                let mut c = i as u32;
                let mut k = 0;
                while k < 4 {
                    c = if c & 1 != 0 {
                        0xedb8_8320 ^ (c >> 1)
                    } else {
                        c >> 1
                    };
                    k += 1;
                }
                table[i] = c;
                i += 1;
            }
            table
        };
        for &byte in data {
            self.0 = TABLE[((self.0 ^ byte as u32) & 0xf) as usize] ^ (self.0 >> 4);
            self.0 = TABLE[((self.0 ^ (byte as u32 >> 4)) & 0xf) as usize] ^ (self.0 >> 4);
        }
    }

    fn finish(self) -> u32 {
        !self.0
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = Crc::new();
    crc.update(data);
    crc.finish()
}

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    for frame in session.incoming {
        session.send(frame).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), ServerError> {
    embedded_server!(port = common::port(), |app| {
        install!(app, WebSockets {
            extensions {
                Crc32 {},
            },
        });
        //+metrics: app.prometheus_route("/metrics");
        routing!(app, echo);
    })
    .start()
    .await
}
