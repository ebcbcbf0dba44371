//! BugsnagLayer in a real tonic server on a loopback socket, called by a real tonic
//! client over HTTP/2; every event is read back from a loopback Collector and
//! schema-checked. The service is written by hand (no protoc): two prost messages and a
//! `tower::Service` that routes to tonic's own unary and server-streaming handlers.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bugsnag_core::testing::{self, Collector};
use bugsnag_core::{Client, Traced};
use bugsnag_tower::{BugsnagLayer, GrpcCode};
use http::uri::PathAndQuery;
use serde_json::{json, Value};
use tonic::body::Body;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::server::NamedService;
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tower::service_fn as svc;

/// What the client asks the handler to do.
#[derive(Clone, PartialEq, prost::Message)]
struct Call {
    /// The gRPC code to end with (0: succeed).
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    /// Messages a stream sends before it ends.
    #[prost(uint32, tag = "3")]
    items: u32,
    /// Whether the failing Status carries a source error.
    #[prost(bool, tag = "4")]
    with_source: bool,
    /// Whether that source is wrapped in `Traced` where it is made.
    #[prost(bool, tag = "5")]
    traced: bool,
}

/// The lines where a traced source was made (two call sites).
static SOURCE_LINE: AtomicU32 = AtomicU32::new(0);
static OTHER_SOURCE_LINE: AtomicU32 = AtomicU32::new(0);

#[derive(Clone, PartialEq, prost::Message)]
struct Reply {
    #[prost(string, tag = "1")]
    text: String,
}

#[derive(Debug)]
struct LedgerError(std::io::Error);

impl std::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ledger unavailable")
    }
}

impl std::error::Error for LedgerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn outcome(call: &Call) -> Result<(), Status> {
    if call.code == 0 {
        return Ok(());
    }
    let mut status = Status::new(Code::from_i32(call.code), call.message.clone());
    if call.with_source {
        let ledger = LedgerError(std::io::Error::other("connection refused"));
        if call.traced && call.items == 1 {
            OTHER_SOURCE_LINE.store(line!() + 1, Ordering::Relaxed);
            status.set_source(Arc::new(Traced::new(ledger)));
        } else if call.traced {
            SOURCE_LINE.store(line!() + 2, Ordering::Relaxed);
            // The report starts at this line, not where the layer read tonic's status.
            status.set_source(Arc::new(Traced::new(ledger)));
        } else {
            status.set_source(Arc::new(ledger));
        }
    }
    Err(status)
}

async fn answer(request: tonic::Request<Call>) -> Result<tonic::Response<Reply>, Status> {
    let call = request.into_inner();
    tokio::task::yield_now().await;
    outcome(&call)?;
    Ok(tonic::Response::new(Reply { text: "done".into() }))
}

type ReplyStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<Reply, Status>> + Send>>;

async fn stream(request: tonic::Request<Call>) -> Result<tonic::Response<ReplyStream>, Status> {
    let call = request.into_inner();
    let items = (0..call.items).map(|i| Ok(Reply { text: format!("item {i}") }));
    let end = outcome(&call).err().map(Err);
    Ok(tonic::Response::new(Box::pin(tokio_stream::iter(items.chain(end)))))
}

#[inline(never)]
async fn explode(request: tonic::Request<Call>) -> Result<tonic::Response<Reply>, Status> {
    tokio::task::yield_now().await;
    panic!("ledger {} exploded", request.into_inner().message);
}

async fn slow(_: tonic::Request<Call>) -> Result<tonic::Response<Reply>, Status> {
    tokio::time::sleep(Duration::from_secs(30)).await;
    Ok(tonic::Response::new(Reply::default()))
}

/// The `test.Ledger` service, as tonic's generated code would route it.
#[derive(Clone)]
struct Ledger;

impl NamedService for Ledger {
    const NAME: &'static str = "test.Ledger";
}

