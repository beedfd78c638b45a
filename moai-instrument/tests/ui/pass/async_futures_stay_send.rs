//! The instrumented futures stay `Send`, so they can be spawned on multi-threaded runtimes.
use moai_instrument::{counted_event, timed_query};

#[derive(Debug)]
struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

#[timed_query]
#[counted_event]
async fn fetch(id: u32) -> Result<u32, Failed> {
    if id == 0 { Err(Failed) } else { Ok(id) }
}

#[async_trait::async_trait]
trait Store {
    async fn get(&self, id: u32) -> Result<u32, Failed>;
}

struct Memory;

#[async_trait::async_trait]
impl Store for Memory {
    #[timed_query(query_type = "store_get")]
    async fn get(&self, id: u32) -> Result<u32, Failed> {
        fetch(id).await
    }
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    assert_send(fetch(1));
    assert_send(Memory.get(1));
}
