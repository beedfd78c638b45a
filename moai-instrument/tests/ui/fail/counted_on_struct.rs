use moai_instrument::counted_event;

#[counted_event]
struct Event;

fn main() {}
