//! The exact tower, axum and tonic versions, for `device.runtimeVersions`.

fn main() {
    bugsnag_build::emit_version("BUGSNAG_VERSION_TOWER", "tower", "0.5");
    bugsnag_build::emit_version("BUGSNAG_VERSION_AXUM", "axum", "0.8");
    bugsnag_build::emit_version("BUGSNAG_VERSION_TONIC", "tonic", "0.14");
}
