//! The item an attribute is applied to: checked to be a runtime fn with a body, and split into the
//! pieces the expansions reassemble (outer attributes, signature, inner attributes, statements).

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::visit_mut::VisitMut;
use syn::{
    AttrStyle, Attribute, Block, Expr, ItemFn, ReturnType, Signature, Stmt, Type, Visibility,
};

pub(crate) struct TargetFn {
    pub(crate) outer_attrs: Vec<Attribute>,
    pub(crate) inner_attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) block: Block,
}

impl TargetFn {
    /// Parses `item` as a fn with a body; anything else is an error naming what was found.
    pub(crate) fn parse(item: TokenStream, macro_name: &str) -> syn::Result<Self> {
        let func: ItemFn = syn::parse2(item.clone()).map_err(|_| not_a_fn(&item, macro_name))?;
        if let Some(constness) = &func.sig.constness {
            return Err(syn::Error::new_spanned(
                constness,
                format!(
                    "`#[{macro_name}]` cannot be applied to a `const fn`: it records metrics at run time"
                ),
            ));
        }
        let (inner_attrs, outer_attrs) = func
            .attrs
            .into_iter()
            .partition(|a| matches!(a.style, AttrStyle::Inner(_)));
        Ok(TargetFn {
            outer_attrs,
            inner_attrs,
            vis: func.vis,
            sig: func.sig,
            block: *func.block,
        })
    }

    /// The fn re-emitted with `body` (a braced block's contents) in place of the original block.
    pub(crate) fn with_body(&self, body: TokenStream) -> TokenStream {
        let TargetFn {
            outer_attrs,
            inner_attrs,
            vis,
            sig,
            ..
        } = self;
        quote! {
            #(#outer_attrs)*
            #vis #sig {
                #(#inner_attrs)*
                #body
            }
        }
    }

    /// The fn name, the default label value of both attributes.
    pub(crate) fn name(&self) -> String {
        let name = self.sig.ident.to_string();
        name.strip_prefix("r#")
            .map_or_else(|| name.clone(), str::to_owned)
    }

    /// [`TargetFn::name`] as a string literal spanned on the fn's name.
    pub(crate) fn name_literal(&self) -> syn::LitStr {
        syn::LitStr::new(&self.name(), self.sig.ident.span())
    }

    /// The async block an `#[async_trait]` expansion returns, `Box::pin(async move { .. })` as the
    /// last statement of a plain fn. The attribute must wrap that block, not the fn, or it would
    /// time the creation of the future instead of the awaited work.
    pub(crate) fn async_trait_block(&mut self) -> Option<&mut Block> {
        if self.sig.asyncness.is_some() {
            return None;
        }
        let Some(Stmt::Expr(Expr::Call(call), None)) = self.block.stmts.last_mut() else {
            return None;
        };
        let Expr::Path(func) = &*call.func else {
            return None;
        };
        let segments: Vec<String> = func
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        if !segments.ends_with(&["Box".to_owned(), "pin".to_owned()]) || call.args.len() != 1 {
            return None;
        }
        match call.args.first_mut() {
            Some(Expr::Async(async_block)) if async_block.capture.is_some() => {
                Some(&mut async_block.block)
            }
            _ => None,
        }
    }

    /// The declared return type, usable as a `let` annotation: `impl Trait` cannot be written in
    /// that position, so each one becomes `_`. `None` for `-> !`, which needs no wrapping.
    pub(crate) fn output_annotation(&self) -> Option<TokenStream> {
        match &self.sig.output {
            ReturnType::Default => Some(quote!(())),
            ReturnType::Type(_, ty) if matches!(**ty, Type::Never(_)) => None,
            ReturnType::Type(_, ty) => {
                let mut ty = (**ty).clone();
                ImplTraitToInfer.visit_type_mut(&mut ty);
                Some(ty.into_token_stream())
            }
        }
    }
}

struct ImplTraitToInfer;

impl VisitMut for ImplTraitToInfer {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(it) = ty {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: syn::Token![_](syn::spanned::Spanned::span(&it.impl_token)),
            });
        } else {
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
}

/// The error for an item that is not a fn with a body, spanned on its keyword and name (for
/// example `struct Agent`), so the message sits on one line of the user's code.
fn not_a_fn(item: &TokenStream, macro_name: &str) -> syn::Error {
    let message = format!(
        "`#[{macro_name}]` can only be applied to a fn with a body (free fn, method or async fn)"
    );
    let mut tokens = item.clone().into_iter().peekable();
    let mut head = TokenStream::new();
    while let Some(tt) = tokens.next() {
        match &tt {
            // Outer attributes: `#` followed by a bracketed group.
            TokenTree::Punct(p) if p.as_char() == '#' => {
                tokens.next();
            }
            TokenTree::Ident(i) if i == "pub" => {
                if let Some(TokenTree::Group(g)) = tokens.peek()
                    && g.delimiter() == Delimiter::Parenthesis
                {
                    tokens.next();
                }
            }
            TokenTree::Ident(_) => {
                head.extend([tt]);
                if let Some(name @ TokenTree::Ident(_)) = tokens.next() {
                    head.extend([name]);
                }
                break;
            }
            _ => {
                head.extend([tt]);
                break;
            }
        }
    }
    if head.is_empty() {
        syn::Error::new(proc_macro2::Span::call_site(), message)
    } else {
        syn::Error::new_spanned(head, message)
    }
}
