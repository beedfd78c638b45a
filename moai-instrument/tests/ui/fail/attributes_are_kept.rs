//! Other attributes survive the expansion: these lints fire only because they do.
#![deny(deprecated, unused_must_use)]

use moai_instrument::{counted_event, timed_query};

/// Looks an agent up.
#[timed_query]
#[deprecated(note = "use get_agent_v2")]
fn get_agent() -> u32 {
    1
}

#[must_use]
#[counted_event]
fn spawn() -> u32 {
    2
}

fn main() {
    get_agent();
    spawn();
}
