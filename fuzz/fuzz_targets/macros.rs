//! Arbitrary token streams into the macros' expanders (`ws_codegen`: what
//! `#[web_socket]`, `#[web_socket_raw]`, `install!`, `routing!` and `embedded_server!`
//! do, over `proc_macro2` token streams, here in proc-macro2's fallback mode: no
//! compiler, spans without locations).
//!
//! Input layout: `[selector, text..]`. `selector & 0x7f`: `w` `#[web_socket]`, `r`
//! `#[web_socket_raw]`, `i` `install!`, `o` `routing!`, `e` `embedded_server!`, any
//! other value `% 5` in that order; bit 7 (`0x80`) sets `WS_MACROS_DEBUG=1` for the
//! call, so the expansion printer runs too (its output is thrown away). The text is the
//! rest as UTF-8 (lossy); for the attributes, a NUL splits it into the attribute's
//! arguments and the item (no NUL: all of it is the arguments, the item a plain
//! handler). Text that does not lex as Rust tokens is skipped.
//!
//! Checks, beyond "no panic":
//! - the expansion, printed, lexes again;
//! - it parses as what the macro's call site needs: items for an attribute (when the
//!   item was a function at all: otherwise it is given back as it came, after the
//!   error), an expression for the function-like macros;
//! - an invocation that [`verdict`] finds invalid (its own reading of each macro's
//!   grammar and documented rules: the structure, the keys and options, duplicates, the
//!   route path, the handler's signature) expands to a `compile_error!` (inputs that
//!   name `compile_error` themselves are not judged: it may be echoed).
//!
//! `WS_FUZZ_SHOW=1` prints each invocation, the verdict and the expansion.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Lit, Token};
use ws_codegen::web_socket::Kind;

static SHOW: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("WS_FUZZ_SHOW").is_some());

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Macro {
    WebSocket,
    WebSocketRaw,
    Install,
    Routing,
    EmbeddedServer,
}

impl Macro {
    fn from_selector(b: u8) -> Self {
        const ALL: [Macro; 5] = [
            Macro::WebSocket,
            Macro::WebSocketRaw,
            Macro::Install,
            Macro::Routing,
            Macro::EmbeddedServer,
        ];
        match b & 0x7f {
            b'w' => Macro::WebSocket,
            b'r' => Macro::WebSocketRaw,
            b'i' => Macro::Install,
            b'o' => Macro::Routing,
            b'e' => Macro::EmbeddedServer,
            other => ALL[usize::from(other) % 5],
        }
    }
}

/// How many `compile_error` identifiers a stream holds, at any depth.
fn compile_errors(tokens: &TokenStream) -> usize {
    tokens
        .clone()
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Ident(ident) if ident == "compile_error" => 1,
            TokenTree::Group(group) => compile_errors(&group.stream()),
            _ => 0,
        })
        .sum()
}

// ----- the oracle: what is surely invalid -----

/// `Some(reason)`: the invocation breaks a rule of its macro, so it must give a
/// `compile_error!`; `None`: valid, or not judged (values the oracle does not check).
type Verdict = Option<String>;

fn invalid(reason: impl Into<String>) -> Verdict {
    Some(reason.into())
}

/// Strips a leading `crate = PATH,` (as the function-like macros take it); an invalid
/// one is a verdict.
fn leading_crate(tokens: TokenStream) -> Result<TokenStream, String> {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    // `crate =&x` too (`=` joint), but not `crate == x` or `crate => x`.
    let starts = match trees.as_slice() {
        [TokenTree::Ident(k), TokenTree::Punct(eq), next @ ..]
            if k == "crate" && eq.as_char() == '=' =>
        {
            eq.spacing() == proc_macro2::Spacing::Alone
                || !matches!(next.first(), Some(TokenTree::Punct(p)) if matches!(p.as_char(), '=' | '>'))
        }
        _ => false,
    };
    if !starts {
        return Ok(tokens);
    }
    let comma = trees
        .iter()
        .position(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ','));
    let (value, rest) = match comma {
        Some(i) => (&trees[2..i], &trees[i + 1..]),
        None => (&trees[2..], &[][..]),
    };
    let value: TokenStream = value.iter().cloned().collect();
    if !valid_crate_path(value) {
        return Err("`crate = ...` is not a path".into());
    }
    Ok(rest.iter().cloned().collect())
}

