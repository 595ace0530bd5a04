//! `embedded_server!(port = 8080, host = "0.0.0.0", grace_period = 5s, |app| { ... })`:
//! Ktor's `embeddedServer(Netty, port = 8080) { ... }`, as `EmbeddedServer` builder calls.
//! The server-wide limits are keys too: `max_connections`, `max_connections_per_ip`,
//! `max_handshakes` (counts, at least 1) and `tcp_keepalive` (a duration, or `None`);
//! `tls = Tls::pem_files("cert.pem", "key.pem")` serves the port over TLS;
//! `trusted_proxies = ["10.0.0.0/8"]` (each literal checked) and `proxy_protocol = true`
//! configure what the server believes about a proxy in front of it; `log = false`
//! keeps `start()` from installing its default log.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, Lit, Token};

use crate::diag::{Errors, unknown_key};
use crate::lit::{self, describe, peel};
use crate::paths::Paths;

/// The keys `embedded_server!` takes (the macros fuzz target's oracle reads them too).
pub const KEYS: &[&str] = &[
    "port",
    "host",
    "grace_period",
    "max_connections",
    "max_connections_per_ip",
    "max_handshakes",
    "tcp_keepalive",
    "tls",
    "trusted_proxies",
    "proxy_protocol",
    "log",
];
const USAGE: &str = "`embedded_server!(port = 8080, |app| { ... })`";
const ENGINES: &[&str] = &["Netty", "CIO", "Jetty", "Tomcat"];

enum Arg {
    Key(Ident, Expr),
    Positional(Expr),
}

