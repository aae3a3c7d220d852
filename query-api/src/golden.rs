//! Golden-file checks of API answers, for this crate's tests and the end-to-end tests.

use std::path::Path;

/// Asserts that `actual`, pretty-printed, equals `dir/name.json`. With the environment
/// variable `UPDATE_GOLDEN` set, writes the file instead (review the diff).
pub fn check(dir: &Path, name: &str, actual: &serde_json::Value) {
    let path = dir.join(format!("{name}.json"));
    let text = match serde_json::to_string_pretty(actual) {
        Ok(text) => text + "\n",
        Err(e) => panic!("{name}: cannot encode the answer: {e}"),
    };
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Err(e) = std::fs::write(&path, &text) {
            panic!("{}: {e}", path.display());
        }
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == text,
        "{name}: answer differs from {}\n--- actual ---\n{text}",
        path.display()
    );
}
