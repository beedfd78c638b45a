//! Every fn shape the attributes accept compiles and records correctly.

use moai_test_support as common;

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::{metrics, value};
use moai_instrument::{counted_event, timed_query};

fn count(query_type: &str) -> f64 {
    value(&format!(
        r#"moai_flow_query_duration_seconds_count{{query_type="{query_type}"}}"#
    ))
}

fn sum(query_type: &str) -> f64 {
    value(&format!(
        r#"moai_flow_query_duration_seconds_sum{{query_type="{query_type}"}}"#
    ))
}

fn errors(operation: &str) -> f64 {
    value(&format!(
        r#"moai_flow_errors_total{{operation="{operation}"}}"#
    ))
}

fn events(event_type: &str) -> f64 {
    value(&format!(
        r#"moai_flow_events_total{{event_type="{event_type}"}}"#
    ))
}

/// Pending once, then ready: a real suspension point.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

#[timed_query]
fn free_fn(x: u32) -> u32 {
    x + 1
}

#[test]
fn free_fn_uses_its_name_as_query_type() {
    metrics();
    assert_eq!(free_fn(1), 2);
    assert_eq!(count("free_fn"), 1.0);
}

struct Registry {
    agents: Vec<String>,
}

impl Registry {
    #[timed_query(query_type = "shape_ref_self")]
    fn len(&self) -> usize {
        self.agents.len()
    }

    #[timed_query(query_type = "shape_mut_self")]
    #[counted_event(event_type = "shape_register")]
    fn register(&mut self, agent: &str) {
        self.agents.push(agent.to_owned());
    }

    /// Returns a borrow of `self` with its full lifetime: a plain `(move || body)()` closure
    /// would not compile here.
    #[timed_query(query_type = "shape_borrow_self")]
    fn last_mut<'a>(&'a mut self) -> Option<&'a mut String> {
        self.agents.last_mut()
    }

    #[timed_query(query_type = "shape_borrow_self_elided")]
    fn first_mut(&mut self) -> &mut String {
        if self.agents.is_empty() {
            self.agents.push(String::new());
        }
        &mut self.agents[0]
    }
}

#[test]
fn methods_on_ref_and_mut_self_and_borrows_of_self() {
    metrics();
    let mut registry = Registry { agents: Vec::new() };
    registry.register("a");
    registry.register("b");
    assert_eq!(registry.len(), 2);
    registry.last_mut().unwrap().push('!');
    registry.first_mut().push('?');
    assert_eq!(registry.agents, ["a?", "b!"]);
    assert_eq!(count("shape_mut_self"), 2.0);
    assert_eq!(events("shape_register"), 2.0);
    assert_eq!(count("shape_ref_self"), 1.0);
    assert_eq!(count("shape_borrow_self"), 1.0);
    assert_eq!(count("shape_borrow_self_elided"), 1.0);
}

#[timed_query(query_type = "shape_borrow_arg")]
fn longest<'a>(items: &'a mut [String]) -> &'a mut String {
    let mut best = 0;
    for (i, item) in items.iter().enumerate() {
        if item.len() > items[best].len() {
            best = i;
        }
    }
    &mut items[best]
}

#[test]
fn fn_returning_a_borrow_of_a_mut_argument() {
    metrics();
    let mut items = vec!["a".to_owned(), "abc".to_owned()];
    longest(&mut items).push('d');
    assert_eq!(items[1], "abcd");
    assert_eq!(count("shape_borrow_arg"), 1.0);
}

#[timed_query(query_type = "shape_generic")]
fn describe_all<T, I>(items: I) -> Vec<String>
where
    T: std::fmt::Display,
    I: IntoIterator<Item = T>,
{
    items.into_iter().map(|t| t.to_string()).collect()
}

#[timed_query(query_type = "shape_impl_trait")]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[timed_query(query_type = "shape_impl_trait_in_result")]
fn parsed(input: &str) -> Result<impl Iterator<Item = u32> + '_, std::num::ParseIntError> {
    let first: u32 = input.split(',').next().unwrap_or_default().parse()?;
    Ok(input.split(',').map(move |_| first))
}

#[test]
fn generic_fns_and_impl_trait_returns() {
    metrics();
    assert_eq!(describe_all([1, 2]), ["1", "2"]);
    assert_eq!(describe_all(vec!["x"]), ["x"]);
    assert_eq!(evens(5).collect::<Vec<_>>(), [0, 2, 4]);
    assert_eq!(parsed("4,5").unwrap().collect::<Vec<_>>(), [4, 4]);
    assert!(parsed("x,5").is_err());
    assert_eq!(count("shape_generic"), 2.0);
    assert_eq!(count("shape_impl_trait"), 1.0);
    assert_eq!(count("shape_impl_trait_in_result"), 2.0);
    assert_eq!(errors("shape_impl_trait_in_result"), 1.0);
}

