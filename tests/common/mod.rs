//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared reference folder beside the project (`../shared`), when present. Tests that
/// need it skip loudly under plain `cargo test` and fail under CI.
pub fn shared_reference(file: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference")
        .join(file);
    if path.exists() {
        return Some(path);
    }
    require_or_skip(&format!("{} is missing", path.display()));
    None
}

/// Panics under CI (`CI=true`); otherwise prints a loud skip notice.
pub fn require_or_skip(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("required under CI: {why}");
    }
    eprintln!("\n!!!!! SKIPPED: {why} (this would fail under CI=true) !!!!!\n");
}
