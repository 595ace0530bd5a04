//! `install!(app, WebSockets { ... })`: the syntax, then a typed model of the options
//! with every value checked and every span kept.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, Lit, Token};

use ws_dsl::keys::{DeflateKey, Key, KeySpec, KeyTable, Rule, Variant};

use crate::diag::{Errors, nearest, unknown_key};
use crate::lit::{self, BoolValue, DurationValue, IntValue, describe, peel};
use crate::paths::Paths;

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

/// A key with its checked value.
pub(crate) struct Setting {
    /// The key as written (errors and the setter call sit on it).
    pub(crate) key: Ident,
    /// The value as written, for "already set to ..." messages.
    written: String,
    /// The checked value.
    pub(crate) value: Value,
}

/// A checked value, by the [`Rule`] of its key.
pub(crate) enum Value {
    /// [`Rule::Duration`].
    Duration(DurationValue),
    /// [`Rule::Size`] and [`Rule::Count`].
    Int(IntValue),
    /// [`Rule::Bool`].
    Bool(BoolValue),
    /// [`Rule::Expr`], and the expressions of [`Rule::Variant`].
    Expr(Expr),
    /// [`Rule::Variant`] written bare: `Close`.
    Variant {
        /// The enum, a path from the crate root (`ChannelOverflow`).
        ty: &'static str,
        /// The variant as written.
        variant: Ident,
    },
    /// [`Rule::Origins`].
    Origins(Origins),
    /// [`Rule::Extensions`].
    Extensions(Vec<Extension>),
}

/// `allowed_origins`.
pub(crate) enum Origins {
    /// `any`: every origin (no check).
    Any(Ident),
    /// `["https://a.example", ...]`, each checked.
    List(Vec<Expr>),
    /// Any other expression.
    Expr(Expr),
}

/// The checked keys of one table (the plugin's or `Deflate`'s), each once.
pub(crate) struct Settings<K> {
    entries: Vec<(K, Setting)>,
}

impl<K: KeyTable> Default for Settings<K> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<K: KeyTable> Settings<K> {
    /// Records a setting, or reports a duplicate key at the second occurrence.
    fn set(&mut self, key: K, setting: Setting, errors: &mut Errors) {
        if let Some((_, first)) = self.entries.iter().find(|(k, _)| *k == key) {
            errors.at(
                setting.key.span(),
                format!(
                    "duplicate key `{}`: it is already set to `{}` above; keep one",
                    setting.key, first.written
                ),
            );
            return;
        }
        self.entries.push((key, setting));
    }

    /// The settings in table order (the order of the generated setter calls).
    pub(crate) fn in_table_order(&self) -> Vec<(&'static KeySpec, &Setting)> {
        let mut sorted: Vec<&(K, Setting)> = self.entries.iter().collect();
        sorted.sort_by_key(|(key, _)| *key);
        sorted
            .into_iter()
            .map(|(key, setting)| (key.spec(), setting))
            .collect()
    }
}

/// One entry of `extensions { ... }`.
pub(crate) enum Extension {
    /// The built-in permessage-deflate.
    Deflate {
        /// `Deflate` as written.
        name: Ident,
        /// Its keys.
        options: Settings<DeflateKey>,
    },
    /// A user type: `Default::default()` then one setter call per key.
    User {
        /// The type.
        ty: syn::Path,
        /// `(setter, argument)` in order.
        calls: Vec<(Ident, TokenStream)>,
    },
}

