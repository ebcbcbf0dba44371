//! Property tests: generated hostile metadata, headers, URLs, users, messages and
//! configurations, each carrying planted secrets (`planted-…`) under keys and in URLs
//! the default filters cover. For every case: no panic escapes into the caller, every
//! body the collector receives is schema-valid JSON of at most 1,000,000 bytes, and no
//! planted secret appears in any byte sent.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use bugsnag_core::testing::Collector;
use bugsnag_core::{Breadcrumb, BreadcrumbType, Client, Configuration, Options, Request, Scope, User};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys the default filters cover, in the spellings users write.
const SECRET_KEYS: &[&str] = &[
    "password",
    "Passwd",
    "api_key",
    "apiKey",
    "X-Api-Key",
    "client_secret",
    "private_key",
    "session_id",
    "jwt",
    "cvv",
    "credit_card",
    "refresh_token",
    "Authorization",
    "auth",
    "otp",
    "ssn",
    "database_url",
    "passphrase",
];

fn secret() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]{1,12}".prop_map(|s| format!("planted-{s}"))
}

/// Any text, except that it never spells the planted mark by chance.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!(".{{0,{max}}}")).unwrap().prop_map(|s| s.replace("planted-", "p-"))
}

/// A URL with secrets in its userinfo, query and fragment.
fn url() -> impl Strategy<Value = String> {
    (secret(), secret(), prop::sample::select(SECRET_KEYS), "[a-z]{1,8}", text(20)).prop_map(
        |(user_secret, query_secret, key, path, noise)| {
            let noise: String = noise.chars().filter(|c| c.is_alphanumeric()).collect();
            format!("https://bob:{user_secret}@example.com/{path}?q={noise}&{key}={query_secret}#frag")
        },
    )
}

/// JSON where every value under a secret key is planted, and strings may be URLs.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text(40).prop_map(Value::from),
        url().prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(16), inner), 0..6).prop_map(|pairs| Value::Object(Map::from_iter(pairs))),
            (prop::sample::select(SECRET_KEYS), secret(), prop::collection::vec((text(8), text(8)), 0..3)).prop_map(
                |(key, secret, rest)| {
                    let mut map: Map<String, Value> = rest.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
                    map.insert(key.to_owned(), Value::from(secret));
                    Value::Object(map)
                }
            ),
        ]
    })
}

fn headers() -> impl Strategy<Value = BTreeMap<String, String>> {
    let plain = ("[a-z][a-z0-9-]{0,15}", text(30));
    let sensitive = (
        prop::sample::select(
            &["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"][..],
        ),
        secret(),
    );
    let urls = (prop::sample::select(&["referer", "location", "origin", "content-location", "x-next"][..]), url());
    (prop::collection::vec(plain, 0..6), prop::collection::vec(sensitive, 0..3), prop::collection::vec(urls, 0..3))
        .prop_map(|(plain, sensitive, urls)| {
            let mut all: BTreeMap<String, String> =
                plain.into_iter().filter(|(name, _)| !bugsnag_core::adapter::is_sensitive_header(name)).collect();
            all.extend(sensitive.into_iter().map(|(n, v)| (n.to_owned(), v)));
            all.extend(urls.into_iter().map(|(n, v)| (n.to_owned(), v)));
            all
        })
}

#[derive(Debug, Clone)]
struct Report {
    message: String,
    context: String,
    tabs: Vec<(String, Value)>,
    crumb: Value,
    headers: BTreeMap<String, String>,
    url: String,
    user_name: String,
    flags: Vec<String>,
}

fn report() -> impl Strategy<Value = Report> {
    let huge = prop_oneof![9 => text(200), 1 => Just("x".repeat(1_500_000))];
    (
        (huge, text(60), prop::collection::vec((text(20), json()), 0..5), json()),
        (headers(), url(), text(20), prop::collection::vec(text(20), 0..5)),
    )
        .prop_map(|((message, context, tabs, crumb), (headers, url, user_name, flags))| Report {
            message,
            context,
            tabs,
            crumb,
            headers,
            url,
            user_name,
            flags,
        })
}

/// One collector and client for all cases (each `Client` owns a thread).
fn shared() -> &'static (Collector, Client) {
    static SHARED: OnceLock<(Collector, Client)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let collector = Collector::start();
        // No code snippets: this file's own lines hold planted marks.
        let client = Client::new(collector.configuration().send_code(false).auto_capture_sessions(false));
        (collector, client)
    })
}

