//! What `notify` costs the caller, in instructions: a count that a busy machine does not
//! change, where criterion's times here vary by 2× from run to run. 1,000 calls, 20
//! frames deep, in bursts of 100 delivered between them; callgrind counts the calls
//! alone (the closure that makes them):
//!
//! ```text
//! cargo build --release -p bugsnag-core --all-features --example notify_cost
//! valgrind --tool=callgrind --toggle-collect='notify_cost::main::{{closure}}*' \
//!     target/release/examples/notify_cost [plain|traced]
//! ```
//!
//! `plain`: a `ParseIntError` (one exception, the stack captured by the call); `traced`:
//! a `traced_error!` error with an `io::Error` cause (its origin's stack, in both
//! exceptions). Figures in BENCHMARKS.md.
use std::hint::black_box;
use std::time::Duration;

use bugsnag_core::testing::Collector;
use bugsnag_core::{Client, Options};

#[path = "../benches/support/mod.rs"]
mod support;
use support::{deep, load_order};

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let collector = Collector::start();
    let client = Client::new(collector.configuration().without_error_budget());
    let plain = "x".parse::<u8>().unwrap_err();
    let traced = load_order().unwrap_err();
    let call = || match which.as_str() {
        "traced" => drop(black_box(client.notify_with(&traced, Options::new().context("checkout")))),
        _ => drop(black_box(client.notify_with(&plain, Options::new().context("checkout")))),
    };
    for _ in 0..10 {
        for _ in 0..100 {
            deep(20, &mut || call());
        }
        client.flush(Duration::from_secs(30));
    }
}
