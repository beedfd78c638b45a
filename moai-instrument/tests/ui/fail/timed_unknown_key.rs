use moai_instrument::timed_query;

#[timed_query(name = "get_agent")]
fn get_agent() {}

fn main() {}
