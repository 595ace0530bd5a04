//! Content converters: `send_serialized` / `receive_deserialized` (Ktor's
//! `contentConverter`).
//!
//! A converter turns a serde data model value into a frame and back; [`JsonConverter`]
//! is built in.

use crate::error::{Error, Result};
use crate::frame::Frame;

/// Converts values to frames and frames to values.
pub trait ContentConverter: Send + Sync + 'static {
    /// Encodes a value as a frame.
    fn serialize(&self, value: serde_json::Value) -> std::result::Result<Frame, String>;
    /// Decodes a data frame into a value.
    fn deserialize(&self, frame: &Frame) -> std::result::Result<serde_json::Value, String>;
}

/// JSON in text frames (Ktor's `KotlinxWebsocketSerializationConverter(Json)`).
///
/// ```
/// use ws_runtime::{ContentConverter, Frame, JsonConverter};
/// let frame = JsonConverter.serialize(serde_json::json!({"n": 1})).unwrap();
/// assert_eq!(frame, Frame::text(r#"{"n":1}"#));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonConverter;

impl ContentConverter for JsonConverter {
    fn serialize(&self, value: serde_json::Value) -> std::result::Result<Frame, String> {
        serde_json::to_string(&value)
            .map(Frame::text)
            .map_err(|e| e.to_string())
    }

    fn deserialize(&self, frame: &Frame) -> std::result::Result<serde_json::Value, String> {
        match frame {
            Frame::Text(text) => serde_json::from_str(text).map_err(|e| e.to_string()),
            Frame::Binary(bytes) => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            other => Err(format!(
                "cannot deserialize a {:?} frame",
                other.frame_type()
            )),
        }
    }
}

pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(
    converter: &dyn ContentConverter,
    frame: &Frame,
) -> Result<T> {
    let value = converter.deserialize(frame).map_err(Error::Convert)?;
    serde_json::from_value(value).map_err(|e| Error::Convert(e.to_string()))
}
