//! Small generic helpers whose bounds steer type inference in the expansions.

use core::future::Future;

/// Calls `f` once. Passing the closure through an `FnOnce` bound makes it an `FnOnce` closure,
/// which may return borrows of the `&'a mut` arguments it captured (an immediately called
/// `(move || ..)()` is inferred `FnMut` and may not).
#[doc(hidden)]
#[inline(always)]
pub fn call_once<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// Returns `future` unchanged. The `Output = R` bound gives the async block its output type, so
/// `?` and `return` inside it infer as they did in the original `async fn`.
#[doc(hidden)]
#[inline(always)]
pub fn typed_future<R, F: Future<Output = R>>(future: F) -> F {
    future
}
