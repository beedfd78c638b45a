//! Small generic helpers whose bounds steer type inference in the expansions.

/// Calls `f` once. Passing the closure through an `FnOnce` bound makes it an `FnOnce` closure,
/// which may return borrows of the `&'a mut` arguments it captured (an immediately called
/// `(move || ..)()` is inferred `FnMut` and may not).
#[doc(hidden)]
#[inline(always)]
pub fn call_once<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// Calls an `ok_if` / `error_if` judge on a fn's return value. The value comes first, so its type
/// fixes `T` and a judge of another type is the error, reported on the judge's path.
#[doc(hidden)]
#[inline]
pub fn judge<T: ?Sized>(value: &T, judge: fn(&T) -> bool) -> bool {
    judge(value)
}
