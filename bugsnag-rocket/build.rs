//! The exact Rocket version, for `device.runtimeVersions`.

fn main() {
    bugsnag_build::emit_version("BUGSNAG_VERSION_ROCKET", "rocket", "0.5");
}