impl tower::Service<http::Request<Body>> for Ledger {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Reply, Call>::default());
            Ok(match request.uri().path() {
                "/test.Ledger/Answer" => grpc.unary(svc(answer), request).await,
                "/test.Ledger/Stream" => grpc.server_streaming(svc(stream), request).await,
                "/test.Ledger/Explode" => grpc.unary(svc(explode), request).await,
                "/test.Ledger/Slow" => grpc.unary(svc(slow), request).await,
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

struct Fixture {
    collector: Collector,
    client: Client,
    grpc: tonic::client::Grpc<Channel>,
}

impl Fixture {
    async fn start(layer: impl FnOnce(Client) -> BugsnagLayer) -> Fixture {
        let collector = Collector::start();
        let client = Client::new(collector.configuration());
        Self::serving(collector, client, layer).await
    }

    /// The service on a loopback port, its layer reporting to `client`.
    async fn serving(collector: Collector, client: Client, layer: impl FnOnce(Client) -> BugsnagLayer) -> Fixture {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let server = Server::builder().layer(layer(client.clone())).add_service(Ledger);
        tokio::spawn(server.serve_with_incoming(incoming));
        let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
        Fixture { collector, client, grpc: tonic::client::Grpc::new(channel) }
    }

    async fn unary(&self, method: &str, call: Call) -> Result<Reply, Status> {
        self.unary_with(method, tonic::Request::new(call)).await
    }

    async fn unary_with(&self, method: &str, request: tonic::Request<Call>) -> Result<Reply, Status> {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.unwrap();
        let path = PathAndQuery::try_from(format!("/test.Ledger/{method}")).unwrap();
        grpc.unary(request, path, ProstCodec::<Call, Reply>::default()).await.map(tonic::Response::into_inner)
    }

    /// The replies of a stream and how it ended.
    async fn stream(&self, call: Call) -> (Vec<String>, Result<(), Status>) {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.unwrap();
        let path = PathAndQuery::from_static("/test.Ledger/Stream");
        let mut stream = match grpc.server_streaming(tonic::Request::new(call), path, ProstCodec::default()).await {
            Ok(response) => response.into_inner(),
            Err(status) => return (Vec::new(), Err(status)),
        };
        let mut replies = Vec::new();
        loop {
            match stream.message().await {
                Ok(Some(Reply { text })) => replies.push(text),
                Ok(None) => return (replies, Ok(())),
                Err(status) => return (replies, Err(status)),
            }
        }
    }

    /// Every event, once all the client queued has been delivered.
    async fn events(&self) -> Vec<Value> {
        let client = self.client.clone();
        assert!(tokio::task::spawn_blocking(move || client.flush(Duration::from_secs(10))).await.unwrap());
        self.collector.events()
    }
}

fn failing(code: i32, message: &str) -> Call {
    Call { code, message: message.into(), ..Call::default() }
}

fn tonic_layer(client: Client) -> BugsnagLayer {
    BugsnagLayer::with_client(client).framework("tonic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_faults_are_reported_and_caller_faults_are_not() {
    let fixture = Fixture::start(tonic_layer).await;
    for code in 0..=16 {
        let result = fixture.unary("Answer", failing(code, &format!("failed with {code}"))).await;
        assert_eq!(
            result.err().map_or(Code::Ok, |s| s.code()),
            Code::from_i32(code),
            "the client sees the status as is"
        );
    }
    let events = fixture.events().await;
    let mut classes: Vec<&str> = events.iter().map(|e| e["exceptions"][0]["errorClass"].as_str().unwrap()).collect();
    classes.sort_unstable();
    assert_eq!(classes, ["grpc::DataLoss", "grpc::Internal", "grpc::Unavailable", "grpc::Unknown"], "{events:#?}");

    let internal = events.iter().find(|e| e["exceptions"][0]["errorClass"] == "grpc::Internal").unwrap();
    assert_eq!(internal["exceptions"][0]["message"], "failed with 13");
    assert_eq!(internal["unhandled"], true);
    assert_eq!(
        internal["severityReason"],
        json!({"type": "unhandledErrorMiddleware", "attributes": {"framework": "tonic"}})
    );
    assert_eq!(internal["context"], "POST /test.Ledger/Answer");
    assert_eq!(internal["groupingHash"], "grpc::Internal /test.Ledger/Answer");
    assert_eq!(
        internal["metaData"]["grpc"],
        json!({"service": "test.Ledger", "method": "Answer", "code": 13, "codeName": "Internal"})
    );
    assert_eq!(internal["request"]["httpMethod"], "POST");
    assert_eq!(internal["request"]["headers"]["content-type"], "application/grpc");
    // tonic's connection info and version are read with the `tonic` feature.
    if cfg!(feature = "tonic") {
        assert_eq!(internal["request"]["clientIp"], "127.0.0.1");
        assert_eq!(
            internal["device"]["runtimeVersions"]["tonic"],
            testing::dependency_version("bugsnag-tower", "tonic")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_codes_to_report_are_chosen_by_the_layer() {
    let fixture =
        Fixture::start(|c| tonic_layer(c).grpc_report_codes([GrpcCode::DeadlineExceeded, GrpcCode::NotFound])).await;
    for code in [Code::Internal, Code::NotFound, Code::DeadlineExceeded, Code::InvalidArgument] {
        let result = fixture.unary("Answer", failing(code as i32, "chosen")).await;
        assert_eq!(result.unwrap_err().code(), code);
    }
    let events = fixture.events().await;
    let mut classes: Vec<&str> = events.iter().map(|e| e["exceptions"][0]["errorClass"].as_str().unwrap()).collect();
    classes.sort_unstable();
    assert_eq!(classes, ["grpc::DeadlineExceeded", "grpc::NotFound"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_fails_after_sending_is_reported_from_its_trailers() {
    let fixture = Fixture::start(tonic_layer).await;
    let (replies, end) = fixture.stream(Call { items: 3, ..failing(Code::Unavailable as i32, "shard 7 gone") }).await;
    assert_eq!(replies, ["item 0", "item 1", "item 2"], "the replies pass through untouched");
    assert_eq!(end.unwrap_err().code(), Code::Unavailable);
    let (replies, end) = fixture.stream(Call { items: 2, ..Call::default() }).await;
    assert_eq!(replies.len(), 2);
    assert!(end.is_ok());
    // A stream refused before its first message ends "trailers-only".
    let (replies, end) = fixture.stream(failing(Code::DataLoss as i32, "torn page")).await;
    assert!(replies.is_empty());
    assert_eq!(end.unwrap_err().code(), Code::DataLoss);

    let events = fixture.events().await;
    assert_eq!(events.len(), 2, "the stream that ended well reports nothing: {events:#?}");
    let unavailable = events.iter().find(|e| e["exceptions"][0]["errorClass"] == "grpc::Unavailable").unwrap();
    assert_eq!(unavailable["exceptions"][0]["message"], "shard 7 gone");
    assert_eq!(unavailable["context"], "POST /test.Ledger/Stream");
    assert_eq!(unavailable["metaData"]["grpc"]["method"], "Stream");
    let data_loss = events.iter().find(|e| e["exceptions"][0]["errorClass"] == "grpc::DataLoss").unwrap();
    assert_eq!(data_loss["exceptions"][0]["message"], "torn page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_internal_reports_once_and_the_server_keeps_serving() {
    let fixture = Fixture::start(tonic_layer).await;
    fixture.client.install_panic_hook();
    let status = fixture.unary("Explode", failing(0, "7")).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert_eq!(status.message(), "the handler panicked");
    assert_eq!(fixture.unary("Answer", Call::default()).await.unwrap().text, "done", "the server keeps serving");

    let events = fixture.events().await;
    assert_eq!(events.len(), 1, "one report, not a grpc::Internal as well: {events:#?}");
    let event = &events[0];
    assert_eq!(event["exceptions"][0]["errorClass"], "panic");
    assert_eq!(event["exceptions"][0]["message"], "ledger 7 exploded");
    assert_eq!(
        event["severityReason"],
        json!({"type": "unhandledExceptionMiddleware", "attributes": {"framework": "tonic"}})
    );
    let top = &event["exceptions"][0]["stacktrace"][0];
    assert!(top["method"].as_str().unwrap().starts_with("grpc::explode"), "{top:#}");
    assert_eq!(event["context"], "POST /test.Ledger/Explode");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_call_metadata_never_reach_bugsnag() {
    let fixture = Fixture::start(tonic_layer).await;
    let mut request = tonic::Request::new(failing(Code::Internal as i32, "with metadata"));
    for (name, value) in testing::PLANTED_HEADERS {
        let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes()).unwrap();
        request.metadata_mut().insert(key, MetadataValue::try_from(*value).unwrap());
    }
    request.metadata_mut().insert("x-request-id", MetadataValue::from_static("req-9"));
    assert_eq!(fixture.unary_with("Answer", request).await.unwrap_err().code(), Code::Internal);
    let events = fixture.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["request"]["headers"]["authorization"], "[FILTERED]");
    assert_eq!(events[0]["request"]["headers"]["x-request-id"], "req-9");
    fixture.collector.assert_no_planted_secret();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cut_by_its_deadline_reports_nothing_and_the_server_keeps_serving() {
    let fixture = Fixture::start(|c| tonic_layer(c).grpc_report_codes([GrpcCode::DeadlineExceeded])).await;
    let mut request = tonic::Request::new(Call::default());
    request.set_timeout(Duration::from_millis(200));
    let status = fixture.unary_with("Slow", request).await.unwrap_err();
    assert!(matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled), "{status:?}");
    // The deadline is the caller's; a handler that returns DeadlineExceeded is reported.
    let status = fixture.unary("Answer", failing(Code::DeadlineExceeded as i32, "downstream timed out")).await;
    assert_eq!(status.unwrap_err().code(), Code::DeadlineExceeded);
    let events = fixture.events().await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["exceptions"][0]["message"], "downstream timed out");
    assert_eq!(events[0]["context"], "POST /test.Ledger/Answer");
}

#[cfg(feature = "tonic")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_with_a_source_is_reported_with_its_chain() {
    let fixture = Fixture::start(tonic_layer).await;
    let call = Call { with_source: true, ..failing(Code::Unavailable as i32, "try again later") };
    assert_eq!(fixture.unary("Answer", call).await.unwrap_err().code(), Code::Unavailable);
    let events = fixture.events().await;
    assert_eq!(events.len(), 1);
    let exceptions: Vec<(&str, &str)> = events[0]["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["errorClass"].as_str().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    // A source known only as `dyn Error` is named from its `Debug` form.
    assert_eq!(
        exceptions,
        [
            ("grpc::Unavailable", "try again later"),
            ("LedgerError", "ledger unavailable"),
            ("std::io::Error", "connection refused")
        ]
    );
}

#[cfg(feature = "tonic")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_whose_source_carries_an_origin_starts_there() {
    let fixture = Fixture::start(tonic_layer).await;
    let call = Call { with_source: true, traced: true, ..failing(Code::Internal as i32, "ledger down") };
    assert_eq!(fixture.unary("Answer", call).await.unwrap_err().code(), Code::Internal);
    let events = fixture.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["exceptions"][1]["errorClass"], "grpc::LedgerError", "a Traced is named as what it wraps");
    testing::assert_origin(&events[0], "outcome", SOURCE_LINE.load(Ordering::Relaxed));
}

/// The service deployed: copied out of the workspace, started in `/` without a home
/// directory. Each failed call groups at the line that made its status's source: two
/// call sites, two groups, each hit twice.
#[cfg(feature = "tonic")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_from_root_failed_calls_group_at_the_line_that_failed() {
    let call = |items| Call { with_source: true, traced: true, items, ..failing(Code::Internal as i32, "ledger down") };
    if testing::is_deployed() {
        let client = Client::new(bugsnag_core::Configuration::from_env());
        // Its collector is the parent's: this one stays empty.
        let fixture = Fixture::serving(Collector::start(), client, tonic_layer).await;
        for items in [0, 1, 0, 1] {
            assert_eq!(fixture.unary("Answer", call(items)).await.unwrap_err().code(), Code::Internal);
        }
        let client = fixture.client.clone();
        assert!(tokio::task::spawn_blocking(move || client.flush(Duration::from_secs(20))).await.unwrap());
        return;
    }
    let _ = (outcome(&call(0)), outcome(&call(1)));
    let sites = [(file!(), SOURCE_LINE.load(Ordering::Relaxed)), (file!(), OTHER_SOURCE_LINE.load(Ordering::Relaxed))];
    tokio::task::spawn_blocking(move || {
        testing::assert_deployed_groups("deployed_from_root_failed_calls_group_at_the_line_that_failed", 4, &sites)
    })
    .await
    .unwrap();
}
