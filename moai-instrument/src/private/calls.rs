//! Small generic helpers whose bounds steer type inference in the expansions.

/// Calls `f` once. Passing the closure through an `FnOnce` bound makes it an `FnOnce` closure,
/// which may return borrows of the `&'a mut` arguments it captured (an immediately called
/// `(move || ..)()` is inferred `FnMut` and may not).
#[doc(hidden)]
#[inline(always)]
pub fn call_once<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}
