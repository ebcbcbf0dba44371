//! `bugsnag-inbox`: a local Bugsnag endpoint with a web page, run from anywhere.
//!
//! ```text
//! cargo install --path inbox     # from a checkout of bugsnag-rust
//! bugsnag-inbox                  # http://127.0.0.1:9339 (--addr HOST:PORT, --store FILE, --clear)
//! ```
//!
//! Payloads are kept in `$XDG_CACHE_HOME/bugsnag-inbox/received.jsonl` (else under
//! `~/.cache`, else the temporary directory) unless `--store` names another file.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    match bugsnag_inbox::run(&args, cache.join("bugsnag-inbox").join("received.jsonl")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bugsnag-inbox: {e}");
            ExitCode::FAILURE
        }
    }
}
