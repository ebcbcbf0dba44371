//! Batches: when several events wait, one request carries them all (the API's `events`
//! array). Each event is serialized once, alone; a batch is their bytes joined inside one
//! envelope, at most [`MAX_PAYLOAD_BYTES`] long. A batch the API refuses whole (400,
//! 413) is split in two, so that one bad event never takes the others with it.

use serde::Serialize;
use serde_json::value::RawValue;

use super::trim::MAX_PAYLOAD_BYTES;
use crate::model::{Kind, Notifier, Outgoing, NOTIFIER};

/// Bytes kept for the envelope around the events: an event alone is trimmed to fit
/// the limit less this.
pub(crate) const ENVELOPE_BYTES: usize = 1024;
/// Events in one request at the most.
pub(crate) const MAX_EVENTS: usize = 100;

/// The envelope of a payload, without its events.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    api_key: &'a str,
    payload_version: &'static str,
    notifier: &'a Notifier,
}

/// One event, serialized, waiting for a batch.
#[derive(Debug)]
pub(crate) struct Serialized {
    pub(crate) api_key: String,
    pub(crate) body: Vec<u8>,
}

/// A payload of `events` (events of one API key, each serialized by `serde_json`, so
/// valid JSON: they are joined as they are, not parsed again).
pub(crate) fn payload(api_key: &str, events: &[&[u8]]) -> Option<Outgoing> {
    let envelope = Envelope { api_key, payload_version: Kind::Event.payload_version(), notifier: &NOTIFIER };
    let mut body = serde_json::to_vec(&envelope).ok()?;
    // `{...}` becomes `{...,"events":[e1,e2]}`.
    body.pop();
    body.reserve(events.iter().map(|e| e.len() + 1).sum::<usize>() + 12);
    body.extend_from_slice(b",\"events\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(event);
    }
    body.extend_from_slice(b"]}");
    Some(Outgoing { kind: Kind::Event, api_key: api_key.to_owned(), body: body.into(), count: events.len() as u64 })
}

/// How many of `waiting` (in order, all of the first one's API key) fit in one request.
pub(crate) fn take_count<'a>(waiting: impl IntoIterator<Item = &'a Serialized>) -> usize {
    let mut waiting = waiting.into_iter().take(MAX_EVENTS).peekable();
    let Some(first_key) = waiting.peek().map(|e| e.api_key.clone()) else { return 0 };
    let mut bytes = ENVELOPE_BYTES;
    let mut count = 0;
    for event in waiting {
        if event.api_key != first_key || (count > 0 && bytes + event.body.len() + 1 > MAX_PAYLOAD_BYTES) {
            break;
        }
        bytes += event.body.len() + 1;
        count += 1;
    }
    count
}

/// The events of a payload, each as its own bytes.
pub(crate) fn events(body: &[u8]) -> Vec<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct Events<'a> {
        #[serde(borrow)]
        events: Vec<&'a RawValue>,
    }
    serde_json::from_slice::<Events<'_>>(body)
        .map(|p| p.events.into_iter().map(|e| e.get().as_bytes().to_vec()).collect())
        .unwrap_or_default()
}

/// Events in a payload body (1 when it cannot be read: a payload holds at least one).
pub(crate) fn count(body: &[u8]) -> u64 {
    (events(body).len() as u64).max(1)
}

/// A payload of several events as two payloads of half as many.
pub(crate) fn split(outgoing: &Outgoing) -> Option<(Outgoing, Outgoing)> {
    let events = events(&outgoing.body);
    if events.len() < 2 {
        return None;
    }
    let refs: Vec<&[u8]> = events.iter().map(Vec::as_slice).collect();
    let (first, second) = refs.split_at(refs.len() / 2);
    Some((payload(&outgoing.api_key, first)?, payload(&outgoing.api_key, second)?))
}

/// The events of several payloads (of one API key) as one payload; `None` when they
/// hold none.
pub(crate) fn join(parts: &[&Outgoing]) -> Option<Outgoing> {
    let events: Vec<Vec<u8>> = parts.iter().flat_map(|p| events(&p.body)).collect();
    let first = parts.first()?;
    if events.is_empty() {
        return None;
    }
    payload(&first.api_key, &events.iter().map(Vec::as_slice).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(key: &str, size: usize) -> Serialized {
        Serialized { api_key: key.into(), body: format!("{{\"m\":\"{}\"}}", "x".repeat(size)).into_bytes() }
    }

    #[test]
    fn batches_keep_one_key_and_the_size_limit_and_split_in_halves() {
        let queue = [waiting("a", 10), waiting("a", 10), waiting("b", 10)];
        assert_eq!(take_count(&queue), 2, "one API key per request");
        let big = [waiting("a", 600_000), waiting("a", 600_000)];
        assert_eq!(take_count(&big), 1, "at most a megabyte");
        let many: Vec<Serialized> = (0..150).map(|_| waiting("a", 1)).collect();
        assert_eq!(take_count(&many), MAX_EVENTS);

        let bodies: Vec<&[u8]> = many[..5].iter().map(|e| e.body.as_slice()).collect();
        let batch = payload("a", &bodies).unwrap();
        assert_eq!(batch.count, 5);
        let value: serde_json::Value = serde_json::from_slice(&batch.body).unwrap();
        assert_eq!(value["apiKey"], "a");
        assert_eq!(value["payloadVersion"], "4.0");
        assert_eq!(value["events"].as_array().unwrap().len(), 5);
        let (first, second) = split(&batch).unwrap();
        assert_eq!((first.count, second.count), (2, 3));
        assert_eq!(count(&second.body), 3);
        assert!(split(&first).is_some() && split(&payload("a", &bodies[..1]).unwrap()).is_none());
    }
}
