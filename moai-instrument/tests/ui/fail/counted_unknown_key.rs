use moai_instrument::counted_event;

#[counted_event(kind = "spawn")]
fn spawn() {}

fn main() {}
