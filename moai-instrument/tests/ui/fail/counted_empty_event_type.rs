use moai_instrument::counted_event;

#[counted_event(event_type = " ")]
fn spawn() {}

fn main() {}
