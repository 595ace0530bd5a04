//! `WS_MACROS_DEBUG`: print expansions to stderr while compiling.
//!
//! `WS_MACROS_DEBUG=1` (or `all`) prints every expansion; a comma-separated list
//! prints only the expansions of those macros or handlers
//! (`WS_MACROS_DEBUG=install,echo`). Cargo does not rebuild a crate because an
//! environment variable changed: touch the file (or `cargo clean -p your-crate`) first.

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// Prints `tokens` if `WS_MACROS_DEBUG` selects this macro (`macro_name`) or this
/// subject (a handler's name).
pub(crate) fn print(macro_name: &str, subject: &str, tokens: &TokenStream) {
    let Ok(filter) = std::env::var("WS_MACROS_DEBUG") else {
        return;
    };
    let filter = filter.trim();
    let all = matches!(filter, "1" | "true" | "all" | "yes");
    let selected = filter
        .split(',')
        .map(str::trim)
        .any(|f| f == macro_name || (!subject.is_empty() && f == subject));
    if !all && !selected {
        return;
    }
    let mut raw = String::new();
    write_tokens(&mut raw, tokens.clone(), 1);
    // Keep `};`, `},` and `})` together.
    let mut out = String::new();
    for line in raw.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if out.ends_with('}') && trimmed.starts_with([';', ',', ')', '.']) {
            out.push_str(&tighten(trimmed));
        } else {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&tighten(line.trim_end()));
        }
    }
    let title = if subject.is_empty() {
        macro_name.to_string()
    } else {
        format!("{macro_name} `{subject}`")
    };
    eprintln!(
        "---- ws-macros: {title} expands to:\n   {}\n---- end of {title}",
        out.trim_end()
    );
}

/// Keywords after which `::` starts an absolute path rather than continuing one.
const KEYWORDS: &[&str] = &[
    "as", "dyn", "else", "for", "if", "impl", "in", "let", "loop", "match", "move", "mut",
    "return", "where", "while",
];

/// Closes up the spaces `TokenStream::to_string` puts around `::`, `.`, `(`, `?`, `!`
/// (outside string literals).
fn tighten(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let (mut in_string, mut escaped) = (false, false);
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if c != ' ' || out.trim().is_empty() {
            out.push(c);
            continue;
        }
        let next = chars.get(i + 1).copied();
        let after_next = chars.get(i + 2).copied();
        let prev = out.chars().last();
        let word: String = out
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let word: String = word.chars().rev().collect();
        let after_word = !word.is_empty() && !KEYWORDS.contains(&word.as_str())
            || matches!(prev, Some(')' | ']' | '>')) && !out.ends_with("->");
        let drop = matches!(next, Some('.' | ',' | '?' | ')' | ']' | ';'))
            || matches!(prev, Some('.' | '(' | '[' | '#'))
            || (prev == Some('&') && !out.ends_with("&&"))
            || out.ends_with("::")
            || (prev == Some('!') && matches!(next, Some('(' | '[')))
            || (after_word && matches!(next, Some('(' | '[')))
            || (after_word && next == Some(':') && after_next == Some(':'))
            || (after_word
                && next == Some('!')
                && chars
                    .get(i + 3)
                    .is_some_and(|c| matches!(c, '(' | '[' | '{')));
        if !drop {
            out.push(c);
        }
    }
    out
}

/// A readable rendering: a new line after `;` and around braced groups.
fn write_tokens(out: &mut String, tokens: TokenStream, indent: usize) {
    let pad = "    ".repeat(indent);
    for token in tokens {
        match token {
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => {
                let inner = group.stream();
                if inner.is_empty() {
                    out.push_str("{} ");
                    continue;
                }
                out.push_str("{\n");
                out.push_str(&pad);
                out.push_str("    ");
                write_tokens(out, inner, indent + 1);
                while out.ends_with(' ') {
                    out.pop();
                }
                if out.ends_with(&format!("\n{pad}    ")) {
                    out.truncate(out.len() - 4);
                } else {
                    out.push('\n');
                    out.push_str(&pad);
                }
                out.push_str("}\n");
                out.push_str(&pad);
            }
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    _ => ("", ""),
                };
                out.push_str(open);
                write_tokens(out, group.stream(), indent);
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push_str(close);
                out.push(' ');
            }
            TokenTree::Punct(punct) if punct.as_char() == ';' => {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push_str(";\n");
                out.push_str(&pad);
            }
            TokenTree::Punct(punct) => {
                out.push(punct.as_char());
                if punct.spacing() == proc_macro2::Spacing::Alone {
                    out.push(' ');
                }
            }
            other => {
                out.push_str(&other.to_string());
                out.push(' ');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tighten;

    #[test]
    fn tightens_outside_strings() {
        assert_eq!(
            tighten("let x = match :: ws :: f (a , b) . await ? {"),
            "let x = match ::ws::f(a, b).await? {"
        );
        assert_eq!(
            tighten("fn route () -> :: ws :: Route {"),
            "fn route() -> ::ws::Route {"
        );
        assert_eq!(
            tighten("# [doc = \"a (b) :: c\"] format ! (\"{x}\")"),
            "#[doc = \"a (b) :: c\"] format!(\"{x}\")"
        );
        assert_eq!(tighten("if ! done && & mut x"), "if ! done && &mut x");
    }
}
