//! The argument grammar of both attributes, parsed into plain structs and validated before any
//! code is generated, so every mistake is one `syn::Error` on the user's own tokens.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, ExprLit, Lit, LitInt, LitStr, Token};

mod kw {
    syn::custom_keyword!(query_type);
    syn::custom_keyword!(slow_ms);
    syn::custom_keyword!(event_type);
    syn::custom_keyword!(ok_if);
    syn::custom_keyword!(error_if);
}

const TIMED_GRAMMAR: &str = "expected `#[timed_query]` or `#[timed_query(query_type = \"name\", \
     slow_ms = 250, ok_if = path::to_fn)]` (or `error_if = path::to_fn`)";
const COUNTED_GRAMMAR: &str = "expected `#[counted_event]`, `#[counted_event(event_type = \"name\")]` \
     or `#[counted_event(event_type = <expression over the arguments>)]`";

/// `#[timed_query(query_type = "...", slow_ms = N, ok_if = path)]`, every key optional and at
/// most once; `ok_if` and `error_if` exclude each other.
#[derive(Default)]
pub(crate) struct TimedArgs {
    pub(crate) query_type: Option<LitStr>,
    pub(crate) slow_ms: Option<u64>,
    pub(crate) judge: Option<Judge>,
}

/// Who decides whether a return value is a failure, instead of "an `Err` is".
pub(crate) enum Judge {
    /// `ok_if = path`: `path(&value) == true` makes the value a success, an `Err` included.
    OkIf(syn::Path),
    /// `error_if = path`: `path(&value) == true` makes the value a failure, and only then.
    ErrorIf(syn::Path),
}

impl Parse for TimedArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = TimedArgs::default();
        let mut seen_slow_ms = false;
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::query_type) {
                let key: kw::query_type = input.parse()?;
                if args.query_type.is_some() {
                    return Err(duplicate(key, "query_type", TIMED_GRAMMAR));
                }
                input.parse::<Token![=]>()?;
                args.query_type = Some(non_empty(string_literal(input, "query_type")?)?);
            } else if lookahead.peek(kw::slow_ms) {
                let key: kw::slow_ms = input.parse()?;
                if seen_slow_ms {
                    return Err(duplicate(key, "slow_ms", TIMED_GRAMMAR));
                }
                seen_slow_ms = true;
                input.parse::<Token![=]>()?;
                args.slow_ms = Some(milliseconds(input)?);
            } else if lookahead.peek(kw::ok_if) || lookahead.peek(kw::error_if) {
                let key: syn::Ident = input.call(syn::ext::IdentExt::parse_any)?;
                if args.judge.is_some() {
                    return Err(syn::Error::new_spanned(
                        &key,
                        "give one of `ok_if` and `error_if`, once: both decide whether a result \
                         is a failure",
                    ));
                }
                input.parse::<Token![=]>()?;
                let path = judge_path(input, &key)?;
                args.judge = Some(if key == "ok_if" {
                    Judge::OkIf(path)
                } else {
                    Judge::ErrorIf(path)
                });
            } else {
                return Err(unknown_key(input, TIMED_GRAMMAR));
            }
            separator(input)?;
        }
        Ok(args)
    }
}

/// Where `#[counted_event]` takes its `event_type` label from.
pub(crate) enum EventType {
    /// The fn name (no argument given).
    FnName,
    /// A string literal: the label is static, so the callsite caches its counter.
    Literal(LitStr),
    /// Any other expression, evaluated over the arguments on every call.
    Expr(Box<Expr>),
}

pub(crate) struct CountedArgs {
    pub(crate) event_type: EventType,
}

