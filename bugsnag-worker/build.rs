//! The exact apalis version, for `device.runtimeVersions`.

fn main() {
    bugsnag_build::emit_version("BUGSNAG_VERSION_APALIS", "apalis", "1");
}
