//! Diagnostics shared by every macro: collecting errors, "did you mean", Ktor spellings.
//!
//! Every macro collects all the errors of one invocation (`Errors`) and reports them
//! together; a message is lowercase, names things in backticks and says what is
//! accepted.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};

/// The errors of one macro invocation, combined into one `syn::Error`.
#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    /// No errors yet.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records an error at `span`.
    pub(crate) fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error spanning the tokens of `tokens` (first to last token).
    pub(crate) fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error (or several already combined).
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Whether nothing went wrong.
    pub(crate) fn is_empty(&self) -> bool {
        self.combined.is_none()
    }

    /// The messages, in order.
    pub(crate) fn messages(&self) -> Vec<String> {
        self.combined
            .iter()
            .flat_map(|e| e.clone().into_iter().map(|e| e.to_string()))
            .collect()
    }

    /// One `compile_error!` per error, each at its own span (empty when there are none).
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.combined
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }
}

/// Tokens as a user wrote them, roughly: `Duration::from_secs(15)` rather than
/// `Duration :: from_secs (15)`, for messages that quote a value.
pub(crate) fn written(tokens: &impl quote::ToTokens) -> String {
    let mut text = tokens.to_token_stream().to_string();
    for (spaced, tight) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" (", "("),
        ("( ", "("),
        (" )", ")"),
        (" ,", ","),
        (" . ", "."),
        (" [", "["),
        ("[ ", "["),
        (" ]", "]"),
    ] {
        text = text.replace(spaced, tight);
    }
    text
}

/// A type as a user wrote it, roughly: `Path<(String, u32)>`.
pub(crate) fn written_type(ty: &impl quote::ToTokens) -> String {
    let mut text = written(ty);
    for (spaced, tight) in [(" <", "<"), ("< ", "<"), (" >", ">"), ("& ", "&")] {
        text = text.replace(spaced, tight);
    }
    text
}

/// The edit distance between two short names, counting a swap of two neighbouring
/// characters as one edit (`prot` → `port`).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// `pingPeriod` → `ping_period`, `PING_PERIOD` → `ping_period`.
pub(crate) fn to_snake_case(name: &str) -> String {
    if name.chars().any(|c| c.is_ascii_lowercase()) {
        let mut out = String::with_capacity(name.len() + 4);
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 && !out.ends_with('_') {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    } else {
        name.to_ascii_lowercase()
    }
}

/// The valid name closest to `name`, if one is close enough to be a likely typo.
pub(crate) fn nearest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    let snake = to_snake_case(name);
    valid
        .iter()
        .map(|v| {
            let d = distance(&lower, &v.to_ascii_lowercase()).min(distance(&snake, v));
            (d, *v)
        })
        .filter(|(d, v)| *d <= (v.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// `` `a`, `b` or `c` ``.
pub(crate) fn one_of(valid: &[&str]) -> String {
    let quoted: Vec<String> = valid.iter().map(|v| format!("`{v}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The message for an unknown key: the Ktor spelling hint, the nearest valid key, or
/// the list of valid keys. `what` is "key", "option", ...; `ktor` maps further Ktor
/// names (not plain camelCase renames) to ours.
pub(crate) fn unknown_key(what: &str, name: &str, valid: &[&str], ktor: &[(&str, &str)]) -> String {
    if let Some((_, ours)) = ktor.iter().find(|(theirs, _)| *theirs == name) {
        return format!("unknown {what} `{name}`: Ktor's `{name}` is `{ours}` here");
    }
    let snake = to_snake_case(name);
    if snake != name && valid.contains(&snake.as_str()) {
        if name.chars().any(|c| c.is_ascii_lowercase()) {
            return format!(
                "unknown {what} `{name}`: Ktor's `{name}` is spelled `{snake}` here (snake_case)"
            );
        }
        return format!("unknown {what} `{name}`: did you mean `{snake}`? (names are lowercase)");
    }
    match nearest(name, valid) {
        Some(near) => format!("unknown {what} `{name}`: did you mean `{near}`?"),
        None => format!("unknown {what} `{name}`: expected {}", one_of(valid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_of_ktor_names() {
        assert_eq!(to_snake_case("pingPeriod"), "ping_period");
        assert_eq!(to_snake_case("maxFrameSize"), "max_frame_size");
        assert_eq!(to_snake_case("PING_PERIOD"), "ping_period");
        assert_eq!(to_snake_case("timeout"), "timeout");
    }

    #[test]
    fn nearest_key() {
        let keys = ["ping_period", "timeout", "max_frame_size", "masking"];
        assert_eq!(nearest("ping_perod", &keys), Some("ping_period"));
        assert_eq!(nearest("timout", &keys), Some("timeout"));
        assert_eq!(nearest("frobnicate", &keys), None);
        assert_eq!(nearest("Deflat", &["Deflate"]), Some("Deflate"));
        assert_eq!(
            nearest("prot", &["port", "host", "grace_period"]),
            Some("port")
        );
    }

    #[test]
    fn written_values() {
        let expr: syn::Expr = syn::parse_str("Duration::from_secs(15)").unwrap();
        assert_eq!(written(&expr), "Duration::from_secs(15)");
        let expr: syn::Expr = syn::parse_str("[\"a\", b.c()]").unwrap();
        assert_eq!(written(&expr), "[\"a\", b.c()]");
        let ty: syn::Type = syn::parse_str("&Path<(String, Vec<u8>)>").unwrap();
        assert_eq!(written_type(&ty), "&Path<(String, Vec<u8>)>");
    }

    #[test]
    fn unknown_key_messages() {
        let keys = ["ping_period", "timeout"];
        assert_eq!(
            unknown_key("key", "pingPeriod", &keys, &[]),
            "unknown key `pingPeriod`: Ktor's `pingPeriod` is spelled `ping_period` here (snake_case)"
        );
        assert_eq!(
            unknown_key("key", "ping_perod", &keys, &[]),
            "unknown key `ping_perod`: did you mean `ping_period`?"
        );
        assert_eq!(
            unknown_key("key", "zzz", &keys, &[]),
            "unknown key `zzz`: expected `ping_period` or `timeout`"
        );
        assert_eq!(
            unknown_key(
                "key",
                "pingPeriodMillis",
                &keys,
                &[("pingPeriodMillis", "ping_period")]
            ),
            "unknown key `pingPeriodMillis`: Ktor's `pingPeriodMillis` is `ping_period` here"
        );
    }
}
