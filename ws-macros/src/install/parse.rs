//! `install!(app, WebSockets { ... })`: the syntax, then a typed model of the options
//! with every value checked and every span kept.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, Lit, Token};

use crate::diag::{Errors, nearest, unknown_key};
use crate::lit::{self, BoolValue, DurationValue, IntValue, describe, peel};

/// The keys of the `WebSockets` plugin, in the order of DESIGN.md §4 and the builder.
pub(crate) const KEYS: &[&str] = &[
    "ping_period",
    "timeout",
    "max_frame_size",
    "masking",
    "extensions",
    "content_converter",
    "max_message_size",
    "outgoing_capacity",
    "outgoing_overflow",
    "incoming_capacity",
    "handshake_timeout",
    "allowed_origins",
    "read_buffer_size",
    "write_buffer_size",
];

/// Ktor (and other frameworks') names that are more than a camelCase rename.
const KTOR_KEYS: &[(&str, &str)] = &[
    ("pingPeriodMillis", "ping_period"),
    ("timeoutMillis", "timeout"),
    ("pingInterval", "ping_period"),
    ("maxMessageSize", "max_message_size"),
    ("contentConverter", "content_converter"),
];

/// The keys of `Deflate { ... }`.
const DEFLATE_KEYS: &[&str] = &[
    "compression_level",
    "compress_if_bigger_than",
    "compress_if",
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
    "max_compressors",
];

const KTOR_DEFLATE_KEYS: &[(&str, &str)] = &[
    ("compressIfBiggerThan", "compress_if_bigger_than"),
    ("minimalSize", "compress_if_bigger_than"),
];

/// Names people give the built-in deflate extension.
const DEFLATE_SPELLINGS: &[(&str, &str)] = &[
    (
        "WebSocketDeflateExtension",
        "Ktor's `WebSocketDeflateExtension` is `Deflate` here",
    ),
    ("PerMessageDeflate", "permessage-deflate is `Deflate` here"),
    ("permessage_deflate", "permessage-deflate is `Deflate` here"),
    ("Compression", "permessage-deflate is `Deflate` here"),
];

/// A key with its value.
pub(crate) struct Setting<T> {
    /// The key as written (errors and the setter call sit on it).
    pub(crate) key: Ident,
    /// The value as written, for "already set to ..." messages.
    written: String,
    /// The checked value.
    pub(crate) value: T,
}

/// `outgoing_overflow`.
pub(crate) enum Overflow {
    /// `Suspend` or `Close`, spelled as the `ChannelOverflow` variant.
    Variant(Ident),
    /// Any other expression.
    Expr(Expr),
}

/// `allowed_origins`.
pub(crate) enum Origins {
    /// `["https://a.example", ...]`, each checked.
    List(Vec<Expr>),
    /// Any other expression.
    Expr(Expr),
}

/// The keys of the built-in `Deflate` extension.
#[derive(Default)]
pub(crate) struct DeflateOptions {
    pub(crate) compression_level: Option<Setting<IntValue>>,
    pub(crate) compress_if_bigger_than: Option<Setting<IntValue>>,
    pub(crate) compress_if: Option<Setting<Expr>>,
    pub(crate) server_no_context_takeover: Option<Setting<BoolValue>>,
    pub(crate) client_no_context_takeover: Option<Setting<BoolValue>>,
    pub(crate) server_max_window_bits: Option<Setting<IntValue>>,
    pub(crate) client_max_window_bits: Option<Setting<IntValue>>,
    pub(crate) max_compressors: Option<Setting<IntValue>>,
}

/// One entry of `extensions { ... }`.
pub(crate) enum Extension {
    /// The built-in permessage-deflate.
    Deflate {
        /// `Deflate` as written.
        name: Ident,
        /// Its keys.
        options: Box<DeflateOptions>,
    },
    /// A user type: `Default::default()` then one setter call per key.
    User {
        /// The type.
        ty: syn::Path,
        /// `(setter, argument)` in order.
        calls: Vec<(Ident, TokenStream)>,
    },
}

