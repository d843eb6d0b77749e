//! Signals and locks: SIGTERM and SIGHUP stop a training with a checkpoint as Ctrl-C does, and
//! the resumed run ends on the weights of an uninterrupted one; `bench run` passes SIGTERM on to
//! its cells; a run folder has one writer at a time; what a killed writer leaves (its lock, a
//! temporary checkpoint folder) neither blocks the next run nor stays.

mod common;

use common::{ok, run_silico, scratch_registry, signal_when, silico_bin, synth_small, train_args};
use common::{ScratchRegistry, TINY};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::OnceLock,
    time::Duration,
};

/// A very small U-Net that checkpoints every 5 iterations, and trains (nearly) forever unless
/// told `--iterations`.
fn registry() -> ScratchRegistry {
    scratch_registry(&format!(
        "{TINY}train = {{ iterations = 100000, batch = 2, patch = [8, 32, 32], lr = 3e-3, checkpoint_every = 5, seed = 7 }}\n"
    ))
}

/// A small synthetic dataset, made once for all tests of this file.
fn dataset() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("silico-signals-test-{}", std::process::id()));
        synth_small(&dir, 3, 3, &[]);
        dir
    })
}

fn train(registry: &ScratchRegistry, run: &Path, extra: &[&str]) -> Output {
    run_silico(
        registry,
        &train_args("tiny", "nucleoli", dataset(), run, extra),
    )
}

fn start_training(registry: &ScratchRegistry, run: &Path, extra: &[&str]) -> Child {
    Command::new(silico_bin())
        .args(train_args("tiny", "nucleoli", dataset(), run, extra))
        .args(["--threads", "1", "--registry"])
        .arg(&registry.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The iteration of the run's checkpoint (the one a crash left in place included).
fn saved_iteration(run: &Path) -> u64 {
    silico::checkpoint::read_meta(&run.join("checkpoint"))
        .unwrap()
        .1
        .iteration
}

fn has_checkpoint(run: &Path) -> bool {
    run.join("checkpoint/checkpoint.json").exists()
}

fn weights(run: &Path) -> Vec<u8> {
    std::fs::read(run.join("checkpoint/generator.safetensors")).unwrap()
}

fn losses(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("losses.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().to_string())
        .collect()
}

/// The names in `dir` that are a lock or a temporary folder.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n == ".silico.lock" || n.contains(".tmp-"))
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Stops a training with `signal` once it has a checkpoint; checks that it said so in one line
/// with exit status 130 and saved a checkpoint that its log agrees with; returns its iteration.
fn stop_training_with(signal: &str, registry: &ScratchRegistry, run: &Path) -> u64 {
    let output = signal_when(
        start_training(registry, run, &[]),
        signal,
        || has_checkpoint(run),
        Duration::from_secs(120),
    );
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "SIG{signal}: {message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.starts_with("interrupted at iteration") && message.contains("--resume"),
        "{message}"
    );
    let iteration = saved_iteration(run);
    assert!(
        iteration >= 5,
        "SIG{signal} came after the first checkpoint"
    );
    assert_eq!(losses(run).len() as u64, iteration, "the log matches");
    assert!(leftovers(run).is_empty(), "{:?}", leftovers(run));
    iteration
}

#[test]
fn sigterm_saves_a_checkpoint_and_resumes_to_the_uninterrupted_weights() {
    let registry = registry();
    let run = registry.dir.path().join("run");
    let iteration = stop_training_with("TERM", &registry, &run);
    let target = (iteration + 3).to_string();
    ok(&train(
        &registry,
        &run,
        &["--resume", "--iterations", &target],
    ));
    let straight = registry.dir.path().join("straight");
    ok(&train(&registry, &straight, &["--iterations", &target]));
    assert_eq!(losses(&run), losses(&straight), "the same loss curve");
    assert!(
        weights(&run) == weights(&straight),
        "the same final weights, byte for byte"
    );
}

#[test]
fn sighup_saves_a_checkpoint() {
    let registry = registry();
    let run = registry.dir.path().join("run");
    let iteration = stop_training_with("HUP", &registry, &run);
    let target = (iteration + 1).to_string();
    ok(&train(
        &registry,
        &run,
        &["--resume", "--iterations", &target],
    ));
    assert_eq!(saved_iteration(&run), iteration + 1);
}

#[test]
fn a_second_training_into_a_folder_is_refused_while_the_first_finishes() {
    let registry = registry();
    let run = registry.dir.path().join("run");
    let first = start_training(&registry, &run, &["--iterations", "400"]);
    let lock = run.join(".silico.lock");
    let holder = format!("\"pid\":{}", first.id());
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&holder)) {
        assert!(started.elapsed() < Duration::from_secs(60), "no lock taken");
        std::thread::sleep(Duration::from_millis(20));
    }
    for extra in [&[][..], &["--resume"][..]] {
        let second = train(&registry, &run, extra);
        let message = stderr(&second);
        assert_eq!(second.status.code(), Some(1), "{message}");
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(
            message.contains(&format!("is being written by PID {} on ", first.id())),
            "{message}"
        );
    }
    let mut first = first;
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first training was still running when the second was refused"
    );
    ok(&first.wait_with_output().unwrap());
    assert_eq!(saved_iteration(&run), 400);
    assert_eq!(losses(&run).len(), 400);
    assert!(leftovers(&run).is_empty(), "{:?}", leftovers(&run));
    ok(&train(
        &registry,
        &run,
        &["--resume", "--iterations", "401"],
    ));
    assert_eq!(
        saved_iteration(&run),
        401,
        "the first run's checkpoint loads"
    );
}

