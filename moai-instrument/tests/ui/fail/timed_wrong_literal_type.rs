use moai_instrument::timed_query;

#[timed_query(query_type = 5)]
fn by_number() {}

#[timed_query(slow_ms = "100")]
fn by_string() {}

fn main() {}
