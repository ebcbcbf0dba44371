//! Caller-side cost of `notify` for an error raised 20 frames deep, and the cost of
//! serializing a typical event. Run with `cargo bench -p bugsnag-core --all-features`
//! (or `cargo xtask bench`); figures are recorded in BENCHMARKS.md.
#![allow(missing_docs)] // criterion_group! generates undocumented functions.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bugsnag_core::testing::Collector;
use bugsnag_core::{Client, Decision, Options};
use bugsnag_core::{Stackframe, Stacktrace};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;

mod support;
use support::{deep, load_order, OrderError};

/// Calls timed between two flushes: few enough that the queue never fills, so every
/// call measured does the whole caller-side work (a call that finds the queue full
/// returns early and would flatter the figure).
const BURST: u64 = 200;

/// Makes that many calls; returns the time they took.
type TimedBurst<'a> = dyn Fn(u64) -> Duration + 'a;

fn notify(c: &mut Criterion) {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().without_error_budget());
    let err = "x".parse::<u8>().unwrap_err();
    let options = || Options::new().context("checkout").add_metadata_tab("order", json!({"id": 42, "items": 3}));
    let burst = |burst: u64| {
        let started = Instant::now();
        for _ in 0..burst {
            deep(20, &mut || {
                let _ = black_box(client.notify_with(&err, options()));
            });
        }
        started.elapsed()
    };
    // A returned error as a service reports it: made (with its origin) 20 frames deep,
    // reported with its cause; the origin search and both exceptions' stacks are timed.
    let returned = deep_error();
    let returned_burst = |burst: u64| {
        let started = Instant::now();
        for _ in 0..burst {
            deep(20, &mut || {
                let _ = black_box(client.notify_with(&returned, options()));
            });
        }
        started.elapsed()
    };
    let mut cases: Vec<(&str, Box<TimedBurst<'_>>)> = vec![
        ("notify: error 20 frames deep (caller side)", Box::new(burst)),
        ("notify: a returned traced_error! error with its cause (caller side)", Box::new(returned_burst)),
    ];
    // The same calls inside an active, sampled OpenTelemetry span (each event then
    // carries its ids): what linking to traces adds.
    #[cfg(feature = "opentelemetry")]
    {
        use opentelemetry::trace::{Tracer, TracerProvider};
        let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder().build().tracer("bench");
        let traced = move |calls: u64| tracer.in_span("checkout", |_| burst(calls));
        cases.push(("notify: error 20 frames deep, inside an OpenTelemetry span", Box::new(traced)));
    }
    for (name, timed) in cases {
        c.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let calls = left.min(BURST);
                    spent += timed(calls);
                    // Delivered before the next burst, untimed: the next calls start with
                    // the delivery thread idle, as in a service whose errors come and go.
                    client.flush(Duration::from_secs(30));
                    left -= calls;
                }
                spent
            })
        });
    }
    let stats = client.stats();
    assert_eq!(stats.dropped(), 0, "every call measured must have done the whole work: {stats:?}");
    eprintln!("notify: {} events queued, {} delivered, none dropped", stats.queued, stats.delivered);
}

/// An `OrderError` made 20 frames deep.
fn deep_error() -> OrderError {
    let made = Mutex::new(None);
    deep(20, &mut || *made.lock().unwrap() = load_order().err());
    made.into_inner().unwrap().expect("load_order fails")
}

/// What linking to traces adds to the caller's side of `notify`: reading the active span.
#[cfg(feature = "opentelemetry")]
fn correlation(c: &mut Criterion) {
    use bugsnag_core::Correlation;
    use opentelemetry::trace::{Tracer, TracerProvider};
    c.bench_function("Correlation::current: no span", |b| b.iter(|| black_box(Correlation::current())));
    let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder().build().tracer("bench");
    tracer.in_span("checkout", |_| {
        assert!(Correlation::current().is_some());
        c.bench_function("Correlation::current: inside a span", |b| b.iter(|| black_box(Correlation::current())));
    });
}

