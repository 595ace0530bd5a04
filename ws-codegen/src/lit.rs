//! The value literals of `install!` and `embedded_server!`: durations (`15s`, `500ms`,
//! `1.5s`, `2m`, `1h`), sizes (`1KiB`, `64MiB`, `1024`), counts and small integers.
//!
//! A literal is checked and turned into plain Rust here; any other expression is kept
//! as written, so the setter's parameter type checks it (errors then land on it).

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Lit, UnOp};

use crate::diag::{nearest, one_of};
use crate::paths::Paths;

/// Duration units and their length in nanoseconds.
const DURATION_UNITS: &[(&str, u128)] = &[
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Spellings people try, and the unit they mean.
const DURATION_HINTS: &[(&str, &str)] = &[
    ("sec", "s"),
    ("secs", "s"),
    ("second", "s"),
    ("seconds", "s"),
    ("msec", "ms"),
    ("msecs", "ms"),
    ("millis", "ms"),
    ("milliseconds", "ms"),
    ("min", "m"),
    ("mins", "m"),
    ("minute", "m"),
    ("minutes", "m"),
    ("hr", "h"),
    ("hrs", "h"),
    ("hour", "h"),
    ("hours", "h"),
];

/// Size units and their value in bytes (SI and IEC).
const SIZE_UNITS: &[(&str, u128)] = &[
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// Rust's integer type suffixes: `1024u64` is a plain integer.
const INT_SUFFIXES: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
];

/// A duration: a checked literal, or an expression kept as written.
pub(crate) enum DurationValue {
    /// A literal such as `15s`.
    Const {
        /// Whole seconds.
        secs: u64,
        /// Nanoseconds beyond `secs`.
        nanos: u32,
        /// The literal's span.
        span: Span,
    },
    /// Any other expression (a `Duration`, a constant, ...).
    Expr(Expr),
}

impl DurationValue {
    /// Whether this is a literal zero (`0s`, `0ms`).
    pub(crate) fn is_zero(&self) -> bool {
        matches!(
            self,
            DurationValue::Const {
                secs: 0,
                nanos: 0,
                ..
            }
        )
    }
}

impl DurationValue {
    /// The value as Rust: a literal becomes a `Duration` constructor under `paths`.
    pub(crate) fn tokens(&self, paths: &Paths) -> TokenStream {
        match self {
            DurationValue::Const { secs, nanos, span } => {
                let (secs, nanos) = (*secs, *nanos);
                let duration = paths.duration(*span);
                if nanos == 0 {
                    let secs = Literal::u64_unsuffixed(secs);
                    quote_spanned!(*span=> #duration::from_secs(#secs))
                } else if nanos % 1_000_000 == 0 && secs < u64::MAX / 1000 {
                    let millis =
                        Literal::u64_unsuffixed(secs * 1000 + u64::from(nanos / 1_000_000));
                    quote_spanned!(*span=> #duration::from_millis(#millis))
                } else {
                    let s = Literal::u64_unsuffixed(secs);
                    let n = Literal::u32_unsuffixed(nanos);
                    quote_spanned!(*span=> #duration::new(#s, #n))
                }
            }
            DurationValue::Expr(expr) => expr.to_token_stream(),
        }
    }
}

/// An integer: a checked literal, or an expression kept as written.
pub(crate) enum IntValue {
    /// A literal, after applying its unit.
    Const {
        /// The value.
        value: u128,
        /// The literal token, kept when it carries a Rust type suffix (`1024u64`).
        typed: Option<syn::LitInt>,
        /// The literal's span.
        span: Span,
    },
    /// Any other expression (`u64::MAX`, a constant, ...).
    Expr(Expr),
}

impl IntValue {
    /// The value of a literal.
    pub(crate) fn value(&self) -> Option<u128> {
        match self {
            IntValue::Const { value, .. } => Some(*value),
            IntValue::Expr(_) => None,
        }
    }
}

impl ToTokens for IntValue {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            IntValue::Const {
                typed: Some(lit), ..
            } => lit.to_tokens(tokens),
            IntValue::Const {
                value,
                typed: None,
                span,
            } => {
                let mut lit = Literal::u128_unsuffixed(*value);
                lit.set_span(*span);
                tokens.extend(std::iter::once(proc_macro2::TokenTree::Literal(lit)));
            }
            IntValue::Expr(expr) => expr.to_tokens(tokens),
        }
    }
}

/// A bool: a literal, or an expression kept as written.
pub(crate) enum BoolValue {
    /// `true` or `false`.
    Const(syn::LitBool),
    /// Any other expression.
    Expr(Expr),
}

impl ToTokens for BoolValue {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            BoolValue::Const(lit) => lit.to_tokens(tokens),
            BoolValue::Expr(expr) => expr.to_tokens(tokens),
        }
    }
}

