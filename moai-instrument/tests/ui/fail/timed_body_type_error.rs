use moai_instrument::timed_query;

#[timed_query]
fn count_agents() -> u32 {
    let agents = vec!["a", "b"];
    agents.len()
}

fn main() {
    let _ = count_agents();
}