/// The options of the `WebSockets` plugin.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) ping_period: Option<Setting<DurationValue>>,
    pub(crate) timeout: Option<Setting<DurationValue>>,
    pub(crate) max_frame_size: Option<Setting<IntValue>>,
    pub(crate) masking: Option<Setting<BoolValue>>,
    pub(crate) extensions: Option<Setting<Vec<Extension>>>,
    pub(crate) content_converter: Option<Setting<Expr>>,
    pub(crate) max_message_size: Option<Setting<IntValue>>,
    pub(crate) outgoing_capacity: Option<Setting<IntValue>>,
    pub(crate) outgoing_overflow: Option<Setting<Overflow>>,
    pub(crate) incoming_capacity: Option<Setting<IntValue>>,
    pub(crate) handshake_timeout: Option<Setting<DurationValue>>,
    pub(crate) allowed_origins: Option<Setting<Origins>>,
    pub(crate) read_buffer_size: Option<Setting<IntValue>>,
    pub(crate) write_buffer_size: Option<Setting<IntValue>>,
}

/// A whole invocation.
pub(crate) struct Install {
    /// The application expression.
    pub(crate) app: Expr,
    /// The checked options (keys with errors left out).
    pub(crate) options: Options,
}

/// A `key = value` or `key { ... }` entry, before checking.
struct Entry {
    key: Ident,
    value: EntryValue,
}

enum EntryValue {
    Expr(Expr),
    Block(proc_macro2::Group),
    Missing,
}

/// Parses `key = value, key { ... }, ...`.
fn entries(input: ParseStream<'_>) -> syn::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    while !input.is_empty() {
        let key = Ident::parse_any(input)
            .map_err(|e| syn::Error::new(e.span(), "expected a key, as in `ping_period = 15s`"))?;
        let has_eq = input.peek(Token![=]);
        if has_eq {
            input.parse::<Token![=]>()?;
        }
        let block_allowed = !has_eq || key == "extensions";
        let value = if block_allowed && input.cursor().group(Delimiter::Brace).is_some() {
            match input.parse::<TokenTree>()? {
                TokenTree::Group(g) => EntryValue::Block(g),
                _ => EntryValue::Missing,
            }
        } else if has_eq {
            EntryValue::Expr(input.parse().map_err(|e| {
                syn::Error::new(e.span(), format!("expected a value for `{key}`: {e}"))
            })?)
        } else if input.is_empty() || input.peek(Token![,]) {
            EntryValue::Missing
        } else {
            return Err(syn::Error::new(
                input.span(),
                format!("expected `=` after `{key}`, as in `{key} = value`"),
            ));
        };
        entries.push(Entry { key, value });
        if input.is_empty() {
            break;
        }
        input
            .parse::<Token![,]>()
            .map_err(|e| syn::Error::new(e.span(), "expected `,` between entries"))?;
    }
    Ok(entries)
}

/// Records `value` in `slot`, or reports a duplicate key at the second occurrence.
fn set<T>(
    slot: &mut Option<Setting<T>>,
    key: Ident,
    written: String,
    value: T,
    errors: &mut Errors,
) {
    if let Some(first) = slot {
        errors.at(
            key.span(),
            format!(
                "duplicate key `{key}`: it is already set to `{}` above; keep one",
                first.written
            ),
        );
        return;
    }
    *slot = Some(Setting {
        key,
        written,
        value,
    });
}

/// Splits `app, WebSockets { ... }` at the first top-level comma.
fn split_app(tokens: TokenStream) -> (Vec<TokenTree>, Option<Vec<TokenTree>>) {
    let mut app = Vec::new();
    let mut iter = tokens.into_iter();
    for tree in iter.by_ref() {
        if let TokenTree::Punct(p) = &tree
            && p.as_char() == ','
        {
            return (app, Some(iter.collect()));
        }
        app.push(tree);
    }
    (app, None)
}