/// `crate = my_ws` / `crate = ::a::b` / `crate = "a::b"`: a path without arguments.
fn valid_crate_path(value: TokenStream) -> bool {
    let path = match syn::parse2::<Expr>(value) {
        Ok(Expr::Path(p)) if p.qself.is_none() && p.attrs.is_empty() => p.path,
        Ok(Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        })) => match s.parse::<syn::Path>() {
            Ok(path) => path,
            Err(_) => return false,
        },
        _ => return false,
    };
    path.segments
        .iter()
        .all(|s| matches!(s.arguments, syn::PathArguments::None))
}

/// Splits `install!`'s settings at the commas that end an entry. A comma inside a
/// closure's parameters (`|a, b| ..`) or a turbofish (`f::<A, B>()`) is in no group,
/// so the entry is split at every top-level comma first; then an entry whose
/// `key = value` does not parse takes the next pieces while that makes it parse, as an
/// expression parser reads on past such a comma (fuzz finding of the oracle itself:
/// `timeout = 1x||struc,t|| g = false` is one entry whose value is a closure).
fn split_entries(tokens: TokenStream) -> Vec<TokenStream> {
    let mut pieces = vec![TokenStream::new()];
    for tree in tokens {
        match &tree {
            TokenTree::Punct(p) if p.as_char() == ',' => pieces.push(TokenStream::new()),
            _ => pieces.last_mut().expect("a piece").extend([tree]),
        }
    }
    let value_parses = |entry: &TokenStream| {
        let trees: Vec<TokenTree> = entry.clone().into_iter().collect();
        match trees.as_slice() {
            [TokenTree::Ident(_), TokenTree::Punct(eq), value @ ..] if eq.as_char() == '=' => {
                syn::parse2::<Expr>(value.iter().cloned().collect()).is_ok()
            }
            _ => true,
        }
    };
    let mut entries = Vec::new();
    let mut i = 0;
    while i < pieces.len() {
        let mut entry = pieces[i].clone();
        let mut used = 1;
        if !value_parses(&entry) {
            let mut merged = entry.clone();
            for (k, next) in pieces[i + 1..].iter().enumerate() {
                merged.extend([TokenTree::Punct(proc_macro2::Punct::new(
                    ',',
                    proc_macro2::Spacing::Alone,
                ))]);
                merged.extend(next.clone());
                if value_parses(&merged) {
                    entry = merged;
                    used = k + 2;
                    break;
                }
            }
        }
        entries.push(entry);
        i += used;
    }
    entries
}

/// `install!([crate = PATH,] app, WebSockets [{ key = value | extensions { .. }, .. }] [,])`:
/// the app an expression; only keys of ws-dsl's `PLUGIN` table, each once and with a
/// value; `extensions` a block.
fn install_verdict(tokens: TokenStream) -> Verdict {
    let tokens = match leading_crate(tokens) {
        Ok(t) => t,
        Err(e) => return invalid(e),
    };
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let Some(comma) = trees
        .iter()
        .position(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ','))
    else {
        return invalid("no `app,`");
    };
    if syn::parse2::<Expr>(trees[..comma].iter().cloned().collect()).is_err() {
        return invalid("the app is not an expression");
    }
    let body = match &trees[comma + 1..] {
        [TokenTree::Ident(p)] if p == "WebSockets" => None,
        [TokenTree::Ident(p), TokenTree::Punct(c)] if p == "WebSockets" && c.as_char() == ',' => {
            None
        }
        [TokenTree::Ident(p), TokenTree::Group(g)]
            if p == "WebSockets" && g.delimiter() == Delimiter::Brace =>
        {
            Some(g.stream())
        }
        [
            TokenTree::Ident(p),
            TokenTree::Group(g),
            TokenTree::Punct(c),
        ] if p == "WebSockets" && g.delimiter() == Delimiter::Brace && c.as_char() == ',' => {
            Some(g.stream())
        }
        _ => return invalid("not `WebSockets { ... }` after the app"),
    };
    let body = body?;
    let mut seen: Vec<String> = Vec::new();
    let parts = split_entries(body);
    let last = parts.len() - 1;
    for (i, part) in parts.into_iter().enumerate() {
        let entry: Vec<TokenTree> = part.into_iter().collect();
        if entry.is_empty() {
            if i == last {
                continue; // a trailing comma, or an empty body
            }
            return invalid("an empty entry");
        }
        let TokenTree::Ident(key) = &entry[0] else {
            return invalid("an entry that does not start with a key");
        };
        let key = key.to_string();
        let key = key.strip_prefix("r#").unwrap_or(&key).to_owned();
        use ws_dsl::keys::KeyTable;
        let Some(spec) = ws_dsl::keys::Key::from_name(&key).map(|k| k.spec()) else {
            return invalid(format!("unknown key `{key}`"));
        };
        if seen.contains(&key) {
            return invalid(format!("`{key}` twice"));
        }
        seen.push(key.clone());
        let is_block =
            |t: &TokenTree| matches!(t, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace);
        // `=`, alone or joined to what follows (`=!x` is `= !x`), but not `==` or `=>`.
        let eq = |t: &TokenTree| matches!(t, TokenTree::Punct(p) if p.as_char() == '=');
        let joined_op = |e: &TokenTree, value: &[TokenTree]| {
            matches!(e, TokenTree::Punct(p) if p.spacing() == proc_macro2::Spacing::Joint)
                && matches!(value.first(), Some(TokenTree::Punct(p)) if matches!(p.as_char(), '=' | '>'))
        };
        match (&spec.rule, &entry[1..]) {
            (ws_dsl::keys::Rule::Extensions, [block]) if is_block(block) => {}
            (ws_dsl::keys::Rule::Extensions, [e, block]) if eq(e) && is_block(block) => {}
            (ws_dsl::keys::Rule::Extensions, _) => return invalid("`extensions` without a block"),
            (_, [e, value @ ..]) if eq(e) && !value.is_empty() && !joined_op(e, value) => {
                if syn::parse2::<Expr>(value.iter().cloned().collect()).is_err() {
                    return invalid(format!("the value of `{key}` is not an expression"));
                }
                if matches!(spec.rule, ws_dsl::keys::Rule::Expr { .. })
                    && matches!(
                        syn::parse2::<Expr>(value.iter().cloned().collect()),
                        Ok(Expr::Lit(_))
                    )
                {
                    return invalid(format!("`{key}` takes an expression, not a literal"));
                }
            }
            _ => return invalid(format!("`{key}` without `= value`")),
        }
    }
    None
}

