//! Code generation. Everything emitted names only `::moai_instrument::__private` and `::core`
//! paths, and every internal binding uses `Span::mixed_site()`, so the user's own names (a
//! parameter called like one of ours, a local `mod moai_instrument`, `#![no_implicit_prelude]`)
//! cannot collide with or shadow the expansion.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Block, Ident, LitStr};

use crate::args::{CountedArgs, EventType, Judge, TimedArgs};
use crate::target_fn::TargetFn;

/// The opening both macros share: the item checked to be a fn, then the arguments parsed; the
/// first mistake becomes the compile error beside the unchanged item.
fn parse<A: syn::parse::Parse>(
    macro_name: &str,
    args: TokenStream,
    item: TokenStream,
) -> Result<(TargetFn, A), TokenStream> {
    let target = TargetFn::parse(item.clone(), macro_name).map_err(|e| error_beside(e, &item))?;
    let args = syn::parse2(args).map_err(|e| error_beside(e, &item))?;
    Ok((target, args))
}

pub(crate) fn timed_query(args: TokenStream, item: TokenStream) -> TokenStream {
    let (mut target, args): (TargetFn, TimedArgs) = match parse("timed_query", args, item) {
        Ok(parsed) => parsed,
        Err(error) => return error,
    };
    let query_type = args.query_type.unwrap_or_else(|| target.name_literal());
    let slow_ms = match args.slow_ms {
        Some(ms) => quote!(::core::option::Option::Some(#ms)),
        None => quote!(::core::option::Option::None),
    };
    let fn_name = target.name();
    let location = quote_spanned! {target.sig.ident.span()=>
        ::moai_instrument::__private::Location {
            module: ::core::module_path!(),
            function: #fn_name,
            line: ::core::line!(),
        }
    };
    let guard = Ident::new("__moai_query_guard", Span::mixed_site());
    let out = Ident::new("__moai_query_output", Span::mixed_site());
    let start = quote_spanned! {Span::mixed_site()=>
        let #guard = {
            static CALLSITE: ::moai_instrument::__private::QueryCallsite =
                ::moai_instrument::__private::QueryCallsite::new(#query_type, #slow_ms, #location);
            ::moai_instrument::__private::inventory::submit! {
                ::moai_instrument::__private::Callsite::Query(&CALLSITE)
            }
            ::moai_instrument::__private::QueryGuard::start(&CALLSITE)
        };
    };
    let observe = observe(&guard, &out, args.judge.as_ref());

    if let Some(inner) = target.async_trait_block() {
        // `#[async_trait]` already turned the method into `Box::pin(async move { .. })`; its own
        // `let __ret: Output = ..` pins the inner block's type, so none is written here.
        let body = &inner.stmts;
        *inner = syn::parse_quote_spanned! {inner.span()=> {
            #start
            let #out = async move { #(#body)* }.await;
            #observe
        }};
        let block = &target.block;
        return target.with_body(quote!(#block));
    }
    let block = &target.block;
    let body = match (target.sig.asyncness.is_some(), target.output_annotation()) {
        // `async fn`: the body runs on first poll, so the guard times the awaited work. An async
        // block cannot declare its output type; the unreachable `return` of a value of the
        // declared type gives it one, so `?`, `return` and type errors in the body behave and
        // are reported on the user's lines as in the original `async fn` (as tracing does).
        (true, annotation) => {
            let annotation = annotation.unwrap_or_else(|| quote!(_));
            let stmts = &block.stmts;
            quote_spanned! {Span::mixed_site()=>
                #start
                let #out: #annotation = async move {
                    #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop)]
                    if false {
                        let __moai_declared_output: #annotation = loop {};
                        return __moai_declared_output;
                    }
                    #(#stmts)*
                }
                .await;
                #observe
            }
        }
        // A closure called through an `FnOnce` bound returns borrows of `&'a mut` arguments with
        // their full lifetime, and catches `return`, `?` and macros such as `bail!` alike. Its
        // declared return type makes a type error in the body show on the user's line.
        (false, Some(annotation)) => quote_spanned! {Span::mixed_site()=>
            #start
            let #out: #annotation =
                ::moai_instrument::__private::call_once(move || -> #annotation #block);
            #observe
        },
        // `-> !` never returns a value to inspect: the guard still records on unwind.
        (false, None) => quote_spanned! {Span::mixed_site()=>
            #start
            #block
        },
    };
    target.with_body(body)
}

pub(crate) fn counted_event(args: TokenStream, item: TokenStream) -> TokenStream {
    let (mut target, args): (TargetFn, CountedArgs) = match parse("counted_event", args, item) {
        Ok(parsed) => parsed,
        Err(error) => return error,
    };
    let count = match args.event_type {
        EventType::FnName => literal_event(&target.name_literal()),
        EventType::Literal(lit) => literal_event(&lit),
        // Spanned on the user's expression, so a type that is not `AsRef<str>` is reported there.
        EventType::Expr(expr) => quote_spanned! {expr.span()=>
            ::moai_instrument::__private::count_event(&(#expr));
        },
    };
    // The count goes first in the body, so an `async fn` counts when it starts running.
    let prepend = |block: &mut Block| {
        let stmts = &block.stmts;
        *block = syn::parse_quote_spanned! {block.span()=> { #count #(#stmts)* }};
    };
    match target.async_trait_block() {
        Some(inner) => prepend(inner),
        None => prepend(&mut target.block),
    }
    let stmts = &target.block.stmts;
    target.with_body(quote!(#(#stmts)*))
}

/// Records the outcome of `out` on `guard` and yields `out`: an `Err` is a failure, unless the
/// user's judge decides. The judge's call is spanned on the user's path and takes the value
/// first, so a fn of the wrong type is reported on the path.
fn observe(guard: &Ident, out: &Ident, judge: Option<&Judge>) -> TokenStream {
    let default = quote_spanned! {Span::mixed_site()=>
        ::moai_instrument::__private::observe_outcome!(#guard, #out)
    };
    match judge {
        None => quote_spanned! {Span::mixed_site()=>
            let _ = #default;
            #out
        },
        Some(Judge::OkIf(path)) => {
            let judged = quote_spanned! {path.span()=>
                ::moai_instrument::__private::judge(&#out, #path)
            };
            quote_spanned! {Span::mixed_site()=>
                if !#judged {
                    let _ = #default;
                }
                #out
            }
        }
        Some(Judge::ErrorIf(path)) => {
            let judged = quote_spanned! {path.span()=>
                ::moai_instrument::__private::judge(&#out, #path)
            };
            let name = quote!(#path).to_string().replace(' ', "");
            quote_spanned! {Span::mixed_site()=>
                if #judged && !#default {
                    #guard.note_judged_failure(#name);
                }
                #out
            }
        }
    }
}

fn literal_event(event_type: &LitStr) -> TokenStream {
    quote_spanned! {Span::mixed_site()=>
        {
            static CALLSITE: ::moai_instrument::__private::EventCallsite =
                ::moai_instrument::__private::EventCallsite::new(#event_type);
            ::moai_instrument::__private::inventory::submit! {
                ::moai_instrument::__private::Callsite::Event(&CALLSITE)
            }
            CALLSITE.increment();
        }
    }
}

/// The compile error next to the unchanged item, so the user sees this one error and not a cascade
/// of follow-ups about a missing fn.
fn error_beside(err: syn::Error, item: &TokenStream) -> TokenStream {
    let err = err.into_compile_error();
    quote!(#err #item)
}
