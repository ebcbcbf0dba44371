//! A storm never hides the rare error: one bug fires 200,000 times while ten others
//! happen once each, against an endpoint that answers after 40 ms (a WAN round trip).
//! The per-error budget holds the copies back and counts them, the queue keeps room for
//! errors it has not seen, and what waits goes out in batches. Also: batches split when
//! the API refuses them whole, so one bad event never takes the others with it.

use std::time::Duration;

use bugsnag_core::testing::{Collector, Reply};
use bugsnag_core::{Client, DropReason, Options, Outcome};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

#[inline(never)]
fn storming(client: &Client, n: u32) -> Outcome {
    client.notify_message_with(format!("connection pool exhausted ({n})"), Options::new().error_class("PoolExhausted"))
}

/// Ten rare errors, each from a line of its own.
#[inline(never)]
fn rare(client: &Client, k: u32) -> Outcome {
    let class = format!("Rare{k}");
    match k % 2 {
        0 => client.notify_message_with(format!("rare error {k}"), Options::new().error_class(class)),
        _ => client
            .notify_message_with(format!("rare error {k}"), Options::new().error_class(class).context("elsewhere")),
    }
}

fn held_back(event: &Value) -> u64 {
    event["metaData"]["notifier"]["heldBack"].as_u64().unwrap_or(0)
}

#[test]
fn every_rare_error_arrives_during_a_storm_and_the_held_back_count_too() {
    let collector = Collector::start();
    collector.answer_by_default(Reply::status(200).delay(Duration::from_millis(40)));
    let client = Client::new(collector.configuration().auto_capture_sessions(false));
    let mut outcomes = Vec::with_capacity(200_000);
    for n in 0..200_000u32 {
        outcomes.push(storming(&client, n));
        if n % 20_000 == 10_000 {
            assert!(rare(&client, n / 20_000).is_queued(), "a rare error is never refused");
        }
    }
    assert!(client.flush(WAIT));
    let events = collector.events();
    let rare_arrived: Vec<&str> = events
        .iter()
        .filter_map(|e| e["exceptions"][0]["message"].as_str())
        .filter(|m| m.starts_with("rare error"))
        .collect();
    assert_eq!(rare_arrived.len(), 10, "every rare error arrived: {rare_arrived:?}");

    let storm: Vec<&Value> = events.iter().filter(|e| e["exceptions"][0]["errorClass"] == "PoolExhausted").collect();
    let held = outcomes.iter().filter(|o| **o == Outcome::Dropped(DropReason::HeldBack)).count() as u64;
    let stats = client.stats();
    assert_eq!(stats.held_back, held);
    assert!(held > 190_000, "the copies were held back: {held}");
    // Every copy is accounted for: sent, or counted in a sent event of its group (the
    // summary the flush sends stands for copies held back, not for one of its own).
    let summaries = storm.iter().filter(|e| e["metaData"]["notifier"]["summary"].is_string()).count() as u64;
    assert_eq!(summaries, 1, "the flush sent the count left");
    let counted: u64 = storm.iter().map(|e| held_back(e)).sum();
    assert_eq!(storm.len() as u64 - summaries + counted + stats.dropped_queue_full, 200_000, "{stats:?}");
    let requests = collector.requests().iter().filter(|r| r.path == "/notify").count();
    println!("{} events ({} of the storm) in {requests} requests; {stats:?}", events.len(), storm.len());
    assert!(requests < events.len(), "events waiting together went out together");
}

#[test]
fn a_batch_refused_whole_is_split_so_one_bad_event_does_not_take_the_others() {
    let collector = Collector::start();
    // The first request waits while the others gather into one batch.
    collector.script([Reply::status(200).delay(Duration::from_millis(300))]);
    collector.refuse_events_with("the bad one");
    let client = Client::new(collector.configuration().max_in_flight(1).auto_capture_sessions(false));
    client.notify_message("first");
    for n in 0..8 {
        let message = if n == 5 { "the bad one".to_owned() } else { format!("good {n}") };
        client.notify_message_with(message, Options::new().error_class(format!("E{n}")));
    }
    assert!(client.flush(WAIT));
    let accepted: Vec<String> = collector
        .accepted()
        .iter()
        .flat_map(|r| r.body["events"].as_array().cloned().unwrap_or_default())
        .map(|e| e["exceptions"][0]["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut accepted = accepted;
    accepted.sort();
    let mut expected: Vec<String> = (0..8).filter(|n| *n != 5).map(|n| format!("good {n}")).collect();
    expected.push("first".into());
    expected.sort();
    assert_eq!(accepted, expected, "every good event arrived, once");
    let batched =
        collector.requests().iter().filter(|r| r.body["events"].as_array().is_some_and(|e| e.len() > 1)).count();
    assert!(batched >= 1, "the events that waited went as one batch first");
    assert_eq!(client.stats().dropped_rejected, 1, "only the bad event was refused");
}

#[test]
fn a_413_splits_a_batch_until_each_part_fits() {
    let collector = Collector::start();
    collector.script([Reply::status(200).delay(Duration::from_millis(300)), Reply::status(413), Reply::status(413)]);
    let client = Client::new(collector.configuration().max_in_flight(1).auto_capture_sessions(false));
    client.notify_message("first");
    for n in 0..6 {
        client.notify_message_with(format!("event {n}"), Options::new().error_class(format!("E{n}")));
    }
    assert!(client.flush(WAIT));
    let mut messages: Vec<String> = collector
        .accepted()
        .iter()
        .flat_map(|r| r.body["events"].as_array().cloned().unwrap_or_default())
        .map(|e| e["exceptions"][0]["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    messages.sort();
    assert_eq!(messages, ["event 0", "event 1", "event 2", "event 3", "event 4", "event 5", "first"]);
    assert_eq!(client.stats().dropped_rejected, 0);
}

#[test]
fn the_budget_can_be_turned_off_and_its_count_goes_with_the_next_event() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().error_budget(2, 0.0));
    let outcomes: Vec<Outcome> = (0..5).map(|n| storming(&client, n)).collect();
    assert_eq!(outcomes.iter().filter(|o| o.is_queued()).count(), 2);
    assert!(client.flush(WAIT), "the flush sends a summary of the three held back");
    let events = collector.events();
    assert_eq!(events.len(), 3, "{events:#?}");
    let summary = events.iter().find(|e| held_back(e) > 0).unwrap();
    assert_eq!(held_back(summary), 3);
    assert_eq!(summary["exceptions"][0]["errorClass"], "PoolExhausted");

    let unlimited = Client::new(collector.configuration().without_error_budget());
    assert!((0..300).all(|n| storming(&unlimited, n).is_queued()));
    assert!(unlimited.flush(WAIT));
    assert_eq!(collector.events().len(), 303);
}

#[test]
fn the_queue_keeps_room_for_an_error_it_has_not_seen() {
    let collector = Collector::start();
    // Nothing leaves: the queue fills with copies of one error.
    collector.answer_by_default(Reply::hang());
    let client = Client::new(collector.configuration().queue_capacity(8).max_in_flight(1));
    let outcomes: Vec<Outcome> = (0..1_000).map(|n| storming(&client, n)).collect();
    assert!(outcomes.contains(&Outcome::Dropped(DropReason::QueueFull)), "the copies filled the queue");
    for k in 0..10 {
        assert_eq!(rare(&client, k), Outcome::Queued, "a new error still finds room");
    }
}
