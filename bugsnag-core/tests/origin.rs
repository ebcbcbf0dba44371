//! Errors reported far from where they were made start at the line that failed: the
//! origin travels inside the error (`traced_error!`, `Traced`, an `Origin` field) and
//! every event that reaches the collector starts there.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use bugsnag_core::logging::BugsnagTracingLayer;
use bugsnag_core::testing::{self, assert_origin, first_in_project_frame, Collector};
use bugsnag_core::{Client, Configuration, Options, Origin, Outcome, Traced};
use serde_json::Value;
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
enum AppErrorKind {
    #[error("storage failed")]
    Io(#[from] std::io::Error),
    #[error("bad number")]
    Parse(#[from] std::num::ParseIntError),
}

bugsnag_core::traced_error! {
    /// The application's error, as a service would declare it.
    struct AppError(AppErrorKind);
}

#[inline(never)]
fn load_order(line: &mut u32) -> Result<String, AppError> {
    *line = line!() + 1;
    let text = std::fs::read_to_string("/no/such/order")?;
    Ok(text)
}

#[inline(never)]
fn load_customer(line: &mut u32) -> Result<String, AppError> {
    *line = line!() + 1;
    let text = std::fs::read_to_string("/no/such/customer")?;
    Ok(text)
}

#[inline(never)]
fn parse_quantity(line: &mut u32) -> Result<u32, AppError> {
    *line = line!() + 1;
    let quantity = "forty-two".parse::<u32>()?;
    Ok(quantity)
}

/// A handler three calls above the failure: the `?`s on the way up keep the origin.
#[inline(never)]
fn handler(which: u8, line: &mut u32) -> Result<String, AppError> {
    match which {
        0 => load_order(line),
        1 => Ok(load_customer(line)?),
        _ => Ok(parse_quantity(line)?.to_string()),
    }
}

/// The events `report` made arrive: exactly `expected` of them.
fn collect(expected: usize, report: impl FnOnce(&Client)) -> Vec<Value> {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    report(&client);
    assert!(client.flush(WAIT), "delivery did not finish");
    let events = collector.events();
    assert_eq!(events.len(), expected, "{events:#?}");
    events
}

/// Reports like an adapter does: from a function of its own, far from the failure.
#[inline(never)]
fn report_returned(client: &Client, error: &AppError) -> Outcome {
    client.notify(error)
}

#[test]
fn each_error_starts_at_the_line_that_failed() {
    let mut lines = [0; 3];
    let events = collect(3, |client| {
        for which in 0..3 {
            let err = handler(which, &mut lines[which as usize]).unwrap_err();
            assert_eq!(report_returned(client, &err), Outcome::Queued);
        }
    });
    assert_eq!(events.len(), 3, "{events:#?}");
    let by_message = |m: &str| events.iter().find(|e| e["exceptions"][0]["message"] == m).unwrap();
    // Two io errors of one type from two call sites: two first frames, so two groups.
    let storage: Vec<&Value> = events.iter().filter(|e| e["exceptions"][0]["message"] == "storage failed").collect();
    assert_eq!(storage.len(), 2);
    let firsts: Vec<&str> = storage.iter().map(|e| first_in_project_frame(e)["method"].as_str().unwrap()).collect();
    assert!(firsts.contains(&"origin::load_order") && firsts.contains(&"origin::load_customer"), "{firsts:?}");
    for event in &storage {
        let method = first_in_project_frame(event)["method"].as_str().unwrap();
        let line = if method.ends_with("load_order") { lines[0] } else { lines[1] };
        assert_origin(event, method, line);
        assert_eq!(event["exceptions"][0]["errorClass"], "origin::AppErrorKind::Io");
        assert_eq!(event["exceptions"][1]["errorClass"], "std::io::Error");
    }
    assert_origin(by_message("bad number"), "parse_quantity", lines[2]);
    // The reporting site is not above the origin, and the callers follow it.
    for event in &events {
        let methods: Vec<&str> = event["exceptions"][0]["stacktrace"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["method"].as_str().unwrap())
            .collect();
        assert!(!methods.iter().any(|m| m.contains("report_returned")), "{methods:?}");
        assert!(!methods.iter().any(|m| m.contains("convert::From")), "conversions are skipped: {methods:?}");
        assert!(methods.iter().any(|m| m.ends_with("origin::handler")), "the callers follow: {methods:?}");
    }
}

#[inline(never)]
fn read_config(line: &mut u32) -> Result<String, Traced<std::io::Error>> {
    *line = line!() + 1;
    let text = std::fs::read_to_string("/no/such/config")?;
    Ok(text)
}

#[test]
fn traced_wraps_any_error_and_reports_as_it() {
    let mut line = 0;
    let events = collect(1, |client| {
        let err = read_config(&mut line).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(report_traced(client, &err), Outcome::Queued);
    });
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["exceptions"][0]["errorClass"], "std::io::Error", "reported as the io::Error");
    assert_origin(&events[0], "read_config", line);
}

#[inline(never)]
fn report_traced(client: &Client, error: &Traced<std::io::Error>) -> Outcome {
    client.notify(error)
}

/// A `Traced` inside the application's error: the first made is where it failed.
#[inline(never)]
fn start_up(line: &mut u32) -> Result<String, AppError> {
    Ok(read_config(line)?)
}

#[test]
fn of_nested_origins_the_deepest_is_reported() {
    let mut line = 0;
    let events = collect(1, |client| {
        let err = start_up(&mut line).unwrap_err();
        assert!(matches!(err.kind(), AppErrorKind::Io(_)));
        let _ = report_returned(client, &err);
    });
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_origin(&events[0], "read_config", line);
}

/// Two origins one error's `Debug` shows, the later-made printed first: the first made is
/// where it failed.
#[derive(Debug)]
#[allow(dead_code)] // read through Debug, as reporters read them
struct TwoOrigins {
    later: Origin,
    earlier: Origin,
}
impl fmt::Display for TwoOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("two origins")
    }
}
impl Error for TwoOrigins {}