/// `trusted_proxies = ["10.0.0.0/8", "::1"]`: each literal must be an address or a
/// CIDR block; any other expression is passed through (the runtime checks it).
fn trusted_proxies(value: &Expr) -> syn::Result<TokenStream> {
    match peel(value) {
        Expr::Array(array) => {
            let mut errors: Option<syn::Error> = None;
            for elem in &array.elems {
                let problem = match peel(elem) {
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Str(s), ..
                    }) => s
                        .value()
                        .parse::<ws_dsl::net::IpNet>()
                        .err()
                        .map(|e| syn::Error::new(s.span(), format!("`trusted_proxies`: {e}"))),
                    Expr::Lit(_) => Some(syn::Error::new_spanned(
                        elem,
                        format!(
                            "a trusted proxy is a string such as `\"10.0.0.0/8\"` or `\"127.0.0.1\"`, found {}",
                            describe(elem)
                        ),
                    )),
                    _ => None,
                };
                if let Some(problem) = problem {
                    match &mut errors {
                        Some(all) => all.combine(problem),
                        None => errors = Some(problem),
                    }
                }
            }
            match errors {
                Some(e) => Err(e),
                // `[""; 0]` keeps an empty list typed.
                None if array.elems.is_empty() => Ok(quote!([""; 0])),
                None => {
                    let elems = array.elems.iter();
                    Ok(quote!([#(#elems),*]))
                }
            }
        }
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Err(syn::Error::new(
            s.span(),
            format!(
                "`trusted_proxies` is a list: write `trusted_proxies = [\"{}\"]`",
                s.value()
            ),
        )),
        _ => Ok(value.into_token_stream()),
    }
}

/// Expands one `embedded_server!`.
pub fn expand(input: TokenStream) -> TokenStream {
    let mut errors = Errors::new();
    let (paths, input) = crate::paths::leading_crate(input, &mut errors);
    let parsed = (|input: ParseStream<'_>| {
        let mut args = Vec::new();
        while !input.is_empty() {
            if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
                let key: Ident = input.parse()?;
                input.parse::<Token![=]>()?;
                args.push(Arg::Key(key, input.parse()?));
            } else {
                args.push(Arg::Positional(input.parse()?));
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    })
    .parse2(input);
    let args = match parsed {
        Ok(args) => args,
        Err(e) => {
            errors.push(syn::Error::new(e.span(), format!("{e}: {USAGE}")));
            // In a block: two errors (a bad `crate = ..` and this one) side by side are
            // not an expression (fuzz finding `macros/two-errors-server`).
            let errors = errors.to_compile_errors();
            return quote!({ #errors });
        }
    };

    let mut calls: Vec<TokenStream> = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut closure: Option<TokenStream> = None;
    let count = args.len();
    for (i, arg) in args.into_iter().enumerate() {
        match arg {
            Arg::Key(key, value) => {
                let name = key.to_string();
                if !KEYS.contains(&name.as_str()) {
                    let message = if name == "module" {
                        format!(
                            "unknown key `module`: the configuration is the closure at the end: {USAGE}"
                        )
                    } else {
                        unknown_key("key", &name, KEYS, &[("gracePeriodMillis", "grace_period")])
                    };
                    errors.at(key.span(), message);
                    continue;
                }
                let written = crate::diag::written(&value);
                if let Some((_, first)) = seen.iter().find(|(k, _)| *k == name) {
                    errors.at(
                        key.span(),
                        format!(
                            "duplicate key `{name}`: it is already set to `{first}` above; keep one"
                        ),
                    );
                    continue;
                }
                seen.push((name.clone(), written));
                let value = match name.as_str() {
                    "grace_period" => match lit::duration(&value, "grace_period") {
                        Ok(d) => d.tokens(&paths),
                        Err(e) => {
                            errors.push(e);
                            continue;
                        }
                    },
                    "tcp_keepalive" => match lit::duration(&value, "tcp_keepalive") {
                        Ok(d) if d.is_zero() => {
                            errors.spanned(
                                &value,
                                "`tcp_keepalive` must be greater than zero: to turn keepalive off, write `tcp_keepalive = None`",
                            );
                            continue;
                        }
                        Ok(d) => d.tokens(&paths),
                        Err(e) => {
                            errors.push(e);
                            continue;
                        }
                    },
                    // The certificate source, as written (`Tls::pem_files(..)`).
                    "tls" => value.into_token_stream(),
                    "trusted_proxies" => match trusted_proxies(&value) {
                        Ok(tokens) => tokens,
                        Err(e) => {
                            errors.push(e);
                            continue;
                        }
                    },
                    "proxy_protocol" | "log" => match peel(&value) {
                        Expr::Lit(syn::ExprLit {
                            lit: Lit::Bool(_), ..
                        }) => value.into_token_stream(),
                        Expr::Lit(_) => {
                            errors.spanned(
                                &value,
                                format!(
                                    "`{name}` expects `true` or `false`, found {}",
                                    describe(&value)
                                ),
                            );
                            continue;
                        }
                        _ => value.into_token_stream(),
                    },
                    "max_connections" | "max_connections_per_ip" | "max_handshakes" => {
                        match lit::integer(
                            &value,
                            &name,
                            "a number of connections",
                            u128::from(u64::MAX),
                            "usize",
                        ) {
                            Ok(n) if n.value() == Some(0) => {
                                errors.spanned(
                                    &value,
                                    format!(
                                        "`{name}` must be at least 1: no connection would get in"
                                    ),
                                );
                                continue;
                            }
                            Ok(_) => value.into_token_stream(),
                            Err(e) => {
                                errors.push(e);
                                continue;
                            }
                        }
                    }
                    "port" => match check_port(&value) {
                        Ok(()) => value.into_token_stream(),
                        Err(e) => {
                            errors.push(e);
                            continue;
                        }
                    },
                    _ => {
                        if let Expr::Lit(l) = peel(&value)
                            && !matches!(l.lit, Lit::Str(_))
                        {
                            errors.spanned(&value, format!("`host` expects an address such as `\"0.0.0.0\"` or `\"127.0.0.1\"`, found {}", describe(&value)));
                            continue;
                        }
                        value.into_token_stream()
                    }
                };
                calls.push(quote_spanned!(key.span()=> .#key(#value)));
            }
            Arg::Positional(Expr::Closure(c)) => {
                if i + 1 != count {
                    errors.spanned(
                        c.or1_token,
                        format!("the configuration closure comes last: {USAGE}"),
                    );
                    continue;
                }
                match configure_closure(c, &paths) {
                    Ok(tokens) => closure = Some(tokens),
                    Err(e) => errors.push(e),
                }
            }
            Arg::Positional(other) => {
                let engine = match peel(&other) {
                    Expr::Path(p) => p
                        .path
                        .get_ident()
                        .filter(|i| ENGINES.iter().any(|e| *i == e))
                        .cloned(),
                    _ => None,
                };
                match engine {
                    Some(engine) => errors.at(
                        engine.span(),
                        format!("no engine argument: ws runs on tokio, remove `{engine}`: {USAGE}"),
                    ),
                    None => errors.spanned(
                        &other,
                        format!("expected `key = value` (`port`, `host`, `grace_period`, `max_connections`, ...) or the configuration closure `|app| {{ ... }}`: {USAGE}"),
                    ),
                }
            }
        }
    }
    if closure.is_none() && errors.is_empty() {
        errors.at(
            Span::call_site(),
            format!(
                "missing the configuration closure, which installs plugins and adds routes: {USAGE}"
            ),
        );
    }
    let errors = errors.to_compile_errors();
    let configure = closure.map(|c| quote!(.configure(#c)));
    let server = paths.embedded_server(Span::call_site());
    let expansion = quote! {
        {
            #errors
            #server::new() #(#calls)* #configure
        }
    };
    crate::debug::print("embedded_server", "", &expansion);
    expansion
}

fn check_port(value: &Expr) -> syn::Result<()> {
    match peel(value) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) => match int.base10_parse::<u64>() {
            Ok(port) if port <= 65535 => Ok(()),
            _ => Err(syn::Error::new(
                int.span(),
                format!(
                    "`port` is 0 to 65535 (0 picks a free port), found {}",
                    int.base10_digits()
                ),
            )),
        },
        Expr::Lit(_) => Err(syn::Error::new_spanned(
            value,
            format!(
                "`port` expects a number such as `8080`, found {}",
                describe(value)
            ),
        )),
        _ => Ok(()),
    }
}

/// `|app| { ... }` with the parameter typed `&mut ::ws::Application`.
fn configure_closure(c: syn::ExprClosure, paths: &Paths) -> syn::Result<TokenStream> {
    if let Some(asyncness) = &c.asyncness {
        return Err(syn::Error::new(
            asyncness.span,
            "the configuration closure is not `async`: it installs plugins and adds routes before the server starts",
        ));
    }
    if c.inputs.len() != 1 {
        return Err(syn::Error::new_spanned(
            &c.inputs,
            format!(
                "the configuration closure takes the application, `|app| {{ ... }}`; found {} parameters",
                c.inputs.len()
            ),
        ));
    }
    let input = &c.inputs[0];
    if let syn::Pat::Type(_) = input {
        return Ok(c.into_token_stream());
    }
    let syn::ExprClosure {
        attrs,
        lifetimes,
        constness,
        movability,
        capture,
        body,
        ..
    } = &c;
    let application = paths.application(Span::call_site());
    Ok(quote! {
        #(#attrs)* #lifetimes #constness #movability #capture |#input: &mut #application| #body
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_input_is_reported_never_panics() {
        crate::test_support::assert_each_is_an_error(
            expand,
            &[
                "",
                "port = 8080",
                "port = 8080,",
                "|app| {}, port = 1",
                "|| {}",
                "|a, b| {}",
                "async |app| {}",
                "port = , |app| {}",
                "port = \"x\", |app| {}",
                "host = 1, |app| {}",
                "grace_period = 5, |app| {}",
                "Netty, |app| {}",
                "module = 1, |app| {}",
                "log = \"off\", |app| {}",
                "log = 0, |app| {}",
                "log = true, log = false, |app| {}",
                "port = 1 port = 2",
            ],
        );
        let out = expand(
            "port = p, host = h(), grace_period = 5s, move |app| { }"
                .parse()
                .expect("lexes"),
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains("| app : & mut :: ws :: Application |"),
            "{out}"
        );
    }

    #[test]
    fn several_errors_still_make_an_expression() {
        // A bad `crate = ..` and arguments that do not parse: two `compile_error!`s, in
        // a block (fuzz finding `macros/two-errors-server`).
        let out = expand("crate = 1, port 8080, |app| {}".parse().expect("lexes"));
        assert!(
            out.to_string().matches("compile_error").count() >= 2,
            "{out}"
        );
        syn::parse2::<Expr>(out.clone()).unwrap_or_else(|e| panic!("{e}: {out}"));
    }
}