/// Strips the invisible groups `macro_rules!` wraps around `$x:expr`.
pub(crate) fn peel(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(group) => peel(&group.expr),
        other => other,
    }
}

/// What kind of value a literal is, for "found ..." messages.
pub(crate) fn describe(expr: &Expr) -> &'static str {
    match peel(expr) {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Str(_) => "a string",
            Lit::ByteStr(_) | Lit::CStr(_) => "a byte string",
            Lit::Byte(_) => "a byte",
            Lit::Char(_) => "a character",
            Lit::Int(i) if i.suffix().is_empty() => "a plain integer",
            Lit::Int(_) => "an integer",
            Lit::Float(_) => "a number with a fraction",
            Lit::Bool(_) => "a boolean",
            _ => "a literal",
        },
        Expr::Array(_) => "an array",
        Expr::Tuple(_) => "a tuple",
        Expr::Closure(_) => "a closure",
        _ => "an expression",
    }
}

/// A negated literal (`-5s`), which no setting accepts.
fn negative_literal(expr: &Expr) -> Option<&Expr> {
    match peel(expr) {
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => match peel(&unary.expr) {
            Expr::Lit(lit) if matches!(lit.lit, Lit::Int(_) | Lit::Float(_)) => Some(expr),
            _ => None,
        },
        _ => None,
    }
}

/// A suggestion for an unknown unit.
fn unit_hint(unit: &str, units: &[(&str, u128)], hints: &[(&str, &str)]) -> String {
    if let Some((_, ours)) = hints
        .iter()
        .find(|(theirs, _)| theirs.eq_ignore_ascii_case(unit))
    {
        return format!(" (did you mean `{ours}`?)");
    }
    let names: Vec<&str> = units.iter().map(|(name, _)| *name).collect();
    if let Some((name, _)) = units
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
    {
        return format!(" (did you mean `{name}`? units are case-sensitive)");
    }
    match nearest(unit, &names) {
        Some(near) if unit.len() > 1 => format!(" (did you mean `{near}`?)"),
        _ => String::new(),
    }
}

/// Parses `1.5`, `0.25`, `1e3` into digits and a power of ten, exactly.
fn decimal(text: &str) -> Option<(u128, i32)> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: u128 = format!("{int}{frac}").parse().ok()?;
    let scale = exponent.checked_sub(i32::try_from(frac.len()).ok()?)?;
    Some((digits, scale))
}

/// `digits * 10^scale * factor`, truncated, if it fits.
fn scaled(digits: u128, scale: i32, factor: u128) -> Option<u128> {
    let product = digits.checked_mul(factor)?;
    if scale >= 0 {
        product.checked_mul(10u128.checked_pow(u32::try_from(scale).ok()?)?)
    } else {
        let divisor = 10u128.checked_pow(u32::try_from(-scale).ok()?)?;
        Some(product / divisor)
    }
}

