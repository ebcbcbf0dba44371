//! Events linked to their trace (feature `opentelemetry`): the ids that reach the
//! collector are exactly those of the span the OpenTelemetry SDK exported.

use std::time::Duration;

use bugsnag_core::logging::BugsnagTracingLayer;
use bugsnag_core::testing::Collector;
use bugsnag_core::{Client, Correlation, InCurrentScope, Options};
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider, SpanData};
use serde_json::{json, Value};
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(20);

/// A tracer provider exporting to memory: what a service's OpenTelemetry set-up would
/// send to its collector.
fn provider(sampler: Sampler) -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_sampler(sampler).with_simple_exporter(exporter.clone()).build();
    (provider, exporter)
}

/// The one exported span named `name`.
fn exported(exporter: &InMemorySpanExporter, name: &str) -> SpanData {
    let spans = exporter.get_finished_spans().unwrap();
    let mut named = spans.into_iter().filter(|s| s.name == name);
    let span = named.next().unwrap_or_else(|| panic!("span {name} was exported"));
    assert!(named.next().is_none(), "one span {name}");
    span
}

/// The correlation an event of that span must carry.
fn link_of(span: &SpanData) -> Value {
    json!({
        "traceId": format!("{:032x}", span.span_context.trace_id()),
        "spanId": format!("{:016x}", span.span_context.span_id()),
    })
}

fn event<'a>(events: &'a [Value], message: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["exceptions"][0]["message"] == message)
        .unwrap_or_else(|| panic!("the event {message:?} arrived: {events:#?}"))
}

#[test]
fn an_event_inside_a_span_carries_its_ids_and_one_outside_carries_none() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let (provider, exporter) = provider(Sampler::AlwaysOn);
    let tracer = provider.tracer("checkout-service");

    tracer.in_span("checkout", |_| {
        client.notify_message("inside");
        tracer.in_span("charge", |_| {
            client.notify_message("nested");
        });
    });
    client.notify_message("outside");
    let chosen = Correlation::from_hex("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331").unwrap();
    tracer.in_span("ignored", |_| {
        client.notify_message_with("chosen", Options::new().correlation(chosen));
    });
    assert!(client.flush(WAIT));
    provider.force_flush().unwrap();

    let events = collector.wait_for(WAIT, |events| events.len() >= 4);
    assert_eq!(events.len(), 4, "{events:#?}");
    assert_eq!(event(&events, "inside")["correlation"], link_of(&exported(&exporter, "checkout")));
    assert_eq!(event(&events, "nested")["correlation"], link_of(&exported(&exporter, "charge")));
    assert_eq!(event(&events, "nested")["correlation"]["traceId"], event(&events, "inside")["correlation"]["traceId"]);
    assert!(event(&events, "outside").get("correlation").is_none(), "no span, no field");
    assert_eq!(
        event(&events, "chosen")["correlation"],
        json!({"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331"})
    );
}

#[test]
fn an_unsampled_or_invalid_context_gives_no_field() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let (provider, _exporter) = provider(Sampler::AlwaysOff);
    let tracer = provider.tracer("checkout-service");
    tracer.in_span("dropped", |cx| {
        assert!(cx.span().span_context().is_valid() && !cx.span().span_context().is_sampled());
        client.notify_message("unsampled");
    });
    // A context holding a span that is not valid (all-zero ids).
    let invalid =
        opentelemetry::Context::new().with_remote_span_context(opentelemetry::trace::SpanContext::empty_context());
    let guard = invalid.attach();
    client.notify_message("invalid");
    drop(guard);
    assert!(client.flush(WAIT));
    let events = collector.wait_for(WAIT, |events| events.len() >= 2);
    assert_eq!(events.len(), 2, "{events:#?}");
    for event in &events {
        assert!(event.get("correlation").is_none(), "{event:#}");
    }
}

#[test]
fn a_panic_inside_a_span_carries_the_span_where_it_panicked() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    client.install_panic_hook();
    let (provider, exporter) = provider(Sampler::AlwaysOn);
    let tracer = provider.tracer("checkout-service");
    let joined = std::thread::spawn(move || {
        tracer.in_span("explode", |_| panic!("ledger corrupt"));
    })
    .join();
    assert!(joined.is_err());
    provider.force_flush().unwrap();
    let events = collector.wait_for(WAIT, |events| !events.is_empty());
    let panic = event(&events, "ledger corrupt");
    assert_eq!(panic["severityReason"]["type"], "unhandledPanic");
    assert_eq!(panic["correlation"], link_of(&exported(&exporter, "explode")));
}

