//! Running an example binary from a test, and scratch files for the arguments it reads.
//!
//! The binary is the one cargo built beside the test: `cargo test` builds a package's examples
//! with the test's own features before it runs any test (`./scripts/test.sh` runs
//! `cargo build --workspace --examples --all-features` first, the same build). No cargo runs
//! from inside a test: a nested build with another feature selection would compile the
//! dependencies again, on every run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

const BUILD_HINT: &str = "build the examples first: `cargo build --workspace --examples --all-features` \
     (a whole `cargo test` builds them too; `cargo test --test <name>` alone does not)";

/// The example `name` built beside this test, refused when missing or older than its sources.
pub fn example_binary(name: &str) -> PathBuf {
    // Tests run from target/<profile>/deps; examples live beside deps.
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let binary = deps.parent().unwrap().join("examples").join(file);
    let built = std::fs::metadata(&binary)
        .and_then(|meta| meta.modified())
        .unwrap_or_else(|e| panic!("no {name} binary at {} ({e}); {BUILD_HINT}", binary.display()));
    // A binary older than the code it is built from would test that older code.
    let newest = sources(name).iter().map(|path| newest_in(path)).max();
    let newest = newest.unwrap_or(SystemTime::UNIX_EPOCH);
    assert!(
        built >= newest,
        "the {name} binary at {} is older than its sources; {BUILD_HINT}",
        binary.display()
    );
    binary
}

/// The example's own files and the `src/` of this package and of every package above it, up
/// to the workspace root (the library, for a member whose example uses it).
fn sources(name: &str) -> Vec<PathBuf> {
    let mut sources = Vec::new();
    for package in Path::new(env!("CARGO_MANIFEST_DIR")).ancestors() {
        let Ok(manifest) = std::fs::read_to_string(package.join("Cargo.toml")) else {
            continue;
        };
        sources.push(package.join("src"));
        sources.push(package.join("examples").join(format!("{name}.rs")));
        sources.push(package.join("examples").join(name));
        if manifest.lines().any(|line| line.trim() == "[workspace]") {
            break;
        }
    }
    sources
}

/// The latest modification time of `path` or of a file under it (the epoch when none exists).
fn newest_in(path: &Path) -> SystemTime {
    let Ok(meta) = std::fs::metadata(path) else {
        return SystemTime::UNIX_EPOCH;
    };
    if !meta.is_dir() {
        return meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return SystemTime::UNIX_EPOCH;
    };
    entries.flatten().map(|entry| newest_in(&entry.path())).max().unwrap_or(SystemTime::UNIX_EPOCH)
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