/// An error whose cause carries an origin made after its own: the cause is where it
/// failed, whenever its origin was made.
#[derive(Debug)]
#[allow(dead_code)] // read through Debug, as reporters read them
struct Outer {
    origin: Origin,
    cause: Inner,
}
#[derive(Debug)]
#[allow(dead_code)] // read through Debug, as reporters read them
struct Inner(Origin);
impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outer")
    }
}
impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("inner")
    }
}
impl Error for Outer {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}
impl Error for Inner {}

#[test]
fn within_one_errors_debug_the_first_made_wins_and_along_the_chain_the_deepest() {
    let mut lines = [0; 4];
    let events = collect(2, |client| {
        lines[0] = line!() + 1;
        let earlier = Origin::capture();
        lines[1] = line!() + 1;
        let later = Origin::capture();
        lines[2] = line!() + 1;
        let outer = Origin::capture();
        lines[3] = line!() + 1;
        let inner = Origin::capture(); // made last, but the deepest along source()
        let _ = report_two(client, &TwoOrigins { later, earlier });
        let _ = report_outer(client, &Outer { origin: outer, cause: Inner(inner) });
    });
    assert_eq!(events.len(), 2, "{events:#?}");
    let by_message = |m: &str| events.iter().find(|e| e["exceptions"][0]["message"] == m).unwrap();
    let this = "within_one_errors_debug_the_first_made_wins_and_along_the_chain_the_deepest";
    assert_origin(by_message("two origins"), this, lines[0]);
    assert_origin(by_message("outer"), this, lines[3]);
}

#[inline(never)]
fn report_two(client: &Client, error: &TwoOrigins) -> Outcome {
    client.notify(error)
}

#[inline(never)]
fn report_outer(client: &Client, error: &Outer) -> Outcome {
    client.notify(error)
}

#[test]
fn an_error_made_on_one_thread_keeps_its_origin_on_another() {
    let mut line = 0;
    let events = collect(1, |client| {
        let (err, made_at) = std::thread::spawn(|| {
            let mut line = 0;
            (load_order(&mut line).unwrap_err(), line)
        })
        .join()
        .unwrap();
        line = made_at;
        let _ = report_returned(client, &err);
    });
    assert_origin(&events[0], "load_order", line);
}

#[test]
fn the_per_error_budget_keys_on_the_origin() {
    let collector = Collector::start();
    // One event per group, then nothing more: the same class from two call sites must
    // still send two.
    let client = Client::new(collector.configuration().error_budget(1, 0.0));
    let mut line = 0;
    for _ in 0..3 {
        let _ = report_returned(&client, &load_order(&mut line).unwrap_err());
        let _ = report_returned(&client, &load_customer(&mut line).unwrap_err());
    }
    // Summaries of what was held back come with the flush; the first two are the events.
    assert!(client.flush(WAIT));
    let events = collector.events();
    let sent: Vec<&str> = events
        .iter()
        .filter(|e| e["metaData"]["notifier"]["summary"].is_null())
        .map(|e| first_in_project_frame(e)["method"].as_str().unwrap())
        .collect();
    assert_eq!(sent.len(), 2, "one per call site: {sent:?}");
    assert_ne!(sent[0], sent[1]);
    assert_eq!(client.stats().held_back, 4);
}