/// Reads the invocation; `None` when not even the application could be read.
pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Option<Install> {
    let usage = "`install!(app, WebSockets { ping_period = 15s, ... })`";
    let (app_tokens, rest) = split_app(tokens);
    let Some(rest) = rest else {
        let looks_like_plugin = matches!(app_tokens.first(), Some(TokenTree::Ident(i)) if i.to_string().starts_with(char::is_uppercase));
        let span = app_tokens
            .first()
            .map_or_else(Span::call_site, TokenTree::span);
        if looks_like_plugin {
            errors.at(span, format!("missing the application: {usage}, where `app` is the `|app|` of `embedded_server!`"));
        } else {
            errors.at(span, format!("expected {usage}"));
        }
        return None;
    };
    let app: Expr = match syn::parse2(app_tokens.into_iter().collect()) {
        Ok(app) => app,
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                format!("expected the application before the first `,`: {usage}"),
            ));
            return None;
        }
    };
    let mut rest = rest.into_iter().peekable();
    let plugin = match rest.next() {
        Some(TokenTree::Ident(plugin)) => plugin,
        Some(other) => {
            errors.at(
                other.span(),
                format!("expected the plugin `WebSockets`: {usage}"),
            );
            return Some(Install {
                app,
                options: Options::default(),
            });
        }
        None => {
            errors.at(Span::call_site(), format!("missing the plugin: {usage}"));
            return Some(Install {
                app,
                options: Options::default(),
            });
        }
    };
    if plugin != "WebSockets" {
        let message = match nearest(&plugin.to_string(), &["WebSockets"]) {
            Some(_) => format!("unknown plugin `{plugin}`: did you mean `WebSockets`?"),
            None => {
                format!("unknown plugin `{plugin}`: `install!` installs the `WebSockets` plugin")
            }
        };
        errors.at(plugin.span(), message);
        return Some(Install {
            app,
            options: Options::default(),
        });
    }
    let body = match rest.next() {
        None => None,
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => Some(g),
        Some(TokenTree::Punct(p)) if p.as_char() == ',' => None,
        Some(other) => {
            errors.at(
                other.span(),
                "expected `{ key = value, ... }` after `WebSockets`",
            );
            return Some(Install {
                app,
                options: Options::default(),
            });
        }
    };
    match rest.next() {
        None => {}
        Some(TokenTree::Punct(p)) if p.as_char() == ',' && rest.peek().is_none() => {}
        Some(other) => errors.at(
            other.span(),
            format!("unexpected tokens after the plugin: {usage}"),
        ),
    }
    let mut options = Options::default();
    if let Some(body) = body {
        match entries.parse2(body.stream()) {
            Ok(entries) => {
                for entry in entries {
                    option(&mut options, entry, errors);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    Some(Install { app, options })
}

/// The value of an entry that must be `key = value`.
fn expr_value(entry: Entry, errors: &mut Errors) -> Option<(Ident, Expr, String)> {
    match entry.value {
        EntryValue::Expr(expr) => {
            let written = crate::diag::written(&expr);
            Some((entry.key, expr, written))
        }
        EntryValue::Block(block) => {
            errors.at(
                block.span(),
                format!("expected `{} = value`, not a block", entry.key),
            );
            None
        }
        EntryValue::Missing => {
            errors.at(
                entry.key.span(),
                format!("`{0}` needs a value: `{0} = ...`", entry.key),
            );
            None
        }
    }
}

/// Checks one entry into the model.
fn option(options: &mut Options, entry: Entry, errors: &mut Errors) {
    let name = entry.key.to_string();
    if !KEYS.contains(&name.as_str()) {
        errors.at(entry.key.span(), unknown_key("key", &name, KEYS, KTOR_KEYS));
        return;
    }
    if name == "extensions" {
        let key = entry.key;
        match entry.value {
            EntryValue::Block(block) => {
                let list = extensions(block.stream(), errors);
                set(&mut options.extensions, key, "{ ... }".into(), list, errors);
            }
            _ => errors.at(
                key.span(),
                "`extensions` takes a block: `extensions { Deflate { compression_level = 6 } }`",
            ),
        }
        return;
    }
    let Some((key, expr, written)) = expr_value(entry, errors) else {
        return;
    };
    if let Err(e) = checked_option(options, &name, key, &expr, written, errors) {
        errors.push(e);
    }
}

/// Checks the value of one plugin key and records it in the model.
fn checked_option(
    options: &mut Options,
    name: &str,
    key: Ident,
    expr: &Expr,
    written: String,
    errors: &mut Errors,
) -> syn::Result<()> {
    match name {
        "ping_period" | "timeout" | "handshake_timeout" => {
            let value = lit::duration(expr, name)?;
            if value.is_zero() {
                return Err(syn::Error::new_spanned(expr, zero_duration(name)));
            }
            let slot = match name {
                "ping_period" => &mut options.ping_period,
                "timeout" => &mut options.timeout,
                _ => &mut options.handshake_timeout,
            };
            set(slot, key, written, value, errors);
        }
        "max_frame_size" | "max_message_size" | "read_buffer_size" | "write_buffer_size" => {
            let (max, ty) = if name.starts_with("max") {
                (u64::MAX, "u64")
            } else {
                (u64::MAX, "usize")
            };
            let value = lit::size(expr, name, u128::from(max), ty)?;
            if value.value() == Some(0) && name != "write_buffer_size" {
                let why = if name == "read_buffer_size" {
                    "nothing could be read"
                } else {
                    "no message would fit; for no limit write `u64::MAX`"
                };
                return Err(syn::Error::new_spanned(
                    expr,
                    format!("`{name}` must be greater than zero: {why}"),
                ));
            }
            let slot = match name {
                "max_frame_size" => &mut options.max_frame_size,
                "max_message_size" => &mut options.max_message_size,
                "read_buffer_size" => &mut options.read_buffer_size,
                _ => &mut options.write_buffer_size,
            };
            set(slot, key, written, value, errors);
        }
        "outgoing_capacity" | "incoming_capacity" => {
            let value = lit::integer(
                expr,
                name,
                "a number of frames",
                u128::from(u64::MAX),
                "usize",
            )?;
            if value.value() == Some(0) {
                return Err(syn::Error::new_spanned(
                    expr,
                    format!("`{name}` must be at least 1 frame"),
                ));
            }
            let slot = if name == "outgoing_capacity" {
                &mut options.outgoing_capacity
            } else {
                &mut options.incoming_capacity
            };
            set(slot, key, written, value, errors);
        }
        "masking" => {
            let value = lit::boolean(expr, name)?;
            if let BoolValue::Const(b) = &value
                && b.value
            {
                return Err(syn::Error::new(
                    b.span(),
                    "`masking = true`: a server must not mask the frames it sends (RFC 6455 §5.1); remove the key or write `masking = false`",
                ));
            }
            set(&mut options.masking, key, written, value, errors);
        }
        "outgoing_overflow" => {
            let value = overflow(expr)?;
            set(&mut options.outgoing_overflow, key, written, value, errors);
        }
        "allowed_origins" => {
            let value = origins(expr, errors);
            set(&mut options.allowed_origins, key, written, value, errors);
        }
        _ => {
            // content_converter
            if matches!(peel(expr), Expr::Lit(_)) {
                return Err(syn::Error::new_spanned(
                    expr,
                    format!(
                        "`content_converter` expects a converter such as `JsonConverter`, found {}",
                        describe(expr)
                    ),
                ));
            }
            set(
                &mut options.content_converter,
                key,
                written,
                expr.clone(),
                errors,
            );
        }
    }
    Ok(())
}

fn zero_duration(key: &str) -> String {
    match key {
        "ping_period" => "`ping_period` must be greater than zero: to send no pings, leave `ping_period` out".into(),
        "timeout" => "`timeout` must be greater than zero: it is how long to wait for a Pong after a Ping, and for the close handshake".into(),
        _ => format!("`{key}` must be greater than zero"),
    }
}

fn overflow(expr: &Expr) -> syn::Result<Overflow> {
    let accepted = "`Suspend` (wait for room) or `Close` (close the session with 1008)";
    match peel(expr) {
        Expr::Path(path) if path.qself.is_none() && path.path.segments.len() == 1 => {
            let ident = &path.path.segments[0].ident;
            let name = ident.to_string();
            match name.as_str() {
                "Suspend" | "Close" => Ok(Overflow::Variant(ident.clone())),
                _ if name.eq_ignore_ascii_case("suspend") => Err(syn::Error::new(
                    ident.span(),
                    format!(
                        "unknown overflow policy `{name}`: did you mean `Suspend`? (Ktor's `SUSPEND`)"
                    ),
                )),
                _ if name.eq_ignore_ascii_case("close") => Err(syn::Error::new(
                    ident.span(),
                    format!(
                        "unknown overflow policy `{name}`: did you mean `Close`? (Ktor's `CLOSE`)"
                    ),
                )),
                _ => Ok(Overflow::Expr(expr.clone())),
            }
        }
        Expr::Lit(_) => Err(syn::Error::new_spanned(
            expr,
            format!(
                "`outgoing_overflow` expects {accepted}, found {}",
                describe(expr)
            ),
        )),
        _ => Ok(Overflow::Expr(expr.clone())),
    }
}

/// `["https://a.example", ...]`: each literal must be an origin as browsers send it.
fn origins(expr: &Expr, errors: &mut Errors) -> Origins {
    let Expr::Array(array) = peel(expr) else {
        if let Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) = peel(expr)
        {
            errors.at(
                s.span(),
                format!(
                    "`allowed_origins` is a list: write `allowed_origins = [\"{}\"]`",
                    s.value()
                ),
            );
        }
        return Origins::Expr(expr.clone());
    };
    for elem in &array.elems {
        match peel(elem) {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) => {
                if let Err(why) = check_origin(&s.value()) {
                    errors.at(s.span(), why);
                }
            }
            Expr::Lit(_) => errors.spanned(
                elem,
                format!(
                    "an origin is a string such as `\"https://app.example\"`, found {}",
                    describe(elem)
                ),
            ),
            _ => {}
        }
    }
    Origins::List(array.elems.iter().cloned().collect())
}

/// An origin is `scheme://host[:port]` (RFC 6454), as a browser sends it.
fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Err(
            "`*` is not an origin: leave `allowed_origins` out to accept every origin".into(),
        );
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err(format!(
            "`{origin}` is not an origin: expected `scheme://host[:port]`, e.g. `https://app.example`"
        ));
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Err(format!(
            "`{origin}` has no valid scheme: expected `scheme://host[:port]`, e.g. `https://app.example`"
        ));
    }
    if rest.is_empty() {
        return Err(format!(
            "`{origin}` has no host: expected `scheme://host[:port]`"
        ));
    }
    if rest.contains('/') {
        return Err(format!(
            "`{origin}` has a path: an origin is `scheme://host[:port]` without a path or trailing `/` (browsers send `{scheme}://{}`)",
            rest.split('/').next().unwrap_or_default()
        ));
    }
    Ok(())
}

