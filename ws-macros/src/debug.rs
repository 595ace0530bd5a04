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
            out.push_str(trimmed);
        } else {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line.trim_end());
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
