//! `App::new().wrap(Bugsnag)` as the design card writes it, with the process-wide client
//! (a test binary of its own, since it sets the global client).

use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use bugsnag_actix::Bugsnag;
use bugsnag_core::testing::Collector;

async fn explode(path: web::Path<u32>) -> HttpResponse {
    panic!("user {} exploded", path.into_inner());
}

#[actix_web::test]
async fn the_unit_middleware_reports_to_the_global_client() {
    let collector = Collector::start();
    // An outbox of its own, not one shared with earlier runs of this test.
    let outbox = std::env::temp_dir().join(format!("bugsnag-{}-{}", module_path!(), std::process::id()));
    let guard = bugsnag_core::configure(collector.configuration().outbox_dir(&outbox));
    let server = HttpServer::new(|| App::new().wrap(Bugsnag).route("/users/{id}", web::get().to(explode)))
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    actix_web::rt::spawn(server.run());
    let status = reqwest::get(format!("{url}/users/5")).await.unwrap().status();
    assert_eq!(status, 500);
    let client = guard.client().clone();
    assert!(actix_web::rt::task::spawn_blocking(move || client.flush(Duration::from_secs(20))).await.unwrap());
    let events = collector.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["context"], "GET /users/{id}");
    assert_eq!(events[0]["severityReason"]["attributes"]["framework"], "actix-web");
    assert_eq!(events[0]["exceptions"][0]["message"], "user 5 exploded");
}