#[test]
fn the_tracing_bridge_reports_a_recorded_errors_origin() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let mut line = 0;
    let err = load_order(&mut line).unwrap_err();
    let subscriber = tracing_subscriber::registry().with(BugsnagTracingLayer::with_client(client.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::error!(error = &err as &dyn Error, "could not load the order");
    });
    assert!(client.flush(WAIT));
    let events = collector.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_origin(&events[0], "load_order", line);
}

#[test]
fn anyhow_errors_report_the_origin_inside_them() {
    let mut line = 0;
    let events = collect(1, |client| {
        let err = anyhow::Error::from(load_order(&mut line).unwrap_err()).context("while checking out");
        client.notify_anyhow(err);
    });
    assert_eq!(events[0]["exceptions"][0]["message"], "while checking out");
    assert_origin(&events[0], "load_order", line);
}

#[test]
fn an_origin_held_apart_is_given_with_options() {
    let mut line = 0;
    let events = collect(1, |client| {
        line = line!() + 1;
        let origin = Origin::capture();
        client.notify_message_with("reported later", Options::new().origin(&origin));
    });
    assert_origin(&events[0], "an_origin_held_apart_is_given_with_options", line);
}

/// An error whose `Debug` is hostile: endless output, or a panic.
struct Hostile {
    panics: bool,
}

impl fmt::Debug for Hostile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.panics {
            panic!("Debug panicked");
        }
        loop {
            f.write_str("0123456789abcdef0123456789abcdef")?;
        }
    }
}

impl fmt::Display for Hostile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("hostile")
    }
}

impl Error for Hostile {}

#[test]
fn a_hostile_debug_costs_a_bounded_search_and_the_stack_here() {
    // On a thread of its own: a search without a bound would never end, and must fail
    // the test rather than hang it.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let events = collect(2, |client| {
            let mut line = 0;
            // An origin exists in this process, so errors are searched.
            let _ = load_order(&mut line);
            for panics in [false, true] {
                assert_eq!(Origin::find(&Hostile { panics }).map(|o| o.location().line()), None);
                assert_eq!(report_hostile(client, &Hostile { panics }), Outcome::Queued);
            }
        });
        let _ = done.send(events);
    });
    let events = finished.recv_timeout(Duration::from_secs(120)).expect("the search of an endless Debug ended");
    assert_eq!(events.len(), 2, "{events:#?}");
    for event in &events {
        assert!(first_in_project_frame(event)["method"].as_str().unwrap().ends_with("report_hostile"));
    }
}

#[inline(never)]
fn report_hostile(client: &Client, error: &Hostile) -> Outcome {
    client.notify(error)
}

/// The same program deployed: copied out of the workspace under another name, started in
/// `/`, with a home directory and without. Its frames are in-project from its build, so
/// each error groups at the line that failed.
#[test]
fn deployed_from_root_each_error_groups_at_the_line_that_failed() {
    let mut lines = [0; 2];
    if testing::is_deployed() {
        let client = Client::new(Configuration::from_env());
        for _ in 0..2 {
            let _ = report_returned(&client, &load_order(&mut lines[0]).unwrap_err());
            let _ = report_returned(&client, &load_customer(&mut lines[1]).unwrap_err());
        }
        assert!(client.flush(WAIT));
        return;
    }
    let _ = (load_order(&mut lines[0]), load_customer(&mut lines[1]));
    for home in [true, false] {
        let collector = Collector::start();
        testing::run_deployed("deployed_from_root_each_error_groups_at_the_line_that_failed", collector.url(), home);
        let events = collector.events();
        assert_eq!(events.len(), 4, "{events:#?}");
        testing::assert_groups(&events, &[(file!(), lines[0]), (file!(), lines[1])]);
        for event in &events {
            let innermost = event["exceptions"].as_array().unwrap().last().unwrap();
            assert_eq!(innermost["errorClass"], "std::io::Error");
            let top = first_in_project_frame(event);
            assert_eq!(top["file"], file!(), "relative to the workspace root it was built in: {top:#}");
        }
    }
}