/// Reads a duration for `key`.
pub(crate) fn duration(expr: &Expr, key: &str) -> syn::Result<DurationValue> {
    let accepted = "a duration such as `15s`, `500ms`, `1.5s`, `2m` or `1h`";
    if negative_literal(expr).is_some() {
        return Err(syn::Error::new_spanned(
            expr,
            format!("`{key}` cannot be negative: expected {accepted}"),
        ));
    }
    match peel(expr) {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(int) => {
                let suffix = int.suffix();
                if suffix.is_empty() || INT_SUFFIXES.contains(&suffix) {
                    return Err(syn::Error::new(
                        int.span(),
                        format!(
                            "`{key}` needs a unit: write `{0}s` for seconds or `{0}ms` for milliseconds (units: `ms`, `s`, `m`, `h`)",
                            int.base10_digits()
                        ),
                    ));
                }
                let digits: u128 = int
                    .base10_digits()
                    .parse()
                    .map_err(|_| too_large(int.span(), key))?;
                duration_from(digits, 0, suffix, int.span(), key)
            }
            Lit::Float(float) => {
                let suffix = float.suffix();
                if suffix.is_empty() || suffix == "f32" || suffix == "f64" {
                    return Err(syn::Error::new(
                        float.span(),
                        format!(
                            "`{key}` needs a unit: write `{}s` (units: `ms`, `s`, `m`, `h`)",
                            float.base10_digits()
                        ),
                    ));
                }
                let (digits, scale) = decimal(float.base10_digits())
                    .ok_or_else(|| syn::Error::new(float.span(), format!("expected {accepted}")))?;
                duration_from(digits, scale, suffix, float.span(), key)
            }
            _ => Err(syn::Error::new_spanned(
                expr,
                format!("`{key}` expects {accepted}, found {}", describe(expr)),
            )),
        },
        // Ktor's `15.seconds`.
        Expr::Field(field) => match (&*field.base, &field.member) {
            (Expr::Lit(lit), syn::Member::Named(unit)) if matches!(lit.lit, Lit::Int(_)) => {
                Err(ktor_duration(expr, &lit.lit, unit))
            }
            _ => Ok(DurationValue::Expr(expr.clone())),
        },
        Expr::MethodCall(call) if call.args.is_empty() => match &*call.receiver {
            Expr::Lit(lit) if matches!(lit.lit, Lit::Int(_)) => {
                Err(ktor_duration(expr, &lit.lit, &call.method))
            }
            _ => Ok(DurationValue::Expr(expr.clone())),
        },
        _ => Ok(DurationValue::Expr(expr.clone())),
    }
}

fn ktor_duration(expr: &Expr, lit: &Lit, unit: &syn::Ident) -> syn::Error {
    let number = lit.to_token_stream().to_string();
    let ours = DURATION_HINTS
        .iter()
        .find(|(theirs, _)| unit == theirs)
        .map(|(_, ours)| *ours)
        .unwrap_or("s");
    syn::Error::new_spanned(
        expr,
        format!(
            "Ktor's `{number}.{unit}` is written `{number}{ours}` here (units: `ms`, `s`, `m`, `h`)"
        ),
    )
}

fn too_large(span: Span, key: &str) -> syn::Error {
    syn::Error::new(span, format!("the value of `{key}` is too large"))
}

fn duration_from(
    digits: u128,
    scale: i32,
    unit: &str,
    span: Span,
    key: &str,
) -> syn::Result<DurationValue> {
    let Some((_, nanos_per_unit)) = DURATION_UNITS.iter().find(|(name, _)| *name == unit) else {
        let sizes = SIZE_UNITS.iter().any(|(name, _)| *name == unit);
        let why = if sizes {
            format!(" (`{unit}` is a size unit)")
        } else {
            unit_hint(unit, DURATION_UNITS, DURATION_HINTS)
        };
        return Err(syn::Error::new(
            span,
            format!(
                "unknown duration unit `{unit}`{why}: `{key}` takes `ms`, `s`, `m` or `h`, as in `15s` or `500ms`"
            ),
        ));
    };
    let total = scaled(digits, scale, *nanos_per_unit).ok_or_else(|| too_large(span, key))?;
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| too_large(span, key))?;
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| too_large(span, key))?;
    Ok(DurationValue::Const { secs, nanos, span })
}

