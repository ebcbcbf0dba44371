//! A tonic gRPC service reporting to Bugsnag through `BugsnagLayer`, and a client that
//! calls it four times: a call that reports a handled error and succeeds, a call that
//! fails with `Internal` (its `Status` carries the error that caused it), a call whose
//! handler panics, and a server stream that fails with `Unavailable` after two messages
//! (the status travels in the trailers). The process serves on loopback and exits once
//! the four calls are answered.
//!
//! ```sh
//! BUGSNAG_API_KEY=... cargo run -p bugsnag-examples --bin grpc
//! ```
//! The service is written by hand to keep the example free of `protoc`; with
//! `tonic-prost-build`, the generated `LedgerServer` goes where `Ledger` goes here.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bugsnag::tower::BugsnagLayer;
use bugsnag::Configuration;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;
use tower::service_fn;

#[derive(Clone, PartialEq, prost::Message)]
struct Lookup {
    #[prost(uint32, tag = "1")]
    account: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Balance {
    #[prost(int64, tag = "1")]
    cents: i64,
}

#[derive(Debug)]
struct LedgerError(std::io::Error);

impl std::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("could not read the ledger")
    }
}

impl std::error::Error for LedgerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

async fn balance(request: Request<Lookup>) -> Result<Response<Balance>, Status> {
    match request.into_inner().account {
        1 => {
            // Reported with the call's request data, and the call goes on.
            bugsnag::notify(&std::io::Error::other("exchange rates stale; used yesterday's"));
            Ok(Response::new(Balance { cents: 4200 }))
        }
        2 => {
            // An `Internal` status is reported by the layer; its source travels with it.
            let cause = LedgerError(std::io::Error::new(std::io::ErrorKind::TimedOut, "ledger replica timed out"));
            let mut status = Status::internal("balance unavailable");
            status.set_source(Arc::new(cause));
            Err(status)
        }
        account => panic!("account {account} has no currency"),
    }
}

type Entries = Pin<Box<dyn tokio_stream::Stream<Item = Result<Balance, Status>> + Send>>;

/// Two entries, then the stream fails: HTTP 200 went out long ago, so the status is in
/// the trailers, where the layer reads it.
async fn history(_: Request<Lookup>) -> Result<Response<Entries>, Status> {
    let entries = [Ok(Balance { cents: 4200 }), Ok(Balance { cents: 3900 })];
    let failure = Err(Status::unavailable("ledger replica lost mid-stream"));
    Ok(Response::new(Box::pin(tokio_stream::iter(entries.into_iter().chain([failure])))))
}

/// The `bank.Ledger` service, routed as tonic's generated code would.
#[derive(Clone)]
struct Ledger;

impl NamedService for Ledger {
    const NAME: &'static str = "bank.Ledger";
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
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Balance, Lookup>::default());
            Ok(match request.uri().path() {
                "/bank.Ledger/Balance" => grpc.unary(service_fn(balance), request).await,
                "/bank.Ledger/History" => grpc.server_streaming(service_fn(history), request).await,
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

#[tokio::main]
async fn main() {
    let _bugsnag = bugsnag::configure(Configuration::from_env().app_version("1.0.0").app_type("grpc"));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let server = Server::builder().layer(BugsnagLayer::new().framework("tonic")).add_service(Ledger);
    tokio::spawn(server.serve_with_incoming(incoming));

    let channel = Channel::from_shared(url).expect("url").connect().await.expect("connect");
    let mut client = tonic::client::Grpc::new(channel);
    for (account, what) in [(1, "reports a handled error"), (2, "fails with Internal"), (3, "panics")] {
        client.ready().await.expect("ready");
        let path = http::uri::PathAndQuery::from_static("/bank.Ledger/Balance");
        let answer =
            client.unary(Request::new(Lookup { account }), path, ProstCodec::<Lookup, Balance>::default()).await;
        let outcome = match answer {
            Ok(reply) => format!("OK, {} cents", reply.into_inner().cents),
            Err(status) => format!("{:?}: {}", status.code(), status.message()),
        };
        println!("  Balance(account {account}) -> {outcome}   (the handler {what})");
    }
    client.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::from_static("/bank.Ledger/History");
    let codec = ProstCodec::<Lookup, Balance>::default();
    let mut entries =
        client.server_streaming(Request::new(Lookup { account: 1 }), path, codec).await.expect("stream").into_inner();
    let mut received = 0;
    let end = loop {
        match entries.message().await {
            Ok(Some(_)) => received += 1,
            Ok(None) => break "OK".to_owned(),
            Err(status) => break format!("{:?}: {}", status.code(), status.message()),
        }
    };
    println!("  History(account 1) -> {received} entries, then {end}   (the stream fails in its trailers)");
}