/// # Safety
/// `ptr` must point to a live `u32`.
#[timed_query(query_type = "shape_unsafe")]
unsafe fn read_raw(ptr: *const u32) -> u32 {
    // SAFETY: the caller promises `ptr` is valid.
    unsafe { *ptr }
}

mod inner {
    use moai_instrument::timed_query;

    #[timed_query(query_type = "shape_pub_crate")]
    pub(crate) fn visible_in_crate() -> bool {
        true
    }
}

#[test]
fn unsafe_and_restricted_visibility() {
    metrics();
    let x = 7u32;
    // SAFETY: `x` is alive for the call.
    assert_eq!(unsafe { read_raw(&x) }, 7);
    assert!(inner::visible_in_crate());
    assert_eq!(count("shape_unsafe"), 1.0);
    assert_eq!(count("shape_pub_crate"), 1.0);
}

#[derive(Debug)]
struct StoreError(&'static str);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<std::num::ParseIntError> for StoreError {
    fn from(_: std::num::ParseIntError) -> Self {
        StoreError("not a number")
    }
}

#[timed_query(query_type = "shape_early_return")]
fn early_return(x: i32) -> Result<i32, StoreError> {
    if x < 0 {
        return Err(StoreError("negative"));
    }
    if x == 0 {
        return Ok(0);
    }
    Ok(x * 2)
}

#[timed_query(query_type = "shape_question_mark")]
fn question_mark(input: &str) -> Result<i32, StoreError> {
    let n: i32 = input.parse()?;
    Ok(n)
}

#[timed_query(query_type = "shape_io_result")]
fn io_alias(fail: bool) -> std::io::Result<()> {
    if fail {
        Err(std::io::Error::other("disk full"))
    } else {
        Ok(())
    }
}

#[test]
fn early_return_and_question_mark_are_measured_and_errors_counted() {
    metrics();
    assert!(early_return(-1).is_err());
    assert_eq!(early_return(0).unwrap(), 0);
    assert_eq!(early_return(2).unwrap(), 4);
    assert!(question_mark("x").is_err());
    assert!(question_mark("x").is_err());
    assert_eq!(question_mark("3").unwrap(), 3);
    assert!(io_alias(true).is_err());
    assert!(io_alias(false).is_ok());
    assert_eq!(
        (count("shape_early_return"), errors("shape_early_return")),
        (3.0, 1.0)
    );
    assert_eq!(
        (count("shape_question_mark"), errors("shape_question_mark")),
        (3.0, 2.0)
    );
    assert_eq!(
        (count("shape_io_result"), errors("shape_io_result")),
        (2.0, 1.0)
    );
}

#[timed_query(query_type = "shape_panic")]
fn panics(should: bool) -> u8 {
    if should {
        panic!("boom");
    }
    1
}

#[test]
fn a_panic_is_recorded_and_goes_on() {
    metrics();
    let result = std::panic::catch_unwind(|| panics(true));
    let message = result.unwrap_err();
    assert_eq!(message.downcast_ref::<&str>(), Some(&"boom"));
    assert_eq!(panics(false), 1);
    assert_eq!(count("shape_panic"), 2.0);
    assert_eq!(errors("shape_panic"), 0.0);
}

#[timed_query(query_type = "shape_async")]
#[counted_event(event_type = "shape_async_started")]
async fn async_work(fail: bool) -> Result<u32, StoreError> {
    YieldOnce(false).await;
    std::thread::sleep(Duration::from_millis(10));
    if fail {
        return Err(StoreError("async failure"));
    }
    let parsed: u32 = "5".parse()?;
    Ok(parsed)
}

#[test]
fn async_fn_times_the_awaited_work_not_the_creation() {
    metrics();
    let future = async_work(false);
    // Time spent between creating the future and polling it is not the query's.
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(
        events("shape_async_started"),
        0.0,
        "counted only once it runs"
    );
    let started = Instant::now();
    assert_eq!(block_on(future).unwrap(), 5);
    let awaited = started.elapsed().as_secs_f64();
    assert!(block_on(async_work(true)).is_err());
    assert_eq!(count("shape_async"), 2.0);
    assert_eq!(errors("shape_async"), 1.0);
    assert_eq!(events("shape_async_started"), 2.0);
    let total = sum("shape_async");
    assert!(total >= 0.020, "two calls of at least 10 ms each: {total}");
    assert!(
        total < awaited + 0.030,
        "creation time leaked into the measurement: {total}"
    );
}

#[timed_query(query_type = "shape_dropped_future")]
async fn never_finishes() {
    YieldOnce(false).await;
    std::future::pending::<()>().await;
}

