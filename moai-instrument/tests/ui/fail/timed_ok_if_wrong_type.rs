use moai_instrument::timed_query;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[timed_query(ok_if = is_zero)]
fn get_agent() -> Result<u32, String> {
    Ok(1)
}

fn main() {}
