use moai_instrument::timed_query;

#[timed_query]
async fn count_agents(fail: bool) -> Result<u32, String> {
    if fail {
        return Err("failed".to_owned());
    }
    let agents = vec!["a", "b"];
    Ok(agents.len())
}

fn main() {
    let _ = count_agents(false);
}