/// Reads a size in bytes (`1KiB`, `64MiB`, `1024`, `u64::MAX`) for `key`; `max` is the
/// largest value of the setter's type.
pub(crate) fn size(expr: &Expr, key: &str, max: u128, ty: &str) -> syn::Result<IntValue> {
    let accepted = "a size such as `1024`, `1KiB`, `64MiB` or `u64::MAX`";
    if negative_literal(expr).is_some() {
        return Err(syn::Error::new_spanned(
            expr,
            format!("`{key}` cannot be negative: expected {accepted}"),
        ));
    }
    match peel(expr) {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(int) => {
                let suffix = int.suffix();
                let digits: u128 = int
                    .base10_digits()
                    .parse()
                    .map_err(|_| too_large(int.span(), key))?;
                if suffix.is_empty() || INT_SUFFIXES.contains(&suffix) {
                    let typed = (!suffix.is_empty()).then(|| int.clone());
                    return checked_int(digits, typed, int.span(), key, max, ty);
                }
                let Some((_, factor)) = SIZE_UNITS.iter().find(|(name, _)| *name == suffix) else {
                    let why = if DURATION_UNITS.iter().any(|(name, _)| *name == suffix) {
                        format!(" (`{suffix}` is a duration unit)")
                    } else {
                        unit_hint(
                            suffix,
                            SIZE_UNITS,
                            &[("k", "KiB"), ("kb", "KB"), ("m", "MiB"), ("g", "GiB")],
                        )
                    };
                    return Err(syn::Error::new(
                        int.span(),
                        format!(
                            "unknown size unit `{suffix}`{why}: `{key}` takes a number of bytes, plain or with {}",
                            one_of(&SIZE_UNITS.iter().map(|(n, _)| *n).collect::<Vec<_>>())
                        ),
                    ));
                };
                let value = digits
                    .checked_mul(*factor)
                    .ok_or_else(|| too_large(int.span(), key))?;
                checked_int(value, None, int.span(), key, max, ty)
            }
            Lit::Float(float) => Err(syn::Error::new(
                float.span(),
                format!(
                    "`{key}` is a whole number of bytes: expected {accepted}, found a number with a fraction"
                ),
            )),
            _ => Err(syn::Error::new_spanned(
                expr,
                format!("`{key}` expects {accepted}, found {}", describe(expr)),
            )),
        },
        _ => Ok(IntValue::Expr(expr.clone())),
    }
}

/// Reads a plain integer (a count, a level) for `key`: no unit.
pub(crate) fn integer(
    expr: &Expr,
    key: &str,
    what: &str,
    max: u128,
    ty: &str,
) -> syn::Result<IntValue> {
    if negative_literal(expr).is_some() {
        return Err(syn::Error::new_spanned(
            expr,
            format!("`{key}` cannot be negative: expected {what}"),
        ));
    }
    match peel(expr) {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(int) => {
                let suffix = int.suffix();
                if !suffix.is_empty() && !INT_SUFFIXES.contains(&suffix) {
                    return Err(syn::Error::new(
                        int.span(),
                        format!(
                            "`{key}` is {what} and takes no unit: write `{}`",
                            int.base10_digits()
                        ),
                    ));
                }
                let digits: u128 = int
                    .base10_digits()
                    .parse()
                    .map_err(|_| too_large(int.span(), key))?;
                let typed = (!suffix.is_empty()).then(|| int.clone());
                checked_int(digits, typed, int.span(), key, max, ty)
            }
            _ => Err(syn::Error::new_spanned(
                expr,
                format!("`{key}` expects {what}, found {}", describe(expr)),
            )),
        },
        _ => Ok(IntValue::Expr(expr.clone())),
    }
}

fn checked_int(
    value: u128,
    typed: Option<syn::LitInt>,
    span: Span,
    key: &str,
    max: u128,
    ty: &str,
) -> syn::Result<IntValue> {
    if value > max {
        return Err(syn::Error::new(
            span,
            format!("`{key}` is at most `{ty}::MAX` ({max}), found {value}"),
        ));
    }
    Ok(IntValue::Const { value, typed, span })
}

/// Reads a bool for `key`.
pub(crate) fn boolean(expr: &Expr, key: &str) -> syn::Result<BoolValue> {
    match peel(expr) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(BoolValue::Const(b.clone())),
        Expr::Lit(_) | Expr::Array(_) | Expr::Tuple(_) | Expr::Closure(_) => {
            Err(syn::Error::new_spanned(
                expr,
                format!(
                    "`{key}` expects `true` or `false`, found {}",
                    describe(expr)
                ),
            ))
        }
        _ => Ok(BoolValue::Expr(expr.clone())),
    }
}

