//! The DSL's one rewrite: `for PAT in <expr ending in incoming> { BODY }` inside a
//! handler becomes an async receive loop.
//!
//! ```text
//! 'label: for PAT in session.incoming { BODY }
//! ```
//! becomes
//! ```text
//! {
//!     let __ws_source = &(session.incoming);
//!     let __ws_incoming = ::ws::__private::FrameSource::frames(__ws_source);
//!     'label: loop {
//!         let __ws_frame = match ::ws::__private::next_frame(__ws_incoming).await {
//!             Some(frame) => frame,
//!             None => break 'label,
//!         };
//!         #[allow(irrefutable_let_patterns)]
//!         let PAT = __ws_frame else { continue 'label };
//!         BODY
//!     }
//! }
//! ```
//!
//! - The source is borrowed, not moved: `session.send(..)` still works in the body,
//!   and `session.incoming` can be iterated again after the loop.
//! - `break`, `continue` and labels keep their meaning: the loop is the innermost
//!   loop of the body, and a user label names it. Without a user label the loop gets
//!   a hygienic one the body cannot name.
//! - A refutable pattern (`for Frame::Text(text) in incoming`) skips the frames it
//!   does not match, like Ktor's `frame as? Frame.Text ?: continue`.
//! - `?` and `.await` work as anywhere in the handler.
//! - Nested loops are rewritten too (innermost first). Nested `fn` items are left
//!   alone; inside a closure that is not `async` (where `.await` is impossible) such a
//!   loop is an error that says so. Loops inside macro invocations are not seen.
//! - A `break` with a value that would leave the loop is an error, as in any `for`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, ExprForLoop, Ident, Item, Lifetime, Member, Pat};

use crate::diag::Errors;
use crate::paths::Paths;

/// Rewrites every `for ... in <..incoming>` loop of a handler body.
pub(crate) fn rewrite_body(block: &mut Block, paths: &Paths, errors: &mut Errors) {
    let mut rewriter = Rewriter {
        paths,
        errors,
        awaitable: true,
        loops: 0,
    };
    rewriter.visit_block_mut(block);
}

struct Rewriter<'e> {
    paths: &'e Paths,
    errors: &'e mut Errors,
    /// Whether `.await` is possible here (not inside a plain closure).
    awaitable: bool,
    /// Loops rewritten so far: nested loops get distinct hidden labels.
    loops: usize,
}

impl VisitMut for Rewriter<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Closure(closure) => {
                let outer = self.awaitable;
                self.awaitable = closure.asyncness.is_some();
                visit_mut::visit_expr_closure_mut(self, closure);
                self.awaitable = outer;
            }
            Expr::Async(block) => {
                let outer = self.awaitable;
                self.awaitable = true;
                visit_mut::visit_expr_async_mut(self, block);
                self.awaitable = outer;
            }
            Expr::ForLoop(for_loop) if incoming_source(&for_loop.expr).is_some() => {
                visit_mut::visit_expr_for_loop_mut(self, for_loop);
                if !self.awaitable {
                    self.errors.spanned(
                        &for_loop.expr,
                        "`for ... in incoming` becomes an async receive loop, which needs `.await`: it cannot be used inside a closure that is not `async`; use an `async` block or closure",
                    );
                }
                check_break_values(for_loop, self.errors);
                self.loops += 1;
                let rewritten = receive_loop(for_loop, self.paths, self.awaitable, self.loops);
                match syn::parse2::<Expr>(rewritten) {
                    Ok(new) => *expr = new,
                    Err(e) => self.errors.push(e),
                }
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    /// Nested items (`fn`, `impl`, ...) are not part of the handler.
    fn visit_item_mut(&mut self, _item: &mut Item) {}
}

/// The expression frames come from, if `expr` ends in `incoming`: a path `incoming`, a
/// field `x.incoming` or a call `x.incoming()`, possibly behind `&` or parentheses.
pub(crate) fn incoming_source(expr: &Expr) -> Option<&Expr> {
    match expr {
        Expr::Reference(reference) => incoming_source(&reference.expr),
        Expr::Paren(paren) => incoming_source(&paren.expr),
        Expr::Group(group) => incoming_source(&group.expr),
        Expr::Path(path)
            if path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "incoming" && s.arguments.is_none()) =>
        {
            Some(expr)
        }
        Expr::Field(field) if matches!(&field.member, Member::Named(name) if name == "incoming") => {
            Some(expr)
        }
        Expr::MethodCall(call)
            if call.method == "incoming" && call.args.is_empty() && call.turbofish.is_none() =>
        {
            Some(expr)
        }
        _ => None,
    }
}

