//! A batch the API refuses whole (400, 413) is sent again in halves, so that one bad
//! event never takes the others with it. Crash-safe: while it is split, one outbox file
//! holds the batch, rewritten as each half ends to hold just the events still unsent (the
//! halves' own retries write no file of their own), so a start after a crash sends each
//! unsent event once and no delivered one again.

use super::{add, OnDisk, Sender, Sent};
use crate::delivery::batch;
use crate::model::Outgoing;

impl Sender {
    /// Sends `outgoing` (refused whole) in halves; `covered` when a file holding more
    /// than it (an outer split's) keeps its events.
    pub(super) async fn split(&self, outgoing: Outgoing, disk: &mut OnDisk, covered: bool) -> Sent {
        let Some((first, second)) = batch::split(&outgoing) else {
            add(&self.counters.dropped_rejected, outgoing.count);
            return Sent::Done;
        };
        if disk.whole.is_none() && !covered {
            disk.whole = self.hold(&outgoing);
            if disk.whole.is_some() {
                self.forget(OnDisk { whole: None, parts: std::mem::take(&mut disk.parts) });
            }
        }
        let covered = covered || disk.whole.is_some();
        let mut unsent = Vec::new();
        if let Sent::Unsent(rest) = self.send(first, &mut OnDisk::default(), covered, None).await {
            unsent.push(rest);
        }
        self.rewrite(disk, unsent.iter().chain([&second]));
        if let Sent::Unsent(rest) = self.send(second, &mut OnDisk::default(), covered, None).await {
            unsent.push(rest);
        }
        match batch::join(&unsent.iter().collect::<Vec<_>>()) {
            None => Sent::Done,
            Some(rest) => {
                self.rewrite(disk, [&rest]);
                Sent::Unsent(rest)
            }
        }
    }

    /// Rewrites the batch's file, when it has one, to hold just `parts`.
    fn rewrite<'a>(&self, disk: &mut OnDisk, parts: impl IntoIterator<Item = &'a Outgoing>) {
        let (Some(outbox), Some(held)) = (&self.outbox, disk.whole.as_mut()) else { return };
        let Some(rest) = batch::join(&parts.into_iter().collect::<Vec<_>>()) else { return };
        if let Err(e) = outbox.rewrite(held, &rest) {
            tracing::error!(target: "bugsnag_core", "could not rewrite a Bugsnag outbox file: {e}");
        }
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::watch;

    use super::*;
    use crate::testing::{events_in_outbox, Collector, Reply, API_KEY};

    fn event(message: &str) -> Vec<u8> {
        format!(r#"{{"exceptions":[{{"errorClass":"E","message":"{message}","stacktrace":[]}}],"severity":"warning","severityReason":{{"type":"handledError"}},"unhandled":false}}"#).into_bytes()
    }

    /// The messages of the payloads in `dir`.
    fn on_disk(dir: &std::path::Path) -> Vec<Vec<String>> {
        let files =
            std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().contains(".json"));
        files
            .map(|file| {
                let text = std::fs::read(file.path()).unwrap();
                let body = &text[text.iter().position(|b| *b == b'\n').unwrap() + 1..];
                let payload: serde_json::Value = serde_json::from_slice(body).unwrap();
                let events = payload["events"].as_array().unwrap();
                events.iter().map(|e| e["exceptions"][0]["message"].as_str().unwrap().to_owned()).collect()
            })
            .collect()
    }

    #[tokio::test]
    async fn while_a_batch_is_split_its_file_holds_just_what_is_unsent() {
        let dir = std::env::temp_dir().join(format!("bugsnag-split-{}", uuid::Uuid::new_v4()));
        let collector = Collector::start();
        // The batch refused whole, its first half delivered, its second failing for now.
        collector.script([Reply::status(400), Reply::status(200), Reply::status(500)]);
        let config = collector.configuration().outbox_dir(&dir).retry_initial_backoff(Duration::from_secs(30));
        let (stop, stopped) = watch::channel(false);
        let sender = Arc::new(Sender::new(&config, Some(API_KEY), Arc::default(), stopped).unwrap());
        let events: Vec<Vec<u8>> = ["a", "b", "c", "d"].map(event).into();
        let outgoing = batch::payload(API_KEY, &events.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap();
        // On disk already, as a batch is after a failed attempt.
        let disk = OnDisk { whole: sender.hold(&outgoing), parts: Vec::new() };
        let sending = {
            let sender = sender.clone();
            tokio::spawn(async move { sender.deliver(outgoing, disk, None).await })
        };
        let arrived = tokio::task::spawn_blocking(move || collector.wait_for_requests(3, Duration::from_secs(20)));
        assert_eq!(arrived.await.unwrap().len(), 3);
        // The second half waits 30 s for its retry: a crash now must replay c and d only.
        assert_eq!(on_disk(&dir), [["c", "d"]], "one file, with just the unsent events");
        stop.send(true).unwrap();
        sending.await.unwrap();
        assert_eq!(on_disk(&dir), [["c", "d"]], "kept for the next start");
        assert_eq!(events_in_outbox(&dir), 2);
        let _ = std::fs::remove_dir_all(dir);
    }
}
