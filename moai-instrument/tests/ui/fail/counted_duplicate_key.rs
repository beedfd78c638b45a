use moai_instrument::counted_event;

#[counted_event(event_type = "spawn", event_type = "complete")]
fn spawn() {}

fn main() {}
