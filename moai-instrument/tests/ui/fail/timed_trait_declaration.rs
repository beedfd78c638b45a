use moai_instrument::timed_query;

trait Store {
    #[timed_query]
    fn get(&self) -> u32;
}

fn main() {}
