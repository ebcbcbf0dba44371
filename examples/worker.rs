//! An apalis worker reporting to Bugsnag through `connect_failure_handler`: a task that
//! reports a handled error, a task that returns an error, and a task that panics, from
//! in-memory storage; the worker stops once all three ran.
//!
//! ```sh
//! BUGSNAG_API_KEY=... cargo run -p bugsnag-examples --bin worker
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apalis::prelude::*;
use bugsnag::worker::connect_failure_handler;
use bugsnag::Configuration;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SendInvoice {
    invoice: u32,
}

static DONE: AtomicUsize = AtomicUsize::new(0);

async fn send_invoice(task: SendInvoice) -> Result<(), BoxDynError> {
    let _done = Done;
    match task.invoice {
        1 => {
            // Reported with the task's context and job tab, and the task goes on.
            bugsnag::notify(&std::io::Error::other("invoice template missing; used the default"));
            Ok(())
        }
        2 => Err(std::io::Error::other("smtp server refused invoice 2").into()),
        _ => panic!("invoice {} is cursed", task.invoice),
    }
}

/// Counts a task as done however it ends, panics included.
struct Done;
impl Drop for Done {
    fn drop(&mut self) {
        DONE.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::main]
async fn main() {
    let _bugsnag = bugsnag::configure(Configuration::from_env().app_type("worker"));
    let mut storage = MemoryStorage::new();
    for invoice in [1, 2, 3] {
        storage.push(SendInvoice { invoice }).await.expect("push a task");
    }
    let worker = WorkerBuilder::new("billing")
        .backend(storage)
        .layer(connect_failure_handler().name("send_invoice").send_arguments::<SendInvoice>())
        .build(send_invoice);
    let running = tokio::spawn(worker.run());
    while DONE.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.abort();
    println!("3 tasks ran: a handled error, a returned error, a panic");
}
