//! What `#[timed_query]` learns from a fn's return value, chosen at compile time by autoref
//! specialization: the expansion calls `(&&&&Outcome(&value)).__moai_observe(&guard)`, and method
//! lookup takes the first impl that applies, from the most specific to the least:
//!
//! 1. `Result<T, E>` with `E: Error + 'static`: counted, logged with its source chain;
//! 2. `Result<T, E>` with `E: Display`: counted, logged with its text;
//! 3. any other `Result<T, E>`: counted, logged with the error's type name;
//! 4. anything else: never an error.
//!
//! This follows type aliases (`io::Result<T>`, `anyhow::Result<T>`) that a syntactic check of the
//! return type would miss.

use std::error::Error;
use std::fmt::Display;

use super::query_guard::QueryGuard;

#[doc(hidden)]
pub struct Outcome<'a, T: ?Sized>(pub &'a T);

#[doc(hidden)]
pub trait ObserveStdError {
    fn __moai_observe(&self, guard: &QueryGuard) -> bool;
}

impl<T, E: Error + 'static> ObserveStdError for &&&Outcome<'_, Result<T, E>> {
    fn __moai_observe(&self, guard: &QueryGuard) -> bool {
        if let Err(error) = self.0 {
            guard.note_error(error);
        }
        self.0.is_err()
    }
}

#[doc(hidden)]
pub trait ObserveDisplay {
    fn __moai_observe(&self, guard: &QueryGuard) -> bool;
}

impl<T, E: Display> ObserveDisplay for &&Outcome<'_, Result<T, E>> {
    fn __moai_observe(&self, guard: &QueryGuard) -> bool {
        if let Err(error) = self.0 {
            guard.note_display(error);
        }
        self.0.is_err()
    }
}

#[doc(hidden)]
pub trait ObserveOpaque {
    fn __moai_observe(&self, guard: &QueryGuard) -> bool;
}

impl<T, E> ObserveOpaque for &Outcome<'_, Result<T, E>> {
    fn __moai_observe(&self, guard: &QueryGuard) -> bool {
        if self.0.is_err() {
            guard.note_opaque(std::any::type_name::<E>());
        }
        self.0.is_err()
    }
}

#[doc(hidden)]
pub trait ObserveNothing {
    fn __moai_observe(&self, guard: &QueryGuard) -> bool;
}

impl<T: ?Sized> ObserveNothing for Outcome<'_, T> {
    #[inline]
    fn __moai_observe(&self, _guard: &QueryGuard) -> bool {
        false
    }
}

/// `observe_outcome!(guard, value)`: runs the most specific observer for `value`'s type; `true`
/// when it counted a failure (an `Err`).
#[doc(hidden)]
#[macro_export]
macro_rules! __moai_observe_outcome {
    ($guard:ident, $value:ident) => {{
        #[allow(unused_imports)]
        use $crate::__private::{
            ObserveDisplay as _, ObserveNothing as _, ObserveOpaque as _, ObserveStdError as _,
        };
        (&&&&$crate::__private::Outcome(&$value)).__moai_observe(&$guard)
    }};
}
