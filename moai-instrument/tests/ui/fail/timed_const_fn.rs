use moai_instrument::timed_query;

#[timed_query]
const fn answer() -> u32 {
    42
}

fn main() {
    let _ = answer();
}