/// `routing!([crate = PATH,] app, entry, ..)`: entries are paths or `authenticate(guard)
/// { entries }` (not empty); at least one handler, none twice.
fn routing_verdict(tokens: TokenStream) -> Verdict {
    let tokens = match leading_crate(tokens) {
        Ok(t) => t,
        Err(e) => return invalid(e),
    };
    fn entries(input: ParseStream<'_>, out: &mut Vec<String>) -> syn::Result<()> {
        while !input.is_empty() {
            if input.peek(syn::Ident) && input.peek2(syn::token::Paren) {
                let keyword: syn::Ident = input.parse()?;
                if keyword != "authenticate" {
                    return Err(input.error("a call"));
                }
                let args;
                syn::parenthesized!(args in input);
                args.parse::<Expr>()?;
                if !args.is_empty() {
                    return Err(args.error("more than one guard"));
                }
                let body;
                syn::braced!(body in input);
                let before = out.len();
                entries(&body, out)?;
                if out.len() == before {
                    return Err(body.error("an empty authenticate block"));
                }
            } else {
                let path = input.call(syn::Path::parse_mod_style)?;
                out.push(quote::quote!(#path).to_string());
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    }
    let mut handlers = Vec::new();
    let parsed = (|input: ParseStream<'_>| {
        input.parse::<Expr>()?;
        if input.is_empty() {
            return Ok(());
        }
        input.parse::<Token![,]>()?;
        entries(input, &mut handlers)
    })
    .parse2(tokens);
    if let Err(e) = parsed {
        return invalid(format!("not `app, handlers`: {e}"));
    }
    if handlers.is_empty() {
        return invalid("no handler");
    }
    let mut sorted = handlers.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != handlers.len() {
        return invalid("a handler twice");
    }
    None
}

// The keys `embedded_server!` takes: ws-codegen's own table (as `install!`'s come
// from ws-dsl's), so that a key added there (`log` was missing) is not judged unknown.
use ws_codegen::embedded_server::KEYS as SERVER_KEYS;

/// `embedded_server!([crate = PATH,] key = value, .., |app| { .. })`: known keys, each
/// once; one closure, last, not `async`, with one parameter; `port` literal ≤ 65535.
fn server_verdict(tokens: TokenStream) -> Verdict {
    let tokens = match leading_crate(tokens) {
        Ok(t) => t,
        Err(e) => return invalid(e),
    };
    let mut args: Vec<(Option<String>, Expr)> = Vec::new();
    let parsed = (|input: ParseStream<'_>| {
        while !input.is_empty() {
            if input.peek(syn::Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
                let key: syn::Ident = input.parse()?;
                input.parse::<Token![=]>()?;
                args.push((Some(key.to_string()), input.parse()?));
            } else {
                args.push((None, input.parse()?));
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    })
    .parse2(tokens);
    if let Err(e) = parsed {
        return invalid(format!("not `key = value, .., |app| {{ .. }}`: {e}"));
    }
    let mut seen = Vec::new();
    let count = args.len();
    let mut closure = false;
    for (i, (key, value)) in args.iter().enumerate() {
        match key {
            Some(key) => {
                let key = key.strip_prefix("r#").unwrap_or(key);
                if !SERVER_KEYS.contains(&key) {
                    return invalid(format!("unknown key `{key}`"));
                }
                if seen.contains(&key) {
                    return invalid(format!("`{key}` twice"));
                }
                seen.push(key);
                if key == "port"
                    && let Expr::Lit(syn::ExprLit { lit, .. }) = value
                    && !matches!(lit, Lit::Int(int) if int.base10_parse::<u64>().is_ok_and(|p| p <= 65535))
                {
                    return invalid("a `port` literal that is not a port");
                }
            }
            None => match value {
                Expr::Closure(c) => {
                    if i + 1 != count {
                        return invalid("the closure is not last");
                    }
                    if c.asyncness.is_some() || c.inputs.len() != 1 {
                        return invalid("an async closure, or not one parameter");
                    }
                    closure = true;
                }
                _ => return invalid("a positional argument that is not the closure"),
            },
        }
    }
    if !closure {
        return invalid("no configuration closure");
    }
    None
}

/// `#[web_socket("/path", protocol = "p", guard = g, crate = c)] async fn ..` (raw: no
/// `protocol`): the path a string literal that ws-dsl's route grammar accepts (the
/// grammar's own `scan`), options known and each once, the protocol a non-empty token;
/// the item an `async fn`, not `const`, `unsafe`, `extern`, generic, with a `where`
/// clause, variadic, taking `self` or a reference or `impl Trait`.
fn web_socket_verdict(args: TokenStream, item: TokenStream, raw: bool) -> Verdict {
    let Ok(func) = syn::parse2::<syn::ItemFn>(item) else {
        return invalid("the item is not a function");
    };
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        return invalid("not async");
    }
    if sig.constness.is_some()
        || sig.unsafety.is_some()
        || sig.abi.is_some()
        || sig.variadic.is_some()
    {
        return invalid("const, unsafe, extern or variadic");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return invalid("generic");
    }
    for input in &sig.inputs {
        match input {
            syn::FnArg::Receiver(_) => return invalid("takes self"),
            syn::FnArg::Typed(t) => {
                if matches!(
                    *t.ty,
                    syn::Type::Reference(_) | syn::Type::ImplTrait(_) | syn::Type::TraitObject(_)
                ) {
                    return invalid("a reference, impl Trait or trait object parameter");
                }
            }
        }
    }
    if args.is_empty() {
        return invalid("no route path");
    }
    let mut positional = Vec::new();
    let mut named: Vec<(String, Expr)> = Vec::new();
    let parsed = (|input: ParseStream<'_>| {
        while !input.is_empty() {
            if (input.peek(syn::Ident) || input.peek(Token![crate]))
                && input.peek2(Token![=])
                && !input.peek2(Token![==])
            {
                let key = <syn::Ident as syn::ext::IdentExt>::parse_any(input)?;
                input.parse::<Token![=]>()?;
                named.push((key.to_string(), input.parse()?));
            } else {
                positional.push(input.parse::<Expr>()?);
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    })
    .parse2(args);
    if let Err(e) = parsed {
        return invalid(format!("arguments that do not parse: {e}"));
    }
    match positional.as_slice() {
        [
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(path),
                ..
            }),
        ] => {
            if !ws_dsl::path::scan(&path.value()).problems.is_empty() {
                return invalid("a route path the grammar refuses");
            }
        }
        _ => return invalid("not one string literal path"),
    }
    let mut seen = Vec::new();
    for (key, value) in &named {
        let key = key.as_str();
        let known = match key {
            "crate" => valid_crate_path(quote::quote!(#value)),
            "guard" => !matches!(value, Expr::Lit(_)),
            "protocol" if !raw => matches!(
                value,
                Expr::Lit(syn::ExprLit { lit: Lit::Str(p), .. }) if is_token(&p.value())
            ),
            _ => false,
        };
        if !known {
            return invalid(format!("option `{key}` unknown or with a wrong value"));
        }
        if seen.contains(&key) {
            return invalid(format!("`{key}` twice"));
        }
        seen.push(key);
    }
    None
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

// ----- the run -----

/// Runs `f` with `WS_MACROS_DEBUG=1` and this process's stderr on /dev/null (the
/// expansion printer writes there), unless `WS_FUZZ_SHOW` is set.
fn with_debug_printing<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: the fuzz target runs on one thread (libFuzzer calls it from its main
    // thread and nothing else runs), so nothing reads the environment meanwhile.
    unsafe { std::env::set_var("WS_MACROS_DEBUG", "1") };
    let saved = (!*SHOW).then(silence_stderr).flatten();
    let out = f();
    if let Some(saved) = saved {
        restore_stderr(saved);
    }
    // SAFETY: as above.
    unsafe { std::env::remove_var("WS_MACROS_DEBUG") };
    out
}

/// Points fd 2 at /dev/null; returns a copy of the old fd 2.
fn silence_stderr() -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::AsFd;
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .ok()?;
    let saved = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    dup2(&null, 2);
    Some(saved)
}

fn restore_stderr(saved: std::os::fd::OwnedFd) {
    dup2(&saved, 2);
}

fn dup2(from: &impl std::os::fd::AsRawFd, to: i32) {
    unsafe extern "C" {
        fn dup2(oldfd: i32, newfd: i32) -> i32;
    }
    // SAFETY: `from` is an open descriptor for the duration of the call; dup2 on fd 2
    // only changes what fd 2 refers to.
    unsafe { dup2(from.as_raw_fd(), to) };
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let which = Macro::from_selector(selector);
    let debug = selector & 0x80 != 0;
    let text = String::from_utf8_lossy(rest);
    let (args_text, item_text) = match which {
        Macro::WebSocket | Macro::WebSocketRaw => match text.split_once('\0') {
            Some((args, item)) => (args.to_owned(), item.to_owned()),
            None => (
                text.to_string(),
                "async fn h(session: WebSocketSession) {}".to_owned(),
            ),
        },
        _ => (text.to_string(), String::new()),
    };
    let Ok(args) = args_text.parse::<TokenStream>() else {
        return;
    };
    let Ok(item) = item_text.parse::<TokenStream>() else {
        return;
    };
    let expand = || match which {
        Macro::WebSocket => {
            ws_codegen::web_socket::expand(args.clone(), item.clone(), Kind::Normal)
        }
        Macro::WebSocketRaw => {
            ws_codegen::web_socket::expand(args.clone(), item.clone(), Kind::Raw)
        }
        Macro::Install => ws_codegen::install::expand(args.clone()),
        Macro::Routing => ws_codegen::routing::expand(args.clone()),
        Macro::EmbeddedServer => ws_codegen::embedded_server::expand(args.clone()),
    };
    let out = if debug {
        with_debug_printing(expand)
    } else {
        expand()
    };
    let verdict = match which {
        Macro::WebSocket => web_socket_verdict(args.clone(), item.clone(), false),
        Macro::WebSocketRaw => web_socket_verdict(args.clone(), item.clone(), true),
        Macro::Install => install_verdict(args.clone()),
        Macro::Routing => routing_verdict(args.clone()),
        Macro::EmbeddedServer => server_verdict(args.clone()),
    };
    let printed = out.to_string();
    if *SHOW {
        eprintln!(
            "{which:?} args: {args_text:?}\nitem: {item_text:?}\nverdict: {verdict:?}\nexpansion: {printed}"
        );
    }
    let relexed: TokenStream = printed
        .parse()
        .unwrap_or_else(|e| panic!("the expansion does not lex again ({e:?}): {printed}"));
    let is_fn = syn::parse2::<syn::ItemFn>(item.clone()).is_ok();
    match which {
        Macro::WebSocket | Macro::WebSocketRaw if is_fn => {
            if let Err(e) = syn::parse2::<syn::File>(relexed) {
                panic!("the expansion is not items: {e}\n{printed}");
            }
        }
        Macro::WebSocket | Macro::WebSocketRaw => {}
        _ => {
            if let Err(e) = syn::parse2::<Expr>(relexed) {
                panic!("the expansion is not an expression: {e}\n{printed}");
            }
        }
    }
    // (An input that names `compile_error` itself may see it echoed: not judged.)
    if let Some(reason) = verdict
        && !text.contains("compile_error")
    {
        assert!(
            compile_errors(&out) > 0,
            "invalid ({reason}) but no compile_error!: {which:?} args {args_text:?} item {item_text:?}\nexpansion: {printed}"
        );
    }
});
