//! A panicking task outside any adapter (a `tokio::spawn`ed job) is reported by the
//! panic hook without holding up its runtime worker, even while Bugsnag hangs. In its
//! own test binary because the hook is process-wide.

use std::sync::mpsc;
use std::time::Duration;

use bugsnag_core::testing::{Collector, Reply};
use bugsnag_core::Client;

#[test]
fn a_panicking_task_does_not_hold_its_worker_while_bugsnag_hangs() {
    let collector = Collector::start();
    collector.answer_by_default(Reply::hang());
    // A wait in the hook would last a minute: the other task's answer must come long before.
    let client = Client::new(collector.configuration().panic_timeout(Duration::from_secs(60)));
    client.install_panic_hook();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (answered, answer) = mpsc::channel();
    // Both on the one worker, the panicking task first: the other runs only once the
    // worker is free again.
    let panicked = runtime.spawn(async { panic!("job 7 exploded") });
    runtime.spawn(async move { answered.send(()).unwrap() });
    answer.recv_timeout(Duration::from_secs(20)).expect("the worker ran the next task while Bugsnag hung");
    assert!(runtime.block_on(panicked).unwrap_err().is_panic());
    // It was reported all the same: the request reached the (hanging) endpoint.
    let requests = collector.wait_for_requests(1, Duration::from_secs(20));
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].body["events"][0]["exceptions"][0]["message"], "job 7 exploded");
    runtime.shutdown_background();
}