fn check_everything_received(collector: &Collector) {
    let requests = collector.requests();
    bugsnag_core::testing::assert_valid(&requests);
    for request in &requests {
        assert!(request.size <= 1_000_000, "{} bytes sent", request.size);
    }
    collector.assert_no_planted_secret();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hostile_reports_are_sent_valid_bounded_and_without_secrets(report in report()) {
        let (collector, client) = shared();
        let scope = Scope::new();
        let mut request = Request::new("POST", report.url.clone()).with_client_ip("10.0.0.1").with_referer(report.url.clone());
        request.headers = report.headers.clone();
        scope.set_request(request);
        client.leave_breadcrumb_in(&scope, Breadcrumb::new("crumb", BreadcrumbType::Request, report.crumb.clone()));
        for flag in &report.flags {
            scope.add_feature_flag(flag.clone(), Some("on"));
        }
        let mut options = Options::new()
            .scope(scope)
            .context(report.context.clone())
            .user(User::id("u").with_name(report.user_name.clone()));
        for (tab, value) in &report.tabs {
            options = options.add_metadata_tab(tab.clone(), value.clone());
        }
        let before = collector.events().len();
        let error = std::io::Error::other(report.message.clone());
        prop_assert!(client.notify_with(&error, options).is_queued());
        prop_assert!(client.flush(Duration::from_secs(20)));
        // Every report arrives (trimmed if it must be): none is lost, counted or not.
        prop_assert_eq!(collector.events().len(), before + 1);
        prop_assert_eq!(client.stats().dropped(), 0);
        check_everything_received(collector);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_configuration_numbers_leave_a_working_notifier(
        queue in prop_oneof![Just(0usize), Just(usize::MAX), 1usize..5000],
        in_flight in prop_oneof![Just(0usize), Just(usize::MAX), 1usize..100],
        timeout_ms in prop_oneof![Just(0u64), Just(u64::MAX), 1u64..100_000],
        interval_ms in prop_oneof![Just(0u64), Just(u64::MAX), 1u64..100_000],
        retries in any::<u32>(),
    ) {
        let collector = Collector::start();
        let config: Configuration = collector
            .configuration()
            .queue_capacity(queue)
            .max_in_flight(in_flight)
            .delivery_timeout(Duration::from_millis(timeout_ms))
            .shutdown_timeout(Duration::from_millis(timeout_ms))
            .panic_timeout(Duration::from_millis(timeout_ms))
            .retry_initial_backoff(Duration::from_millis(timeout_ms))
            .retry_max_backoff(Duration::from_millis(timeout_ms))
            .session_publish_interval(Duration::from_millis(interval_ms))
            .max_retries(retries);
        let client = Client::new(config);
        prop_assert!(client.notify_message("configured").is_queued());
        prop_assert!(client.flush(Duration::from_secs(20)));
        prop_assert_eq!(collector.events().len(), 1);
        prop_assert!(client.shutdown(Duration::from_secs(20)));
    }
}

/// Whether `value` is a well-formed W3C `traceparent` of version 00 (lower-case hex, ids
/// not all zeros): `Some(sampled)`, else `None`.
fn well_formed_v00(value: &str) -> Option<bool> {
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let parts: Vec<&str> = value.split('-').collect();
    let [version, trace, span, flags] = parts.as_slice() else { return None };
    let ok = *version == "00"
        && trace.len() == 32
        && span.len() == 16
        && flags.len() == 2
        && hex(trace)
        && hex(span)
        && hex(flags)
        && trace.bytes().any(|b| b != b'0')
        && span.bytes().any(|b| b != b'0');
    ok.then(|| u8::from_str_radix(flags, 16).unwrap() & 1 == 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any `traceparent` a caller sends: no panic, and a link only when the value is a
    /// well-formed, sampled one, which then reads back the same ids.
    #[test]
    fn any_traceparent_is_read_or_refused_without_failing(
        value in prop_oneof![
            any::<String>(),
            "[0-9a-fA-F]{2}-[0-9a-f]{30,34}-[0-9a-f]{14,18}-[0-9a-f]{2}(-.{0,8})?",
            "00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]",
        ]
    ) {
        let read = bugsnag_core::Correlation::from_traceparent(&value);
        if let Some(link) = &read {
            prop_assert_eq!(&value[3..35], link.trace_id());
            prop_assert_eq!(&value[36..52], link.span_id());
            prop_assert!(u8::from_str_radix(&value[53..55], 16).unwrap() & 1 == 1, "sampled");
        }
        // A well-formed version-00 value links exactly when it is sampled: a reader that
        // refused everything would fail here.
        if let Some(sampled) = well_formed_v00(&value) {
            prop_assert_eq!(read.is_some(), sampled, "{}", value);
        }
    }
}
