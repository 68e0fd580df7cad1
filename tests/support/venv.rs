//! Python tools for the interop tests, each in its own venv under `target/tmp`, made on first
//! use (`python3 -m venv`, `pip install`). A machine without python3 fails those tests rather
//! than skipping them.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Runs `cmd`; panics with its output when it fails. Returns its stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The venv `target/tmp/<name>` with `requirement` installed; `ready` runs its python and
/// tells whether the install is there (a venv half-made by an interrupted run is made again).
/// Returns the venv's `bin` folder.
pub fn venv(name: &str, requirement: &str, ready: &[&str]) -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let bin = venv.join("bin");
    let python = bin.join("python");
    let installed = python.is_file()
        && Command::new(&python)
            .args(ready)
            .output()
            .is_ok_and(|o| o.status.success());
    if !installed {
        run(Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv));
        run(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            requirement,
        ]));
    }
    bin
}
