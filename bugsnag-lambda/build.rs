//! The exact lambda_runtime version, for `device.runtimeVersions`.

fn main() {
    bugsnag_build::emit_version("BUGSNAG_VERSION_LAMBDA_RUNTIME", "lambda_runtime", "1");
}
