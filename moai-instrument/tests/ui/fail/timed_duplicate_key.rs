use moai_instrument::timed_query;

#[timed_query(query_type = "a", slow_ms = 10, query_type = "b")]
fn get_agent() {}

fn main() {}
