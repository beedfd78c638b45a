//! `ok_if` and `error_if` with paths of every kind, on sync and async fns.
use moai_instrument::timed_query;

mod judge {
    pub fn missing(result: &Result<u32, std::io::Error>) -> bool {
        matches!(result, Err(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

fn empty(rows: &Vec<u32>) -> bool {
    rows.is_empty()
}

#[timed_query(ok_if = judge::missing)]
fn read(n: u32) -> Result<u32, std::io::Error> {
    Ok(n)
}

#[timed_query(query_type = "rows", error_if = self::empty)]
async fn rows() -> Vec<u32> {
    Vec::new()
}

fn main() {
    let _ = read(1);
    let _ = rows();
}
