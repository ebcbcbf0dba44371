//! The README's snippets, compiled and run as this library's doctests, so that each one a
//! user copies into a new project builds as shown (`cargo xtask ci` runs them). The
//! `[dev-dependencies]` of this package list every crate they use.

/// The README, whose Rust blocks are the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct Readme;
