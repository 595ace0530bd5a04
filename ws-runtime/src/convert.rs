//! Content converters: `send_serialized` / `receive_deserialized` (Ktor's
//! `contentConverter`), and the extension point for formats of one's own.
//!
//! The trait, the built-in converters, and the conversion of values and frames.

use crate::error::{ConvertError, Error, Result};
use crate::frame::Frame;

/// Converts values to frames and frames to values: the extension point of
/// `send_serialized` and `receive_deserialized`.
///
/// A converter turns a value of serde's data model into a frame and back, through
/// [`serde_json::Value`] (which keeps the trait object-safe, so the application holds
/// one `Arc<dyn ContentConverter>`): [`JsonConverter`] is built in,
/// `MessagePackConverter` comes with the `msgpack` feature. Any other format is a type
/// implementing [`ContentConverter`], installed with `content_converter = MyFormat` in
/// `install!` (or [`WebSocketOptions::content_converter`](crate::WebSocketOptions::content_converter)).
///
/// A frame that does not convert gives `Err(Error::Convert(e))` from
/// `receive_deserialized`: a handler can answer it ([`ConvertError::frame`] is the
/// frame that failed) and go on receiving; propagated with `?`, it ends the handler and
/// the session closes with 1011 like any handler error.
///
/// ```
/// use ws_runtime::{ContentConverter, Frame};
///
/// /// Values as `key=value` lines (a toy format: flat objects of strings).
/// struct Lines;
///
/// impl ContentConverter for Lines {
///     fn serialize(&self, value: serde_json::Value) -> Result<Frame, String> {
///         let object = value.as_object().ok_or("a flat object")?;
///         let mut out = String::new();
///         for (k, v) in object {
///             out.push_str(&format!("{k}={}\n", v.as_str().ok_or("string values")?));
///         }
///         Ok(Frame::text(out))
///     }
///
///     fn deserialize(&self, frame: &Frame) -> Result<serde_json::Value, String> {
///         let Frame::Text(text) = frame else {
///             return Err("lines come in text frames".into());
///         };
///         let mut object = serde_json::Map::new();
///         for line in text.lines() {
///             let (k, v) = line.split_once('=').ok_or("a line without `=`")?;
///             object.insert(k.into(), v.into());
///         }
///         Ok(object.into())
///     }
/// }
///
/// let frame = Lines.serialize(serde_json::json!({"name": "ada"})).unwrap();
/// assert_eq!(frame, Frame::text("name=ada\n"));
/// assert_eq!(Lines.deserialize(&frame).unwrap(), serde_json::json!({"name": "ada"}));
/// ```
///
/// Values pass through [`serde_json::Value`]: a format whose data model is wider than
/// JSON's (MessagePack's binary strings, CBOR's tags) sees them as JSON would (byte
/// arrays as arrays of numbers). Errors are plain text; `receive_deserialized` wraps
/// them in a [`ConvertError`] with the frame.
pub trait ContentConverter: Send + Sync + 'static {
    /// Encodes a value as a frame.
    fn serialize(&self, value: serde_json::Value) -> std::result::Result<Frame, String>;
    /// Decodes a data frame into a value.
    fn deserialize(&self, frame: &Frame) -> std::result::Result<serde_json::Value, String>;
}

/// JSON in text frames (Ktor's `KotlinxWebsocketSerializationConverter(Json)`); a
/// binary frame is read as JSON too.
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

/// MessagePack in binary frames (feature `msgpack`), with `rmp-serde`: structs as maps
/// with their field names, so that any MessagePack peer (`@msgpack/msgpack`,
/// Python's `msgpack`) reads them. A text frame is refused.
///
/// ```
/// use ws_runtime::{ContentConverter, Frame, MessagePackConverter};
/// let frame = MessagePackConverter.serialize(serde_json::json!({"n": 1})).unwrap();
/// // fixmap of 1, fixstr "n", positive fixint 1.
/// assert_eq!(frame, Frame::binary(vec![0x81, 0xa1, b'n', 0x01]));
/// assert_eq!(MessagePackConverter.deserialize(&frame).unwrap(), serde_json::json!({"n": 1}));
/// ```
#[cfg(feature = "msgpack")]
#[derive(Clone, Copy, Debug, Default)]
pub struct MessagePackConverter;

#[cfg(feature = "msgpack")]
impl ContentConverter for MessagePackConverter {
    fn serialize(&self, value: serde_json::Value) -> std::result::Result<Frame, String> {
        rmp_serde::to_vec_named(&value)
            .map(Frame::binary)
            .map_err(|e| e.to_string())
    }

    fn deserialize(&self, frame: &Frame) -> std::result::Result<serde_json::Value, String> {
        match frame {
            Frame::Binary(bytes) => rmp_serde::from_slice(bytes).map_err(|e| e.to_string()),
            other => Err(format!(
                "MessagePack comes in binary frames, not in a {:?} frame",
                other.frame_type()
            )),
        }
    }
}

/// `value` as a frame, with the converter.
pub(crate) fn serialize<T: serde::Serialize + ?Sized>(
    converter: &dyn ContentConverter,
    value: &T,
) -> Result<Frame> {
    let value = serde_json::to_value(value)
        .map_err(|e| Error::Convert(ConvertError::new(e.to_string())))?;
    converter
        .serialize(value)
        .map_err(|e| Error::Convert(ConvertError::new(e)))
}

/// A received frame as a `T`, with the converter; the frame comes back in the error.
pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(
    converter: &dyn ContentConverter,
    frame: Frame,
) -> Result<T> {
    let value = match converter.deserialize(&frame) {
        Ok(value) => value,
        Err(e) => return Err(Error::Convert(ConvertError::with_frame(e, frame))),
    };
    serde_json::from_value(value)
        .map_err(|e| Error::Convert(ConvertError::with_frame(e.to_string(), frame)))
}
