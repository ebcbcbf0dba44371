//! The exact actix-web version, for `device.runtimeVersions`.

fn main() {
    bugsnag_build::emit_version("BUGSNAG_VERSION_ACTIX_WEB", "actix-web", "4");
}
