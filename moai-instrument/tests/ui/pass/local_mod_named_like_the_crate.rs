//! A module of the user's called `moai_instrument` does not capture the generated paths.

mod moai_instrument {
    pub mod __private {
        pub struct QueryGuard;
        pub struct QueryCallsite;
        pub fn call_once() {}
    }
}

#[::moai_instrument::timed_query]
fn query() -> Result<(), std::fmt::Error> {
    let _ = moai_instrument::__private::QueryGuard;
    Ok(())
}

#[::moai_instrument::counted_event]
fn event() {
    moai_instrument::__private::call_once();
}

fn main() {
    let _ = query();
    event();
}