/// Turns a unit literal (`15s`, `1KiB`) into plain Rust for a setter whose type the
/// macro does not know (a user extension's); other expressions are kept as written.
pub(crate) fn any_value(expr: &Expr, key: &str, paths: &Paths) -> syn::Result<TokenStream> {
    let suffix = match peel(expr) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) => int.suffix().to_string(),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Float(float),
            ..
        }) => float.suffix().to_string(),
        _ => return Ok(expr.to_token_stream()),
    };
    if suffix.is_empty()
        || INT_SUFFIXES.contains(&suffix.as_str())
        || suffix == "f32"
        || suffix == "f64"
    {
        return Ok(expr.to_token_stream());
    }
    if DURATION_UNITS.iter().any(|(name, _)| *name == suffix) {
        return duration(expr, key).map(|d| d.tokens(paths));
    }
    if SIZE_UNITS.iter().any(|(name, _)| *name == suffix) {
        return size(expr, key, u128::from(u64::MAX), "u64").map(|s| s.to_token_stream());
    }
    Err(syn::Error::new(
        expr.span(),
        format!(
            "unknown unit `{suffix}` in `{key}`: durations take `ms`, `s`, `m`, `h`; sizes take {}",
            one_of(&SIZE_UNITS.iter().map(|(n, _)| *n).collect::<Vec<_>>())
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dur(src: &str) -> syn::Result<(u64, u32)> {
        match duration(&syn::parse_str(src).unwrap(), "timeout")? {
            DurationValue::Const { secs, nanos, .. } => Ok((secs, nanos)),
            DurationValue::Expr(_) => Ok((u64::MAX, 0)),
        }
    }

    fn sz(src: &str) -> syn::Result<Option<u128>> {
        size(
            &syn::parse_str(src).unwrap(),
            "max_frame_size",
            u128::from(u64::MAX),
            "u64",
        )
        .map(|v| v.value())
    }

    #[test]
    fn durations() {
        assert_eq!(dur("15s").unwrap(), (15, 0));
        assert_eq!(dur("500ms").unwrap(), (0, 500_000_000));
        assert_eq!(dur("2m").unwrap(), (120, 0));
        assert_eq!(dur("1h").unwrap(), (3600, 0));
        assert_eq!(dur("1.5s").unwrap(), (1, 500_000_000));
        assert_eq!(dur("0.25m").unwrap(), (15, 0));
        assert_eq!(dur("1_000ms").unwrap(), (1, 0));
        assert_eq!(dur("Duration::from_secs(3)").unwrap(), (u64::MAX, 0));
        assert!(dur("15").unwrap_err().to_string().contains("needs a unit"));
        assert!(
            dur("15x")
                .unwrap_err()
                .to_string()
                .starts_with("unknown duration unit `x`: `timeout` takes")
        );
        assert!(
            dur("15secs")
                .unwrap_err()
                .to_string()
                .contains("did you mean `s`?")
        );
        assert!(
            dur("-5s")
                .unwrap_err()
                .to_string()
                .contains("cannot be negative")
        );
        assert!(
            dur("\"15s\"")
                .unwrap_err()
                .to_string()
                .contains("found a string")
        );
        assert!(dur("15.seconds").unwrap_err().to_string().contains("`15s`"));
    }

    #[test]
    fn sizes() {
        assert_eq!(sz("1KiB").unwrap(), Some(1024));
        assert_eq!(sz("64MiB").unwrap(), Some(64 << 20));
        assert_eq!(sz("1KB").unwrap(), Some(1000));
        assert_eq!(sz("1024").unwrap(), Some(1024));
        assert_eq!(sz("1024u64").unwrap(), Some(1024));
        assert_eq!(sz("u64::MAX").unwrap(), None);
        assert!(
            sz("5KiBs")
                .unwrap_err()
                .to_string()
                .contains("did you mean `KiB`?")
        );
        assert!(
            sz("1kib")
                .unwrap_err()
                .to_string()
                .contains("did you mean `KiB`?")
        );
        assert!(
            sz("1.5KiB")
                .unwrap_err()
                .to_string()
                .contains("whole number")
        );
        assert!(
            sz("20000000TiB")
                .unwrap_err()
                .to_string()
                .contains("at most")
        );
    }
}
