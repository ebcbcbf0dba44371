//! Requests with planted secrets, for tests that prove none reaches Bugsnag: each secret
//! is marked `planted-`, which
//! [`Collector::assert_no_planted_secret`](super::Collector::assert_no_planted_secret)
//! looks for.

use std::time::Duration;

/// Request headers that carry planted secrets, each marked `planted-`: credentials in
/// headers, and URLs with secrets in their query in URL-valued headers. Send them with a
/// request, then check with [`Collector::assert_no_planted_secret`](super::Collector::assert_no_planted_secret).
pub const PLANTED_HEADERS: &[(&str, &str)] = &[
    ("Authorization", "Bearer planted-authorization"),
    ("Proxy-Authorization", "Basic planted-proxy-authorization"),
    ("Cookie", "session=planted-cookie"),
    ("X-Api-Key", "planted-x-api-key"),
    ("X-Auth-Token", "planted-x-auth-token"),
    // A Referer that is not a URL: its query-like part is filtered all the same.
    ("Referer", "not a url ?password=planted-referer&page=1"),
    ("Content-Location", "https://example.com/doc?access_token=planted-content-location"),
    ("X-Return-To", "https://example.com/cb?api_key=planted-return-to&lang=en"),
];

/// A query string with a planted secret, for the request's own URL.
pub const PLANTED_QUERY: &str = "page=2&token=planted-query";

/// Sends `GET http://bob:planted-userinfo@<addr><path>` in absolute form (as a client
/// talking to a proxy does, the only way userinfo reaches a server) with
/// [`PLANTED_HEADERS`], over a raw connection; returns the status code.
pub fn get_with_planted_secrets(addr: std::net::SocketAddr, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the server under test");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    let mut request =
        format!("GET http://bob:planted-userinfo@{addr}{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in PLANTED_HEADERS {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send the request");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}