/// `Box<dyn Error + Send + Sync>` is what `lambda_runtime::Error`, tower's `BoxError` and
/// apalis's `BoxDynError` are: an app error boxed directly, or through anyhow, reports
/// from its origin and is named as it is unboxed.
#[test]
fn boxed_errors_keep_their_origin_and_their_name() {
    type BoxError = Box<dyn Error + Send + Sync>;
    let mut line = 0;
    let events = collect(4, |client| {
        let _ = report_returned(client, &load_order(&mut line).unwrap_err());
        let boxed: BoxError = Box::new(load_order(&mut line).unwrap_err());
        let _ = report_boxed(client, &*boxed);
        let through_anyhow: BoxError = anyhow::Error::from(load_order(&mut line).unwrap_err()).into();
        let _ = report_boxed(client, &*through_anyhow);
        let with_context: BoxError = anyhow::Error::from(load_order(&mut line).unwrap_err()).context("checkout").into();
        let _ = report_boxed(client, &*with_context);
    });
    assert_eq!(events.len(), 4, "{events:#?}");
    for event in &events {
        assert_origin(event, "load_order", line);
    }
    // One naming, boxed or not; a context layer is named after the error it wraps.
    let classes: Vec<&str> = events.iter().map(|e| e["exceptions"][0]["errorClass"].as_str().unwrap()).collect();
    assert_eq!(classes, ["origin::AppErrorKind::Io"; 4], "{classes:?}");
    let context = events.iter().find(|e| e["exceptions"][0]["message"] == "checkout").expect("the context layer");
    assert_eq!(context["exceptions"][1]["errorClass"], "origin::AppErrorKind::Io");
}

#[inline(never)]
fn report_boxed(client: &Client, error: &(dyn Error + Send + Sync + 'static)) -> Outcome {
    client.notify(error)
}

/// An error whose `Display` counts its calls.
#[derive(Debug)]
struct Counted;
static DISPLAYED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
impl fmt::Display for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        DISPLAYED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f.write_str("counted")
    }
}
impl Error for Counted {}

/// anyhow's plain `Debug` writes the error's text, then formats its backtrace (which
/// resolves it: 180 ms the first time); its alternate `Debug` writes neither. Searching a
/// boxed anyhow error for its origin, or naming it, must take the alternate one.
#[test]
fn searching_a_boxed_anyhow_error_never_formats_its_text_or_backtrace() {
    let mut line = 0;
    let _ = load_order(&mut line); // an origin exists in this process, so errors are searched
    let boxed: Box<dyn Error + Send + Sync> = anyhow::Error::new(Counted).context("layer").into();
    let before = DISPLAYED.load(std::sync::atomic::Ordering::Relaxed);
    assert!(Origin::find(&*boxed).is_none());
    assert_eq!(bugsnag_core::adapter::class_of_dyn(&*boxed), "anyhow::Error");
    assert_eq!(DISPLAYED.load(std::sync::atomic::Ordering::Relaxed), before, "anyhow's plain Debug was used");
}

/// `.map_err(AppError::from)` calls the conversion through the standard library: the
/// origin is still the line of the `map_err`.
#[inline(never)]
fn load_with_map_err(line: &mut u32) -> Result<Vec<u8>, AppError> {
    *line = line!() + 1;
    let bytes = std::fs::read("/no/such/file").map_err(AppError::from)?;
    Ok(bytes)
}

/// A helper returning `Traced<E>`, its error then converted into the app's error by `?`.
#[inline(never)]
fn start_up_traced(line: &mut u32) -> Result<String, AppError> {
    let text = read_config(line)?;
    Ok(text)
}

#[test]
fn map_err_and_a_traced_helper_keep_the_line_that_failed() {
    let (mut map_err, mut traced) = (0, 0);
    let events = collect(2, |client| {
        let _ = report_returned(client, &load_with_map_err(&mut map_err).unwrap_err());
        let _ = report_returned(client, &start_up_traced(&mut traced).unwrap_err());
    });
    assert_eq!(events.len(), 2, "{events:#?}");
    // Either may arrive first.
    let starting_in = |method: &str| {
        events.iter().find(|e| first_in_project_frame(e)["method"].as_str().unwrap().ends_with(method)).unwrap()
    };
    let mapped = starting_in("load_with_map_err");
    assert_origin(mapped, "load_with_map_err", map_err);
    assert!(!mapped.to_string().contains("ops/function.rs"), "no frame at the std conversion: {mapped:#}");
    assert_origin(starting_in("read_config"), "read_config", traced);
}
