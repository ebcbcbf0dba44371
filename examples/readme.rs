//! The README's snippets and the guide's examples, compiled and run as this library's
//! doctests, so that each one a user copies builds as shown (`cargo xtask ci` runs them;
//! `cargo xtask snippets` also builds each README snippet as a project of its own). The
//! dependencies of this package list every crate they use.

/// The README.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct Readme;

/// The guide's pages (`bugsnag/guide/`, the `bugsnag::guide` module's documentation).
#[cfg(doctest)]
pub mod guide {
    macro_rules! pages {
        ($($name:ident: $file:literal),* $(,)?) => {
            $(
                #[doc = include_str!(concat!("../bugsnag/guide/", $file))]
                pub struct $name;
            )*
        };
    }
    pages! {
        Origins: "origins.md",
        Reporting: "reporting.md",
        Configuration: "configuration.md",
        Filtering: "filtering.md",
        Frameworks: "frameworks.md",
        LoggingAndTraces: "logging-and-traces.md",
        Delivery: "delivery.md",
        Crashes: "crashes.md",
        TestingAndInbox: "testing-and-inbox.md",
    }
}
