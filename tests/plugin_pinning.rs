//! Plugin libraries are native code that runs when opened: a pinned library whose file changed,
//! a truncated library and a FIFO are refused in one line before anything opens them, relative
//! paths are from a symlinked registry's real folder, and the default registry is found at run
//! time, not where the binary was built.

mod common;

use common::{library, ok, scratch_registry, silico_bin, ScratchRegistry, TINY};
use sha2::{Digest, Sha256};
use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

/// The file the fixture library's load-time constructor writes (tests/fixtures/plugins/constructor).
const MARKER_VARIABLE: &str = "SILICO_FIXTURE_CONSTRUCTOR_MARKER";

/// `silico ARGS --threads 1 --registry REGISTRY`, its constructor marker at `marker`.
fn silico(registry: &Path, args: &[&str], marker: &Path) -> Output {
    Command::new(silico_bin())
        .args(args)
        .args(["--threads", "1", "--registry"])
        .arg(registry)
        .env(MARKER_VARIABLE, marker)
        .output()
        .unwrap()
}

/// The one line a refused run printed; checks that it failed with status 1.
fn refusal(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr.trim_end().to_string()
}

fn sha256_hex(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

/// A scratch registry with the TINY libraries and `extra` lines added to [plugins].
fn registry_with(extra: &str) -> ScratchRegistry {
    scratch_registry(&TINY.replacen("[plugins]\n", &format!("[plugins]\n{extra}\n"), 1))
}

#[test]
fn a_pinned_library_that_changed_is_refused_before_its_constructor_runs() {
    let registry = registry_with("constructor = \"libs/constructor.so\"   # the fixture");
    let dir = registry.dir.path();
    let copy = dir.join("libs/constructor.so");
    std::fs::create_dir(dir.join("libs")).unwrap();
    std::fs::copy(library("silico_fixture_constructor"), &copy).unwrap();

    let pinning = dir.join("marker-pin");
    ok(&silico(&registry.path, &["plugins", "--pin"], &pinning));
    assert!(pinning.exists(), "opening the library runs its constructor");
    let pinned = std::fs::read_to_string(&registry.path).unwrap();
    let hash = sha256_hex(&copy);
    assert!(
        pinned.contains(&format!(
            "constructor = {{ path = \"libs/constructor.so\", sha256 = \"{hash}\" }}   # the fixture\n"
        )),
        "{pinned}"
    );
    let losses_hash = sha256_hex(&library("silico_losses"));
    assert!(
        pinned.contains(&losses_hash),
        "every library is pinned: {pinned}"
    );
    assert!(
        pinned.contains("[models.tiny]\ngenerator = "),
        "the rest is kept: {pinned}"
    );

    let unchanged = dir.join("marker-unchanged");
    ok(&silico(&registry.path, &["plugins"], &unchanged));
    assert!(
        unchanged.exists(),
        "a pinned library that matches is opened"
    );

    let mut bytes = std::fs::read(&copy).unwrap();
    bytes.push(0);
    std::fs::write(&copy, &bytes).unwrap();
    let changed = dir.join("marker-changed");
    let line = refusal(&silico(&registry.path, &["plugins"], &changed));
    assert!(
        line.contains(&format!(
            "plugin library `constructor` ({}): its SHA-256 is {}, but the registry pins {hash}: ",
            copy.display(),
            sha256_hex(&copy)
        )),
        "{line}"
    );
    assert!(
        line.ends_with("accept it with `silico plugins --pin`"),
        "{line}"
    );
    assert!(!changed.exists(), "the changed library was opened");

    // Another library swapped in is refused as well, and `--pin` accepts it.
    std::fs::copy(library("silico_fixture_panicking"), &copy).unwrap();
    let swapped = dir.join("marker-swapped");
    let line = refusal(&silico(&registry.path, &["plugins"], &swapped));
    assert!(line.contains("but the registry pins"), "{line}");
    assert!(!swapped.exists());
    let stdout = ok(&silico(&registry.path, &["plugins", "--pin"], &swapped));
    assert!(stdout.contains("generator      panicking"), "{stdout}");
    ok(&silico(&registry.path, &["check"], &swapped));
}

#[test]
fn a_truncated_library_is_refused_in_one_line_without_being_opened() {
    let registry = registry_with("cut = \"cut.so\"");
    let whole = std::fs::read(library("silico_fixture_constructor")).unwrap();
    for (kept, what) in [
        (whole.len() / 2, "half"),
        (whole.len() - 1, "all but one byte"),
    ] {
        std::fs::write(registry.dir.path().join("cut.so"), &whole[..kept]).unwrap();
        let marker = registry.dir.path().join("marker");
        let line = refusal(&silico(&registry.path, &["plugins"], &marker));
        assert!(
            line.contains(&format!(
                "plugin library `cut` ({}): not a loadable shared library (truncated: its {kept} bytes are too few for its section headers; rebuild it)",
                registry.dir.path().join("cut.so").display()
            )),
            "{what}: {line}"
        );
        assert!(!marker.exists(), "{what}: the truncated library was opened");
    }
}

#[test]
fn a_fifo_as_a_library_is_refused_at_once() {
    let registry = registry_with("pipe = \"pipe.so\"");
    let fifo = registry.dir.path().join("pipe.so");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut child = Command::new(silico_bin())
        .args(["plugins", "--threads", "1", "--registry"])
        .arg(&registry.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("silico blocked on a FIFO named as a plugin library");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let line = refusal(&child.wait_with_output().unwrap());
    assert!(
        line.contains(&format!(
            "plugin library `pipe` ({}): a FIFO, not a regular file",
            fifo.display()
        )),
        "{line}"
    );
}

#[test]
fn a_symlinked_registry_finds_its_libraries_from_its_real_folder() {
    let real = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir(real.path().join("libs")).unwrap();
    std::fs::copy(library("silico_losses"), real.path().join("libs/losses.so")).unwrap();
    let target = real.path().join("registry.toml");
    std::fs::write(&target, "[plugins]\nlosses = \"libs/losses.so\"\n").unwrap();
    let link = elsewhere.path().join("registry.toml");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let marker = elsewhere.path().join("marker");
    let stdout = ok(&silico(&link, &["plugins"], &marker));
    let expected = std::fs::canonicalize(real.path())
        .unwrap()
        .join("libs/losses.so");
    assert!(
        stdout.starts_with(&format!(
            "losses — silico-losses 0.1.0 ({}; ",
            expected.display()
        )),
        "{stdout}"
    );

    // Pinning through the link rewrites its target and keeps the link.
    ok(&silico(&link, &["plugins", "--pin"], &marker));
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    let pinned = std::fs::read_to_string(&target).unwrap();
    assert!(
        pinned.contains(&format!(
            "losses = {{ path = \"libs/losses.so\", sha256 = \"{}\" }}",
            sha256_hex(&expected)
        )),
        "{pinned}"
    );
}

/// `silico plugins` run by the binary at `binary` from the folder `cwd`, with `SILICO_REGISTRY`
/// set to `registry` or unset, and no --registry.
fn plugins_found(binary: &Path, cwd: &Path, registry: Option<&Path>) -> Output {
    let mut command = Command::new(binary);
    command
        .args(["plugins", "--threads", "1"])
        .current_dir(cwd)
        .env_remove("SILICO_REGISTRY");
    if let Some(registry) = registry {
        command.env("SILICO_REGISTRY", registry);
    }
    command.output().unwrap()
}

#[test]
fn the_default_registry_is_found_at_run_time() {
    let cwd = tempfile::tempdir().unwrap();
    // The built binary finds its checkout's registry.toml two folders up, from any folder.
    let stdout = ok(&plugins_found(silico_bin(), cwd.path(), None));
    let checkout_losses: PathBuf = silico_bin().parent().unwrap().join("libsilico_losses.so");
    assert!(
        stdout.contains(&format!("({}; ", checkout_losses.display())),
        "{stdout}"
    );

    // A copy elsewhere finds none, and says where it looked.
    let bin = tempfile::tempdir().unwrap();
    let copy = bin.path().join("silico");
    std::fs::copy(silico_bin(), &copy).unwrap();
    let line = refusal(&plugins_found(&copy, cwd.path(), None));
    assert!(
        line.starts_with("error: no registry: --registry is not given, SILICO_REGISTRY is not set, and no registry.toml is in the executable's folder and above: "),
        "{line}"
    );
    for folder in [bin.path(), cwd.path()] {
        assert!(line.contains(&folder.display().to_string()), "{line}");
    }
    assert!(
        line.ends_with("pass --registry FILE or set SILICO_REGISTRY"),
        "{line}"
    );

    // SILICO_REGISTRY names one for it.
    let registry = scratch_registry(TINY);
    let stdout = ok(&plugins_found(&copy, cwd.path(), Some(&registry.path)));
    assert!(stdout.starts_with("losses — silico-losses"), "{stdout}");
}