/// Builds the receive loop for a `for` whose body was already visited. Where `.await`
/// is impossible (an error was reported), the loop is built without it, so that the
/// body still type-checks and no follow-on errors appear.
fn receive_loop(
    for_loop: &ExprForLoop,
    paths: &Paths,
    awaitable: bool,
    number: usize,
) -> TokenStream {
    let ExprForLoop {
        attrs,
        label,
        for_token,
        pat,
        expr,
        body,
        ..
    } = for_loop;
    let source = incoming_source(expr).unwrap_or(expr);
    let at_for = for_token.span;
    // Keywords are placed at the `for` but marked as macro output (so lints on
    // generated code stay quiet); our names are hygienic: the body cannot see them.
    let generated = Span::call_site().located_at(at_for);
    let hidden = Span::mixed_site().located_at(at_for);
    // The source's own span (not a hygienic one): an argument whose context differs
    // from its call's is reported at the attribute instead of at the source.
    let borrowed = Ident::new("__ws_source", source.span());
    let incoming = Ident::new("__ws_incoming", hidden);
    let frame = Ident::new("__ws_frame", hidden);
    let label = match label {
        Some(label) => label.name.clone(),
        None => Lifetime::new(&format!("'__ws_frames{number}"), hidden),
    };
    let pat = match &**pat {
        Pat::Or(_) => quote!((#pat)),
        other => other.to_token_stream(),
    };
    // The `FrameSource` bound (what the loop can receive from) lands on the source.
    let borrowed_value = crate::spans::covering(&borrowed, source);
    let frame_source = paths.frame_source(source.span());
    let frames = quote_spanned!(source.span()=> #frame_source::frames(#borrowed_value));
    let next = if awaitable {
        let next_frame = paths.next_frame(generated);
        quote_spanned!(generated=> #next_frame(#incoming).await)
    } else {
        let no_frame = paths.no_frame(generated);
        quote_spanned!(generated=> #no_frame(#incoming))
    };
    let (some, none) = (paths.some(generated), paths.none(generated));
    quote_spanned! {generated=>
        #(#attrs)*
        {
            let #borrowed = &(#source);
            let #incoming = #frames;
            #label: loop {
                let #frame = match #next {
                    #some(#frame) => #frame,
                    #none => break #label,
                };
                #[allow(irrefutable_let_patterns)]
                let #pat = #frame else {
                    continue #label;
                };
                #body
            }
        }
    }
}

/// `break value` that would leave a `for` loop is an error in Rust; the rewritten
/// `loop` would accept it, so it is refused here with the same meaning.
/// The value of such a `break` is kept as a statement (`break { let _ = value; }`), so
/// it is still checked but adds no type error of its own.
fn check_break_values(for_loop: &mut ExprForLoop, errors: &mut Errors) {
    let label = for_loop.label.as_ref().map(|l| l.name.ident.to_string());
    let mut finder = BreakFinder {
        label,
        inner_loops: 0,
        errors,
    };
    finder.visit_block_mut(&mut for_loop.body);
}

struct BreakFinder<'e> {
    label: Option<String>,
    inner_loops: usize,
    errors: &'e mut Errors,
}

impl BreakFinder<'_> {
    /// Visits a nested loop: unlabeled `break`s there are its own; a loop with our
    /// label shadows ours.
    fn nested(&mut self, label: Option<&syn::Label>, visit: impl FnOnce(&mut Self)) {
        if label.is_some_and(|l| Some(l.name.ident.to_string()) == self.label) {
            return;
        }
        self.inner_loops += 1;
        visit(self);
        self.inner_loops -= 1;
    }
}

impl VisitMut for BreakFinder<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Break(brk) => {
                let ours = match &brk.label {
                    None => self.inner_loops == 0,
                    Some(l) => Some(l.ident.to_string()) == self.label,
                };
                if ours && let Some(value) = brk.expr.take() {
                    self.errors.spanned(
                        quote!(#brk #value),
                        "`break` with a value is not allowed in a `for` loop: `for ... in incoming` evaluates to `()`",
                    );
                    match syn::parse2(quote!({ let _ = #value; })) {
                        Ok(unit) => brk.expr = Some(Box::new(unit)),
                        Err(_) => brk.expr = Some(value),
                    }
                }
                visit_mut::visit_expr_break_mut(self, brk);
            }
            Expr::Loop(l) => {
                let label = l.label.clone();
                self.nested(label.as_ref(), |s| visit_mut::visit_expr_loop_mut(s, l));
            }
            Expr::While(w) => {
                let label = w.label.clone();
                self.nested(label.as_ref(), |s| visit_mut::visit_expr_while_mut(s, w));
            }
            Expr::ForLoop(f) => {
                let label = f.label.clone();
                self.nested(label.as_ref(), |s| visit_mut::visit_expr_for_loop_mut(s, f));
            }
            Expr::Block(b)
                if b.label
                    .as_ref()
                    .is_some_and(|l| Some(l.name.ident.to_string()) == self.label) => {}
            // New `break` scopes.
            Expr::Closure(_) | Expr::Async(_) | Expr::Const(_) => {}
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, _item: &mut Item) {}
}