#[cfg(not(feature = "opentelemetry"))]
fn correlation(_: &mut Criterion) {}

#[inline(never)]
fn failing(depth: u32) -> anyhow::Result<()> {
    if depth == 0 {
        anyhow::bail!("could not load the order")
    }
    failing(depth - 1)
}

/// `notify_anyhow` with a captured backtrace, the error given or borrowed; the error is
/// made (and its backtrace captured) outside the timed part.
fn notify_anyhow(c: &mut Criterion) {
    std::env::set_var("RUST_LIB_BACKTRACE", "1");
    let collector = Collector::start();
    let client = Client::new(collector.configuration().without_error_budget());
    for given in [true, false] {
        let name = if given { "notify_anyhow: error given" } else { "notify_anyhow: error borrowed" };
        c.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for n in 0..iters {
                    let err = failing(20).unwrap_err();
                    let started = Instant::now();
                    let _ = if given { client.notify_anyhow(err) } else { client.notify_anyhow(&err) };
                    spent += started.elapsed();
                    if n % BURST == BURST - 1 {
                        client.flush(Duration::from_secs(30));
                    }
                }
                client.flush(Duration::from_secs(30));
                spent
            })
        });
    }
    assert_eq!(client.stats().dropped(), 0);
}

fn serialize(c: &mut Criterion) {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().without_error_budget());
    let spent = Arc::new(Mutex::new(Duration::ZERO));
    let sink = spent.clone();
    client.before_notify(move |event| {
        event.exceptions[0].stacktrace = Stacktrace::from_frames(sample_frames());
        let started = Instant::now();
        black_box(serde_json::to_vec(&*event).unwrap());
        *sink.lock().unwrap() += started.elapsed();
        Decision::Drop
    });
    let err = "x".parse::<u8>().unwrap_err();
    c.bench_function("serialize: event with 20 frames, code and metadata", |b| {
        b.iter_custom(|iters| {
            *spent.lock().unwrap() = Duration::ZERO;
            for _ in 0..iters {
                let _ = client
                    .notify_with(&err, Options::new().add_metadata_tab("order", json!({"id": 42, "items": [1, 2, 3]})));
            }
            *spent.lock().unwrap()
        })
    });
}

fn sample_frames() -> Vec<Stackframe> {
    (0..20)
        .map(|i| {
            let mut frame = Stackframe::new(
                format!("src/orders/handler_{i}.rs"),
                40 + i,
                format!("my_app::orders::handler_{i}::process"),
            );
            frame.column_number = Some(9);
            frame.in_project = i < 10;
            frame.code = (i < 10).then(|| {
                (37 + i..=43 + i)
                    .map(|n| (n.to_string(), json!(format!("    let total = order.total({n})?;"))))
                    .collect()
            });
            frame
        })
        .collect()
}

/// Adding feature flags one by one to a client (whose flags every report reads without a
/// lock) must stay linear: the time per flag at 20,000 flags may not be more than 8 times
/// that at 1,000 (a copy of the whole set per flag made it 15 times and more: 67 µs a
/// flag at 1,000, 1 ms at 20,000).
fn feature_flags(_: &mut Criterion) {
    let per_flag = |count: u32| {
        let client = Client::new(bugsnag_core::Configuration::default());
        let started = Instant::now();
        for n in 0..count {
            client.add_feature_flag(format!("flag-{n}"), Some("on"));
        }
        started.elapsed() / count
    };
    let (small, large, huge) = (per_flag(1_000), per_flag(20_000), per_flag(100_000));
    eprintln!("feature flags, per flag added one by one: 1,000 flags {small:?}, 20,000 {large:?}, 100,000 {huge:?}");
    assert!(large < small * 8, "adding flags grows faster than linearly: {small:?} at 1,000, {large:?} at 20,000");
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = notify, correlation, notify_anyhow, serialize, feature_flags
}
criterion_main!(benches);