#[test]
fn a_task_spawned_with_in_current_scope_carries_the_span_it_was_made_in() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let (provider, exporter) = provider(Sampler::AlwaysOn);
    let tracer = provider.tracer("checkout-service");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();

    // Both futures are made inside the span; they run on a worker thread after the span
    // has ended, where no context is active.
    let (carried, bare) = tracer.in_span("enqueue", |_| {
        let (a, b) = (client.clone(), client.clone());
        (
            async move {
                a.notify_message("carried");
            }
            .in_current_scope(),
            async move {
                b.notify_message("not carried");
            },
        )
    });
    runtime.block_on(async {
        tokio::spawn(carried).await.unwrap();
        tokio::spawn(bare).await.unwrap();
    });
    assert!(client.flush(WAIT));
    provider.force_flush().unwrap();
    let events = collector.wait_for(WAIT, |events| events.len() >= 2);
    assert_eq!(event(&events, "carried")["correlation"], link_of(&exported(&exporter, "enqueue")));
    assert!(event(&events, "not carried").get("correlation").is_none(), "the control: nothing else carries it");
}

#[test]
fn through_tracing_opentelemetry_an_event_carries_the_tracing_span_and_its_fields_on_request() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let (provider, exporter) = provider(Sampler::AlwaysOn);
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("checkout-service")))
        .with(BugsnagTracingLayer::with_client(client.clone()).span_fields(true));
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("request", route = "/checkout", password = "hunter2");
        let _entered = request.enter();
        let charge = tracing::info_span!("charge", order_id = 42, amount = tracing::field::Empty);
        let _charging = charge.enter();
        charge.record("amount", 1999);
        client.notify_message("handled");
        tracing::error!(card = "visa", "declined");
    });
    assert!(client.flush(WAIT));
    provider.force_flush().unwrap();
    let events = collector.wait_for(WAIT, |events| events.len() >= 2);
    assert_eq!(events.len(), 2, "{events:#?}");
    let charge = link_of(&exported(&exporter, "charge"));
    let spans = json!({
        "request": {"route": "/checkout", "password": "[FILTERED]"},
        "charge": {"order_id": 42, "amount": 1999},
    });
    for message in ["handled", "declined"] {
        let event = event(&events, message);
        assert_eq!(event["correlation"], charge, "{message}");
        assert_eq!(event["metaData"]["spans"], spans, "{message}");
    }
    assert_eq!(event(&events, "declined")["context"], "request > charge");
}

#[test]
fn without_span_fields_no_tab_is_added() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let subscriber = tracing_subscriber::registry().with(BugsnagTracingLayer::with_client(client.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!("request", route = "/checkout").entered();
        tracing::error!("declined");
    });
    assert!(client.flush(WAIT));
    let events = collector.wait_for(WAIT, |events| !events.is_empty());
    assert_eq!(events.len(), 1, "{events:#?}");
    assert!(events[0]["metaData"].get("spans").is_none(), "{:#}", events[0]);
}

/// Reports, as its destructor, once the thread that owns it exits.
struct ReportsOnExit(Option<Client>);

impl Drop for ReportsOnExit {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            client.notify_message("reported at thread exit");
        }
    }
}

thread_local! {
    static ON_EXIT: std::cell::RefCell<ReportsOnExit> = const { std::cell::RefCell::new(ReportsOnExit(None)) };
}

#[test]
fn a_report_made_after_opentelemetrys_context_is_gone_is_sent_without_a_link() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let (provider, _exporter) = provider(Sampler::AlwaysOn);
    let tracer = provider.tracer("checkout-service");
    let reporter = client.clone();
    let exited = std::thread::spawn(move || {
        // Thread-locals are destroyed in the reverse order of their first use: this one
        // after OpenTelemetry's context, which the span below makes.
        ON_EXIT.with(|on_exit| on_exit.borrow_mut().0 = Some(reporter));
        tracer.in_span("short-lived", |_| ());
    })
    .join();
    assert!(exited.is_ok(), "the thread ended without a panic in a destructor");
    assert!(client.flush(WAIT));
    let events = collector.wait_for(WAIT, |events| !events.is_empty());
    let event = event(&events, "reported at thread exit");
    assert!(event.get("correlation").is_none(), "{event:#}");
}
