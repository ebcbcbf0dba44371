//! What became of a report.

/// What became of a `notify` call.
///
/// Reporting is fire-and-forget: ignoring the outcome is normal (`notify(&err);`). It
/// says why an event was not sent, for tests and for programs that count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The event is on its way to Bugsnag.
    Queued,
    /// The event will not be sent.
    Dropped(DropReason),
}

impl Outcome {
    /// Whether the event was handed to the delivery thread.
    pub fn is_queued(self) -> bool {
        self == Outcome::Queued
    }
}

/// Why an event was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// No global client: `configure` was not called.
    NotConfigured,
    /// No valid API key or endpoint: the notifier is disabled (a warning said why).
    Disabled,
    /// The release stage is not in `notify_release_stages`.
    ReleaseStage,
    /// An errorClass of the chain is in `ignore_classes`.
    IgnoredClass,
    /// A `before_notify` callback returned [`Decision::Drop`](crate::Decision::Drop).
    Callback,
    /// The delivery queue was full (the endpoint is slow or down).
    QueueFull,
    /// `notify` was called from a `before_notify` callback (which would recurse).
    InsideCallback,
    /// Its error group had spent its budget (see
    /// [`Configuration::error_budget`](crate::Configuration::error_budget)): counted, and
    /// told with the group's next event.
    HeldBack,
    /// The client was shut down ([`Client::shutdown`](crate::Client::shutdown), or the
    /// guard returned by `configure` was dropped).
    ShutDown,
}

/// Why a client refuses reports, once it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// `Client::shutdown` was called.
    ShutDown = 1,
    /// The guard returned by `configure` was dropped.
    GuardDropped = 2,
}
