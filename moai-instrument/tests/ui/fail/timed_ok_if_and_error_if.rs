use moai_instrument::timed_query;

fn never(_: &Result<u32, String>) -> bool {
    false
}

#[timed_query(ok_if = never, error_if = never)]
fn get_agent() -> Result<u32, String> {
    Ok(1)
}

fn main() {}
