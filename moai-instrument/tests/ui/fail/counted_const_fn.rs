use moai_instrument::counted_event;

#[counted_event]
pub(crate) const fn spawn() {}

fn main() {
    spawn();
}
