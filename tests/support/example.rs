//! Running an example binary from a test: built once per test run with the same features as
//! the test, and scratch files for the arguments it reads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The example `name`, built (or found up to date) with this test's features.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(binary) = built.get_or_insert_with(HashMap::new).get(name) {
        return binary.clone();
    }
    let features: Vec<&str> = [
        ("remote", cfg!(feature = "remote")),
        ("redis", cfg!(feature = "redis")),
        ("testing", cfg!(feature = "testing")),
        ("jsonwebtoken", cfg!(feature = "jsonwebtoken")),
        ("metrics", cfg!(feature = "metrics")),
    ]
    .into_iter()
    .filter_map(|(feature, on)| on.then_some(feature))
    .collect();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--example", name, "--no-default-features"])
        .args(["--features", &features.join(",")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the {name} example builds");
    // Tests run from target/<profile>/deps; examples live beside deps.
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let binary = deps.parent().unwrap().join("examples").join(name);
    assert!(binary.exists(), "no {name} binary at {}", binary.display());
    built.get_or_insert_with(HashMap::new).insert(name.to_owned(), binary.clone());
    binary
}

/// A scratch file that is removed when dropped.
pub struct TempFile(PathBuf);

impl TempFile {
    pub fn new(contents: &str) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "jwt-layer-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    /// The file's path as text.
    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
