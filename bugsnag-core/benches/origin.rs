//! What an origin costs where errors are made (every `?` into a traced type pays it,
//! handled errors included), side by side with the walk every capture made before
//! (`backtrace::trace`, libgcc's unwinder) in the same run. Each case runs 20 frames
//! below the benchmark loop. Run with
//! `cargo bench -p bugsnag-core --all-features --bench origin`; to see anyhow's own
//! capture, run it again with `RUST_LIB_BACKTRACE=1`. Besides criterion's means, each
//! case prints p50/p99 of 20,000 calls timed one by one (each timing adds ~20 ns).
#![allow(missing_docs)] // criterion_group! generates undocumented functions.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bugsnag_core::testing::Collector;
use bugsnag_core::{Client, Origin, Traced};
use criterion::{criterion_group, criterion_main, Criterion};

#[allow(dead_code)] // Only `deep` is used here.
mod support;
use support::deep;

#[derive(Debug, thiserror::Error)]
enum AppErrorKind {
    #[error("storage failed")]
    Io(#[from] std::io::Error),
}

bugsnag_core::traced_error!(
    struct AppError(AppErrorKind);
);

#[inline(never)]
fn fails() -> Result<(), std::io::Error> {
    Err(std::io::Error::from(std::io::ErrorKind::NotFound))
}

#[inline(never)]
fn question_mark() -> Result<(), AppError> {
    fails()?;
    Ok(())
}

#[inline(never)]
fn question_mark_anyhow() -> anyhow::Result<()> {
    fails()?;
    Ok(())
}

/// The capture every report made before origins: `backtrace::trace` into a buffer.
fn libgcc_walk() -> usize {
    let mut ips = Vec::with_capacity(256);
    backtrace::trace(|frame| {
        ips.push(frame.ip() as usize);
        ips.len() < 256
    });
    ips.len()
}

/// One case: a call to time.
type Case = dyn FnMut();

/// p50 and p99 of `f` called one by one, 20 frames deep.
fn percentiles(name: &str, f: &mut dyn FnMut()) {
    const CALLS: usize = 20_000;
    let mut times = Vec::with_capacity(CALLS);
    deep(20, &mut || {
        for _ in 0..CALLS {
            let started = Instant::now();
            f();
            times.push(started.elapsed());
        }
    });
    times.sort();
    eprintln!("{name}: p50 {:?}, p99 {:?} ({CALLS} calls)", times[CALLS / 2], times[CALLS * 99 / 100]);
}

fn origin(c: &mut Criterion) {
    // Stacks are captured once a client that can send exists; its symbols thread builds
    // the fast walk's index at its start.
    let collector = Collector::start();
    let _client = Client::new(collector.configuration());
    let ready = Instant::now();
    while ready.elapsed() < Duration::from_secs(2) {
        black_box(Origin::capture());
    }
    let frames = {
        let mut n = 0;
        deep(20, &mut || n = libgcc_walk());
        n
    };
    eprintln!("the stack below each case: {frames} frames in all (libgcc's count)");

    let mut cases: Vec<(&str, Box<Case>)> = vec![
        ("origin: Origin::capture()", Box::new(|| drop(black_box(Origin::capture())))),
        (
            "origin: backtrace::trace, the walk before (libgcc)",
            Box::new(|| {
                black_box(libgcc_walk());
            }),
        ),
        ("origin: `?` into a traced_error! type", Box::new(|| drop(black_box(question_mark())))),
        ("origin: `?` into Traced<io::Error>", Box::new(|| drop(black_box(Traced::from(fails().unwrap_err()))))),
        ("origin: `?` into anyhow::Error", Box::new(|| drop(black_box(question_mark_anyhow())))),
    ];
    let err = question_mark().unwrap_err();
    cases.push(("origin: Origin::find in a reported error", Box::new(move || drop(black_box(Origin::find(&err))))));
    for (name, f) in &mut cases {
        c.bench_function(name, |b| b.iter_custom(|iters| timed(iters, f)));
        percentiles(name, f);
    }
}

/// `iters` calls of `f`, 20 frames deep.
fn timed(iters: u64, f: &mut dyn FnMut()) -> Duration {
    let mut spent = Duration::ZERO;
    deep(20, &mut || {
        let started = Instant::now();
        for _ in 0..iters {
            f();
        }
        spent = started.elapsed();
    });
    spent
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = origin
}
criterion_main!(benches);
