//! Running an example binary from a test, and scratch files for the arguments it reads.
//!
//! The binary is the one cargo built beside the test: `cargo test` builds a package's examples
//! with the test's own features before it runs any test (so does the `cargo test --workspace
//! --all-features` of `./scripts/test.sh`, for every member). No cargo runs from inside a
//! test: a nested build with another feature selection would compile the dependencies again,
//! on every run.

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
    // A binary older than a file it was compiled from (the list cargo writes beside it, in
    // `<name>.d`) would test that older code.
    if let Some(changed) = changed_since_build(&binary, built) {
        panic!("the {name} binary at {} is older than {changed}; {BUILD_HINT}", binary.display());
    }
    binary
}

/// A source file of `binary` changed or gone since it was `built`, per its dep-info file.
fn changed_since_build(binary: &Path, built: SystemTime) -> Option<String> {
    let dep_info = std::fs::read_to_string(binary.with_extension("d")).ok()?;
    let (_, sources) = dep_info.lines().next()?.split_once(": ")?;
    // Spaces inside a path are escaped as `\ `.
    let sources = sources.replace("\\ ", "\0");
    sources.split_whitespace().map(|source| source.replace('\0', " ")).find(|source| {
        std::fs::metadata(source).and_then(|meta| meta.modified()).map_or(true, |m| m > built)
    })
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