impl Parse for CountedArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut event_type = EventType::FnName;
        while !input.is_empty() {
            if !input.peek(kw::event_type) {
                return Err(unknown_key(input, COUNTED_GRAMMAR));
            }
            let key: kw::event_type = input.parse()?;
            if !matches!(event_type, EventType::FnName) {
                return Err(duplicate(key, "event_type", COUNTED_GRAMMAR));
            }
            input.parse::<Token![=]>()?;
            let expr: Expr = input.parse()?;
            event_type = match expr {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => EventType::Literal(non_empty(s)?),
                Expr::Lit(ExprLit { lit, .. }) => {
                    return Err(syn::Error::new_spanned(
                        lit,
                        "expected a string literal or an expression for `event_type`",
                    ));
                }
                other => EventType::Expr(Box::new(other)),
            };
            separator(input)?;
        }
        Ok(CountedArgs { event_type })
    }
}

/// The path of a `fn(&ReturnType) -> bool` for `ok_if` or `error_if`.
fn judge_path(input: ParseStream<'_>, key: &syn::Ident) -> syn::Result<syn::Path> {
    match input.parse::<Expr>()? {
        Expr::Path(path) if path.qself.is_none() => Ok(path.path),
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "expected the path of a `fn(&ReturnType) -> bool` for `{key}`, \
                 e.g. `{key} = is_not_found`"
            ),
        )),
    }
}

fn string_literal(input: ParseStream<'_>, key: &str) -> syn::Result<LitStr> {
    match input.parse::<Lit>() {
        Ok(Lit::Str(s)) => Ok(s),
        Ok(other) => Err(syn::Error::new_spanned(
            other,
            format!("expected a string literal for `{key}`, e.g. `{key} = \"get_active_agents\"`"),
        )),
        Err(e) => Err(syn::Error::new(
            e.span(),
            format!("expected a string literal for `{key}`"),
        )),
    }
}

fn milliseconds(input: ParseStream<'_>) -> syn::Result<u64> {
    let lit = match input.parse::<Lit>() {
        Ok(Lit::Int(i)) => i,
        Ok(other) => {
            return Err(syn::Error::new_spanned(
                other,
                "expected an integer literal of milliseconds for `slow_ms`, e.g. `slow_ms = 250`",
            ));
        }
        Err(e) => {
            return Err(syn::Error::new(
                e.span(),
                "expected an integer literal of milliseconds for `slow_ms`",
            ));
        }
    };
    parse_millis(&lit)
}

fn parse_millis(lit: &LitInt) -> syn::Result<u64> {
    if !lit.suffix().is_empty() {
        return Err(syn::Error::new_spanned(
            lit,
            "`slow_ms` is a plain number of milliseconds, without a type suffix",
        ));
    }
    match lit.base10_parse::<u64>() {
        Ok(0) => Err(syn::Error::new_spanned(
            lit,
            "`slow_ms` must be at least 1 millisecond",
        )),
        Ok(ms) if ms > u64::MAX / 1_000_000 => Err(syn::Error::new_spanned(
            lit,
            "`slow_ms` is too large to be measured in nanoseconds",
        )),
        other => other,
    }
}

fn non_empty(s: LitStr) -> syn::Result<LitStr> {
    if s.value().trim().is_empty() {
        Err(syn::Error::new_spanned(
            &s,
            "the label value must not be empty: give a name or leave the key out to use the fn name",
        ))
    } else {
        Ok(s)
    }
}

fn duplicate(key: impl quote::ToTokens, name: &str, grammar: &str) -> syn::Error {
    syn::Error::new_spanned(key, format!("duplicate key `{name}`; {grammar}"))
}

fn unknown_key(input: ParseStream<'_>, grammar: &str) -> syn::Error {
    let span = input
        .cursor()
        .token_tree()
        .map_or_else(Span::call_site, |(tt, _)| tt.span());
    match input.fork().parse::<syn::Ident>() {
        Ok(ident) => syn::Error::new(span, format!("unknown key `{ident}`; {grammar}")),
        Err(_) => syn::Error::new(span, grammar),
    }
}

fn separator(input: ParseStream<'_>) -> syn::Result<()> {
    if !input.is_empty() {
        input.parse::<Token![,]>()?;
    }
    Ok(())
}