/// Parses `Deflate { ... }, MyExtension { ... }, ...`.
fn extensions(tokens: TokenStream, errors: &mut Errors) -> Vec<Extension> {
    let parsed = (|input: ParseStream<'_>| {
        let mut list: Vec<(syn::Path, Option<proc_macro2::Group>)> = Vec::new();
        while !input.is_empty() {
            let path: syn::Path = input.call(syn::Path::parse_mod_style).map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected an extension, such as `Deflate { compression_level = 6 }`",
                )
            })?;
            let body = if input.cursor().group(Delimiter::Brace).is_some() {
                match input.parse::<TokenTree>()? {
                    TokenTree::Group(g) => Some(g),
                    _ => None,
                }
            } else {
                None
            };
            list.push((path, body));
            if input.is_empty() {
                break;
            }
            input
                .parse::<Token![,]>()
                .map_err(|e| syn::Error::new(e.span(), "expected `,` between extensions"))?;
        }
        Ok(list)
    })
    .parse2(tokens);
    let list = match parsed {
        Ok(list) => list,
        Err(e) => {
            errors.push(e);
            return Vec::new();
        }
    };
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (path, body) in list {
        let written = path.to_token_stream().to_string().replace(' ', "");
        if seen.contains(&written) {
            errors.spanned(
                &path,
                format!("extension `{written}` is listed twice: each extension is negotiated once"),
            );
            continue;
        }
        seen.push(written.clone());
        let entries = match body {
            None => Vec::new(),
            Some(body) => match entries.parse2(body.stream()) {
                Ok(entries) => entries,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            },
        };
        if let Some(ident) = path.get_ident() {
            let name = ident.to_string();
            if name == "Deflate" {
                let mut options = DeflateOptions::default();
                for entry in entries {
                    deflate_option(&mut options, entry, errors);
                }
                out.push(Extension::Deflate {
                    name: ident.clone(),
                    options: Box::new(options),
                });
                continue;
            }
            if let Some((_, hint)) = DEFLATE_SPELLINGS.iter().find(|(n, _)| *n == name) {
                errors.at(
                    ident.span(),
                    format!("unknown extension `{name}`: did you mean `Deflate`? ({hint})"),
                );
                continue;
            }
            if nearest(&name, &["Deflate"]).is_some()
                || name.to_ascii_lowercase().contains("deflate")
            {
                errors.at(
                    ident.span(),
                    format!("unknown extension `{name}`: did you mean `Deflate`?"),
                );
                continue;
            }
            if !name.starts_with(char::is_uppercase) {
                errors.at(
                    ident.span(),
                    format!("unknown extension `{name}`: the built-in extension is `Deflate`; a user extension is a type implementing `ExtensionFactory` and `Default`, written `MyExtension {{ key = value }}`"),
                );
                continue;
            }
        }
        let mut calls: Vec<(Ident, TokenStream)> = Vec::new();
        for entry in entries {
            let Some((key, expr, _)) = expr_value(entry, errors) else {
                continue;
            };
            if calls.iter().any(|(k, _)| *k == key) {
                errors.at(
                    key.span(),
                    format!("duplicate key `{key}` in extension `{written}`; keep one"),
                );
                continue;
            }
            match lit::any_value(&expr, &key.to_string()) {
                Ok(value) => calls.push((key, value)),
                Err(e) => errors.push(e),
            }
        }
        out.push(Extension::User { ty: path, calls });
    }
    out
}

