use moai_instrument::counted_event;

#[counted_event(event_type = code)]
fn handle(code: u32) -> u32 {
    code
}

fn main() {
    let _ = handle(1);
}
