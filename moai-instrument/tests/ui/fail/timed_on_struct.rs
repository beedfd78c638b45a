use moai_instrument::timed_query;

#[timed_query]
pub struct Agent {
    id: u32,
}

fn main() {
    let _ = Agent { id: 1 }.id;
}
