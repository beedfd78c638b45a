//! Support for the code the macros generate, exported as `moai_instrument::__private`. Not public
//! API: names and signatures may change in any release.

mod calls;
mod outcome;
mod query_guard;

pub use crate::__moai_observe_outcome as observe_outcome;
pub use crate::recorder::callsite::{
    Callsite, EventCallsite, Location, QueryCallsite, count_event,
};
pub use calls::{call_once, judge};
pub use inventory;
pub use outcome::{ObserveDisplay, ObserveNothing, ObserveOpaque, ObserveStdError, Outcome};
pub use query_guard::QueryGuard;

pub(crate) use query_guard::set_default_slow_query;