#[test]
fn a_future_dropped_before_completion_is_recorded_once() {
    metrics();
    {
        let mut future = Box::pin(never_finishes());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert_eq!(
            count("shape_dropped_future"),
            0.0,
            "not recorded while still running"
        );
    }
    assert_eq!(count("shape_dropped_future"), 1.0);
    // A future that is never polled never started: nothing to record.
    drop(never_finishes());
    assert_eq!(count("shape_dropped_future"), 1.0);
}

#[async_trait::async_trait]
trait AgentStore {
    async fn fetch(&self, id: u32) -> Result<String, StoreError>;
    async fn touch(&mut self);
}

struct MemoryStore {
    touched: u32,
}

#[async_trait::async_trait]
impl AgentStore for MemoryStore {
    #[timed_query(query_type = "shape_async_trait")]
    async fn fetch(&self, id: u32) -> Result<String, StoreError> {
        YieldOnce(false).await;
        std::thread::sleep(Duration::from_millis(5));
        if id == 0 {
            return Err(StoreError("no agent 0"));
        }
        Ok(format!("agent-{id}"))
    }

    #[counted_event(event_type = "shape_async_trait_touch")]
    #[timed_query(query_type = "shape_async_trait_touch")]
    async fn touch(&mut self) {
        self.touched += 1;
    }
}

#[test]
fn async_trait_methods_time_the_inner_future() {
    metrics();
    let mut store = MemoryStore { touched: 0 };
    let future = store.fetch(1);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(block_on(future).unwrap(), "agent-1");
    assert!(block_on(store.fetch(0)).is_err());
    block_on(store.touch());
    assert_eq!(store.touched, 1);
    assert_eq!(count("shape_async_trait"), 2.0);
    assert_eq!(errors("shape_async_trait"), 1.0);
    let total = sum("shape_async_trait");
    assert!(
        (0.010..0.030).contains(&total),
        "two 5 ms calls, creation excluded: {total}"
    );
    assert_eq!(count("shape_async_trait_touch"), 1.0);
    assert_eq!(events("shape_async_trait_touch"), 1.0);
}

/// Native `async fn` in a trait (no `#[async_trait]`): the attribute sees a plain `async fn`.
trait NativeStore {
    async fn load(&self, id: u32) -> Result<u32, StoreError>;
}

impl NativeStore for MemoryStore {
    #[timed_query(query_type = "shape_native_async_trait")]
    async fn load(&self, id: u32) -> Result<u32, StoreError> {
        YieldOnce(false).await;
        if id == 0 {
            Err(StoreError("no agent 0"))
        } else {
            Ok(id + self.touched)
        }
    }
}

#[test]
fn native_async_trait_methods() {
    metrics();
    let store = MemoryStore { touched: 1 };
    assert_eq!(block_on(store.load(2)).unwrap(), 3);
    assert!(block_on(store.load(0)).is_err());
    assert_eq!(count("shape_native_async_trait"), 2.0);
    assert_eq!(errors("shape_native_async_trait"), 1.0);
}

struct Event {
    kind: String,
}

#[counted_event(event_type = event.kind.as_str())]
fn handle(event: &Event) -> usize {
    event.kind.len()
}

#[counted_event]
fn heartbeat() {}

#[counted_event(event_type = "shape_stacked")]
#[timed_query(query_type = "shape_stacked")]
fn stacked(fail: bool) -> Result<(), StoreError> {
    if fail {
        Err(StoreError("stacked"))
    } else {
        Ok(())
    }
}

#[test]
fn counted_event_literal_default_and_expression_labels() {
    metrics();
    for kind in ["shape_spawn", "shape_complete", "shape_spawn"] {
        handle(&Event {
            kind: kind.to_owned(),
        });
    }
    heartbeat();
    heartbeat();
    assert!(stacked(true).is_err());
    assert!(stacked(false).is_ok());
    assert_eq!(events("shape_spawn"), 2.0);
    assert_eq!(events("shape_complete"), 1.0);
    assert_eq!(events("heartbeat"), 2.0);
    assert_eq!(events("shape_stacked"), 2.0);
    assert_eq!(
        (count("shape_stacked"), errors("shape_stacked")),
        (2.0, 1.0)
    );
}

#[timed_query(query_type = "shape_never_called")]
fn never_called() {}

#[counted_event(event_type = "shape_never_counted")]
fn never_counted() {}

#[test]
fn every_callsite_appears_at_zero_before_its_first_call() {
    let exposition = metrics().render();
    assert_eq!(
        common::sample(
            &exposition,
            r#"moai_flow_events_total{event_type="shape_never_counted"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        common::sample(
            &exposition,
            r#"moai_flow_errors_total{operation="shape_never_called"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        common::sample(
            &exposition,
            r#"moai_flow_query_duration_seconds_count{query_type="shape_never_called"}"#
        ),
        Some(0.0)
    );
    // Keep the fns used, so the only reason they are in the exposition is their callsite.
    let _ = (never_called as fn(), never_counted as fn());
}