#[test]
fn a_killed_trainings_lock_and_temporary_folder_neither_block_nor_stay() {
    let registry = registry();
    let run = registry.dir.path().join("run");
    let killed = start_training(&registry, &run, &[]);
    let pid = killed.id();
    signal_when(
        killed,
        "KILL",
        || has_checkpoint(&run),
        Duration::from_secs(120),
    );
    assert!(
        run.join(".silico.lock").exists(),
        "kill -9 leaves its lock file"
    );
    // What a kill during a checkpoint write leaves.
    let temporary = run.join(format!(".checkpoint.tmp-{pid}"));
    std::fs::create_dir_all(&temporary).unwrap();
    std::fs::write(temporary.join("generator.safetensors"), "half").unwrap();
    let iteration = saved_iteration(&run);
    let target = (iteration + 2).to_string();
    ok(&train(
        &registry,
        &run,
        &["--resume", "--iterations", &target],
    ));
    assert_eq!(saved_iteration(&run), iteration + 2);
    assert!(leftovers(&run).is_empty(), "{:?}", leftovers(&run));
}

#[test]
fn bench_run_passes_sigterm_on_to_its_cells() {
    let registry = registry();
    let plan = registry.dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "data = \"{}\"\nstructures = [\"nucleoli\"]\nseeds = [0]\n[models.tiny]\n",
            dataset().display()
        ),
    )
    .unwrap();
    let out = registry.dir.path().join("bench");
    let cell_run = out.join("cells/tiny/nucleoli/seed0/run");
    // The process alone, not its group: as `kill PID` or a scheduler signals it.
    let bench = Command::new(silico_bin())
        .args(["bench", "run"])
        .arg(&plan)
        .arg("--out")
        .arg(&out)
        .args(["--threads", "1", "--registry"])
        .arg(&registry.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = signal_when(
        bench,
        "TERM",
        || has_checkpoint(&cell_run),
        Duration::from_secs(120),
    );
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{message}");
    assert!(
        message.starts_with("interrupted: 0 of the 1 cells"),
        "{message}"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("stopped tiny/nucleoli/seed0"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    // The cell saved its checkpoint and ended before `bench run` did.
    let log = std::fs::read_to_string(cell_run.with_file_name("log.txt")).unwrap();
    assert!(
        log.contains("interrupted; cell tiny/nucleoli/seed0"),
        "{log}"
    );
    assert_eq!(losses(&cell_run).len() as u64, saved_iteration(&cell_run));
    for folder in [&cell_run, cell_run.parent().unwrap(), &out] {
        assert!(leftovers(folder).is_empty(), "{:?}", leftovers(folder));
    }
}

#[test]
fn train_retrain_and_bench_refuse_a_folder_another_process_writes() {
    let registry = scratch_registry(&format!(
        "{TINY}retrain = {{ p = [1.0] }}\n[models.tiny.train]\niterations = 10\n"
    ));
    let out = registry.dir.path().join("held");
    let plan = registry.dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "data = \"{}\"\nstructures = [\"nucleoli\"]\nseeds = [0]\n[models.tiny]\n",
            dataset().display()
        ),
    )
    .unwrap();
    let data = dataset().to_str().unwrap();
    let held = out.to_str().unwrap();
    let plan = plan.to_str().unwrap();
    let _lock = silico::files::FolderLock::acquire(&out).unwrap();
    let holder = format!("is being written by PID {} on ", std::process::id());
    for args in [
        train_args("tiny", "nucleoli", dataset(), &out, &[]),
        vec![
            "retrain",
            "--model",
            "tiny",
            "--data",
            data,
            "--initial",
            data,
            "--out",
            held,
        ],
        vec!["bench", "run", plan, "--out", held],
    ] {
        let output = run_silico(&registry, &args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(message.contains(&holder), "{args:?}: {message}");
    }
    assert_eq!(leftovers(&out), vec![".silico.lock"], "nothing written");
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        1,
        "nothing written"
    );
}
