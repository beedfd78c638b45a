use moai_instrument::timed_query;

#[timed_query(ok_if = "is_not_found")]
fn get_agent() -> Result<u32, String> {
    Ok(1)
}

fn main() {}