/// Checks one key of `Deflate { ... }`.
fn deflate_option(options: &mut DeflateOptions, entry: Entry, errors: &mut Errors) {
    let name = entry.key.to_string();
    if !DEFLATE_KEYS.contains(&name.as_str()) {
        errors.at(
            entry.key.span(),
            unknown_key("`Deflate` key", &name, DEFLATE_KEYS, KTOR_DEFLATE_KEYS),
        );
        return;
    }
    let Some((key, expr, written)) = expr_value(entry, errors) else {
        return;
    };
    if let Err(e) = checked_deflate_option(options, &name, key, &expr, written, errors) {
        errors.push(e);
    }
}

/// Checks the value of one `Deflate` key and records it in the model.
fn checked_deflate_option(
    options: &mut DeflateOptions,
    name: &str,
    key: Ident,
    expr: &Expr,
    written: String,
    errors: &mut Errors,
) -> syn::Result<()> {
    match name {
        "compression_level" => {
            let value = lit::integer(
                expr,
                name,
                "a zlib level from 0 to 9",
                u128::from(u32::MAX),
                "u32",
            )?;
            if let Some(level) = value.value()
                && level > 9
            {
                return Err(syn::Error::new_spanned(
                    expr,
                    format!(
                        "`compression_level` is a zlib level from 0 (store) to 9 (smallest), found {level}"
                    ),
                ));
            }
            set(&mut options.compression_level, key, written, value, errors);
        }
        "compress_if_bigger_than" => {
            let value = lit::size(expr, name, u128::from(u64::MAX), "usize")?;
            set(
                &mut options.compress_if_bigger_than,
                key,
                written,
                value,
                errors,
            );
        }
        "compress_if" => {
            if matches!(peel(expr), Expr::Lit(_)) {
                return Err(syn::Error::new_spanned(
                    expr,
                    format!(
                        "`compress_if` expects a predicate such as `|frame| frame.len() > 100`, found {}",
                        describe(expr)
                    ),
                ));
            }
            set(&mut options.compress_if, key, written, expr.clone(), errors);
        }
        "max_compressors" => {
            let value = lit::integer(
                expr,
                name,
                "a number of compressors",
                u128::from(u64::MAX),
                "usize",
            )?;
            set(&mut options.max_compressors, key, written, value, errors);
        }
        "server_no_context_takeover" | "client_no_context_takeover" => {
            let value = lit::boolean(expr, name)?;
            let slot = if name.starts_with("server") {
                &mut options.server_no_context_takeover
            } else {
                &mut options.client_no_context_takeover
            };
            set(slot, key, written, value, errors);
        }
        _ => {
            let server = name.starts_with("server");
            let value = lit::integer(
                expr,
                name,
                "a number of window bits",
                u128::from(u8::MAX),
                "u8",
            )?;
            if let Some(bits) = value.value() {
                if server && bits == 8 {
                    return Err(syn::Error::new_spanned(
                        expr,
                        "`server_max_window_bits` is 9 to 15: RFC 7692 allows 8, but zlib cannot deflate with an 8-bit window",
                    ));
                }
                let low = if server { 9 } else { 8 };
                if !(low..=15).contains(&bits) {
                    return Err(syn::Error::new_spanned(
                        expr,
                        format!(
                            "`{name}` is {low} to 15 (the LZ77 window is 2^bits bytes, RFC 7692 §7.1.2), found {bits}"
                        ),
                    ));
                }
            }
            let slot = if server {
                &mut options.server_max_window_bits
            } else {
                &mut options.client_max_window_bits
            };
            set(slot, key, written, value, errors);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_origin;

    #[test]
    fn origins() {
        assert!(check_origin("https://app.example").is_ok());
        assert!(check_origin("http://localhost:8080").is_ok());
        assert!(
            check_origin("https://app.example/")
                .unwrap_err()
                .contains("has a path")
        );
        assert!(check_origin("app.example").is_err());
        assert!(check_origin("*").is_err());
    }
}
