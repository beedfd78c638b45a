use moai_instrument::timed_query;

#[timed_query(query_type = "")]
fn get_agent() {}

fn main() {}