/// A whole invocation.
pub(crate) struct Install {
    /// The application expression.
    pub(crate) app: Expr,
    /// The checked options (keys with errors left out).
    pub(crate) options: Settings<Key>,
    /// Where the generated code finds `ws` (`crate = my_ws`; `::ws` without it).
    pub(crate) paths: Paths,
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

/// Parses `key = value, key { ... }, ...`; `takes_block` says which keys may be
/// written `key = { ... }` too.
fn entries(input: ParseStream<'_>, takes_block: fn(&Ident) -> bool) -> syn::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    while !input.is_empty() {
        let key = Ident::parse_any(input)
            .map_err(|e| syn::Error::new(e.span(), "expected a key, as in `ping_period = 15s`"))?;
        let has_eq = input.peek(Token![=]);
        if has_eq {
            input.parse::<Token![=]>()?;
        }
        let block_allowed = !has_eq || takes_block(&key);
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
    let (paths, tokens) = crate::paths::leading_crate(tokens, errors);
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
        Ok(app) if let Some(e) = crate::paths::check_app(&app) => {
            errors.push(e);
            return None;
        }
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
                options: Settings::default(),
                paths,
            });
        }
        None => {
            errors.at(Span::call_site(), format!("missing the plugin: {usage}"));
            return Some(Install {
                app,
                options: Settings::default(),
                paths,
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
            options: Settings::default(),
            paths,
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
                options: Settings::default(),
                paths,
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
    let mut options = Settings::default();
    if let Some(body) = body {
        let takes_block: fn(&Ident) -> bool = |key| {
            Key::from_name(&key.to_string())
                .is_some_and(|key| matches!(key.spec().rule, Rule::Extensions))
        };
        match (|input: ParseStream<'_>| entries(input, takes_block)).parse2(body.stream()) {
            Ok(entries) => {
                for entry in entries {
                    option(&mut options, entry, "key", &paths, errors);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    Some(Install {
        app,
        options,
        paths,
    })
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

/// Checks one entry of a key table into `settings`: the key must be in the table, the
/// value must follow the key's [`Rule`]. `what` names the keys in messages ("key",
/// "`Deflate` key").
fn option<K: KeyTable>(
    settings: &mut Settings<K>,
    entry: Entry,
    what: &str,
    paths: &Paths,
    errors: &mut Errors,
) {
    let name = entry.key.to_string();
    let Some(table_key) = K::from_name(&name) else {
        let aliases: Vec<(&str, &str)> = K::ALL
            .iter()
            .flat_map(|k| k.spec().aliases().map(|alias| (alias, k.spec().name)))
            .collect();
        errors.at(
            entry.key.span(),
            unknown_key(what, &name, &K::names(), &aliases),
        );
        return;
    };
    let spec = table_key.spec();
    if let Rule::Extensions = spec.rule {
        let key = entry.key;
        match entry.value {
            EntryValue::Block(block) => {
                let list = extensions(block.stream(), paths, errors);
                let setting = Setting {
                    key,
                    written: "{ ... }".into(),
                    value: Value::Extensions(list),
                };
                settings.set(table_key, setting, errors);
            }
            _ => errors.push(takes_a_block(&key)),
        }
        return;
    }
    let Some((key, expr, written)) = expr_value(entry, errors) else {
        return;
    };
    match checked_value(spec, &key, &expr, errors) {
        Ok(value) => settings.set(
            table_key,
            Setting {
                key,
                written,
                value,
            },
            errors,
        ),
        Err(e) => errors.push(e),
    }
}

fn takes_a_block(key: &Ident) -> syn::Error {
    syn::Error::new(
        key.span(),
        format!("`{key}` takes a block: `{key} {{ Deflate {{ compression_level = 6 }} }}`"),
    )
}

/// Checks a value by its key's rule.
fn checked_value(
    spec: &KeySpec,
    key: &Ident,
    expr: &Expr,
    errors: &mut Errors,
) -> syn::Result<Value> {
    let name = spec.name;
    let refuse = |message: String| Err(syn::Error::new_spanned(expr, message));
    match spec.rule {
        Rule::Duration { zero } => {
            let value = lit::duration(expr, name)?;
            if let Some(why) = zero
                && value.is_zero()
            {
                return refuse(format!("`{name}` {why}"));
            }
            Ok(Value::Duration(value))
        }
        Rule::Size { ty, zero } => {
            let value = lit::size(expr, name, ty.max(), ty.name())?;
            if let Some(why) = zero
                && value.value() == Some(0)
            {
                return refuse(format!("`{name}` {why}"));
            }
            Ok(Value::Int(value))
        }
        Rule::Count {
            what,
            ty,
            zero,
            range,
        } => {
            let value = lit::integer(expr, name, what, ty.max(), ty.name())?;
            if let Some(found) = value.value() {
                if let Some(range) = range {
                    if let Some((_, message)) = range.refused.iter().find(|(v, _)| *v == found) {
                        return refuse((*message).to_string());
                    }
                    if !(range.min..=range.max).contains(&found) {
                        return refuse(range.outside.replace("{found}", &found.to_string()));
                    }
                }
                if let Some(why) = zero
                    && found == 0
                {
                    return refuse(format!("`{name}` {why}"));
                }
            }
            Ok(Value::Int(value))
        }
        Rule::Bool { refuse_true } => {
            let value = lit::boolean(expr, name)?;
            if let (Some(message), BoolValue::Const(b)) = (refuse_true, &value)
                && b.value
            {
                return Err(syn::Error::new(b.span(), message));
            }
            Ok(Value::Bool(value))
        }
        Rule::Expr { expects } => {
            if matches!(peel(expr), Expr::Lit(_)) {
                return refuse(format!(
                    "`{name}` expects {expects}, found {}",
                    describe(expr)
                ));
            }
            Ok(Value::Expr(expr.clone()))
        }
        Rule::Variant { ty, what, variants } => variant(expr, name, ty, what, variants),
        Rule::Origins => Ok(Value::Origins(origins(expr, errors))),
        // `key = value` for a block key (`extensions = Deflate`).
        Rule::Extensions => Err(takes_a_block(key)),
    }
}

/// A [`Rule::Variant`] value: a variant written bare, or any other expression.
fn variant(
    expr: &Expr,
    name: &str,
    ty: &'static str,
    what: &str,
    variants: &[Variant],
) -> syn::Result<Value> {
    match peel(expr) {
        Expr::Path(path) if path.qself.is_none() && path.path.segments.len() == 1 => {
            let ident = &path.path.segments[0].ident;
            let written = ident.to_string();
            if variants.iter().any(|v| v.name == written) {
                return Ok(Value::Variant {
                    ty,
                    variant: ident.clone(),
                });
            }
            match variants
                .iter()
                .find(|v| v.name.eq_ignore_ascii_case(&written))
            {
                Some(v) => Err(syn::Error::new(
                    ident.span(),
                    format!(
                        "unknown {what} `{written}`: did you mean `{}`? (Ktor's `{}`)",
                        v.name, v.ktor
                    ),
                )),
                None => Ok(Value::Expr(expr.clone())),
            }
        }
        Expr::Lit(_) => {
            let accepted: Vec<String> = variants
                .iter()
                .map(|v| format!("`{}` ({})", v.name, v.means))
                .collect();
            let accepted = match accepted.as_slice() {
                [init @ .., last] if !init.is_empty() => format!("{} or {last}", init.join(", ")),
                _ => accepted.concat(),
            };
            Err(syn::Error::new_spanned(
                expr,
                format!("`{name}` expects {accepted}, found {}", describe(expr)),
            ))
        }
        _ => Ok(Value::Expr(expr.clone())),
    }
}

/// `["https://a.example", ...]`: each literal must be an origin as browsers send it.
fn origins(expr: &Expr, errors: &mut Errors) -> Origins {
    if let Expr::Path(path) = peel(expr)
        && path.qself.is_none()
        && path.path.is_ident("any")
    {
        return Origins::Any(path.path.segments[0].ident.clone());
    }
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

/// An origin is `scheme://host[:port]` (RFC 6454), as a browser sends it; the grammar
/// is shared with the runtime's start-up check.
fn check_origin(origin: &str) -> Result<(), String> {
    ws_dsl::origin::OriginPattern::parse(origin).map(drop)
}

/// Parses `Deflate { ... }, MyExtension { ... }, ...`.
fn extensions(tokens: TokenStream, paths: &Paths, errors: &mut Errors) -> Vec<Extension> {
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
            Some(body) => {
                match (|input: ParseStream<'_>| entries(input, |_| false)).parse2(body.stream()) {
                    Ok(entries) => entries,
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                }
            }
        };
        if let Some(ident) = path.get_ident() {
            let name = ident.to_string();
            if name == "Deflate" {
                let mut options = Settings::default();
                for entry in entries {
                    option(&mut options, entry, "`Deflate` key", paths, errors);
                }
                out.push(Extension::Deflate {
                    name: ident.clone(),
                    options,
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
            // A key names a setter method: a keyword cannot (`impl = 1` would expand to
            // `.impl(1)`, fuzz finding `macros/keyword-setter`).
            if syn::parse_str::<Ident>(&key.to_string()).is_err() {
                errors.at(
                    key.span(),
                    format!(
                        "`{key}` is a Rust keyword, so no setter of extension `{written}` can be named so; \
                         name the setter otherwise (or write `r#{key}` for a method `r#{key}`)"
                    ),
                );
                continue;
            }
            if calls.iter().any(|(k, _)| *k == key) {
                errors.at(
                    key.span(),
                    format!("duplicate key `{key}` in extension `{written}`; keep one"),
                );
                continue;
            }
            match lit::any_value(&expr, &key.to_string(), paths) {
                Ok(value) => calls.push((key, value)),
                Err(e) => errors.push(e),
            }
        }
        out.push(Extension::User { ty: path, calls });
    }
    out
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
        assert!(
            check_origin("*")
                .unwrap_err()
                .contains("allowed_origins = any")
        );
    }
}
