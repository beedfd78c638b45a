use moai_instrument::counted_event;

#[counted_event(event_type = 3)]
fn spawn() {}

fn main() {}
