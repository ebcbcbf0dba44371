//! Resolved frames, shared. A frame as sent is built once per return address (its name,
//! file, whether it is in-project, its code) and kept with its JSON; a stack is a list
//! of such frames, shared with every other stack that passes through them. So the
//! stack of a call site never seen before copies no frame and escapes no text again:
//! only its new frames are built and written.

use std::sync::{Arc, OnceLock};

use serde::ser::{SerializeSeq, Serializer};
use serde_json::value::RawValue;

use super::Stackframe;

/// A frame as sent, and its JSON.
pub(crate) struct SentFrame {
    frame: Stackframe,
    /// `None` only if the frame cannot be serialized (then it is, with each event).
    json: Option<Box<RawValue>>,
}

impl SentFrame {
    pub(crate) fn new(frame: Stackframe) -> Arc<Self> {
        let json = serde_json::value::to_raw_value(&frame).ok();
        Arc::new(Self { frame, json })
    }
}

impl std::ops::Deref for SentFrame {
    type Target = Stackframe;

    fn deref(&self) -> &Stackframe {
        &self.frame
    }
}

/// The frames of one stack.
pub(crate) struct Frames {
    frames: Box<[Arc<SentFrame>]>,
    /// The frames as [`Stacktrace::frames`](super::Stacktrace::frames) lends them: copied
    /// the first time they are asked for (tests, callers reading a sent event).
    plain: OnceLock<Box<[Stackframe]>>,
}

impl Frames {
    pub(crate) fn new(frames: Vec<Arc<SentFrame>>) -> Self {
        Self { frames: frames.into(), plain: OnceLock::new() }
    }

    /// Each frame, shared.
    pub(crate) fn shared(&self) -> &[Arc<SentFrame>] {
        &self.frames
    }

    /// The frames, as one slice.
    pub(crate) fn plain(&self) -> &[Stackframe] {
        self.plain.get_or_init(|| self.frames.iter().map(|f| f.frame.clone()).collect())
    }

    /// The memory these frames keep alive, about (their frames may be shared with other
    /// stacks: counted in each): twice their JSON.
    pub(crate) fn weight(&self) -> usize {
        self.frames.iter().map(|f| 2 * f.json.as_ref().map_or(512, |json| json.get().len())).sum()
    }

    /// Writes the frames as a JSON array, each from its text.
    pub(crate) fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.frames.len()))?;
        for frame in self.frames.iter() {
            match &frame.json {
                Some(json) => seq.serialize_element(json)?,
                None => seq.serialize_element(&frame.frame)?,
            }
        }
        seq.end()
    }
}

impl From<Vec<Stackframe>> for Frames {
    fn from(frames: Vec<Stackframe>) -> Self {
        Self::new(frames.into_iter().map(SentFrame::new).collect())
    }
}
