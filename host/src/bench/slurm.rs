//! The Slurm executor of `silico bench run`: the unfinished cells become one `sbatch` job array,
//! one cell per task, with the plan's `[slurm]` resources, and a job that depends on it
//! (`afterany`: whether cells failed or not) rebuilds the report. Each task runs
//! `silico bench cell` exactly as the local executor does, its output in the cell's `log.txt`.
//! The nodes must see `OUT`, the `silico` executable and the registry at the same paths (a
//! shared file system, as clusters have).
//!
//! ```text
//! OUT/slurm/cells.txt          the cells of the last submission, one per line; task i runs line i+1
//! OUT/slurm/cells.sbatch       the array job (the cell list is in the script itself, so tasks
//!                              still queued keep their cells when a later submission rewrites it)
//! OUT/slurm/report.sbatch      the report job, after the array
//! OUT/slurm/logs/              Slurm's own output of each task (<array>_<task>.log) and report
//! OUT/slurm/jobs.json          every submission: its array and report job ids and its cells
//! ```

use super::local::CellCommand;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

/// The plan's `[slurm]` table: the resources of each cell's task. Every key is optional; what is
/// not given is the cluster's default.
///
/// ```toml
/// [slurm]
/// partition = "gpu"
/// gpus_per_task = 1
/// cpus_per_task = 8
/// mem = "32G"
/// time = "12:00:00"
/// max_parallel = 4                  # tasks running at once (the array's %N)
/// extra = ["--account=lab", "--qos=normal"]   # more sbatch options, for the report job too
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    pub partition: Option<String>,
    pub gpus_per_task: Option<u32>,
    pub cpus_per_task: Option<u32>,
    /// As sbatch's `--mem`, e.g. `16G`.
    pub mem: Option<String>,
    /// As sbatch's `--time`, e.g. `12:00:00` or `1-00:00:00`.
    pub time: Option<String>,
    /// At most this many cells run at once.
    pub max_parallel: Option<u32>,
    /// Further sbatch options, one per item, each as on sbatch's command line (`--account=lab`)
    /// or as a whole `#SBATCH` line.
    #[serde(default)]
    pub extra: Vec<String>,
}

impl SlurmSettings {
    /// Reads the plan's `[slurm]` table (none: every default); errors name the key
    /// `slurm.<key>`.
    pub fn from_table(table: Option<&toml::Table>) -> Result<Self> {
        let Some(table) = table else {
            return Ok(Self::default());
        };
        let settings: Self = serde_path_to_error::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| crate::registry::keyed_error("slurm", e))?;
        for (key, value) in [
            ("partition", &settings.partition),
            ("mem", &settings.mem),
            ("time", &settings.time),
        ] {
            if let Some(value) = value {
                if value.is_empty() || value.contains(|c: char| c.is_whitespace() || c == '"') {
                    bail!("key `slurm.{key}`: `{value}` is not a single sbatch value");
                }
            }
        }
        for (key, value) in [
            ("gpus_per_task", settings.gpus_per_task),
            ("cpus_per_task", settings.cpus_per_task),
            ("max_parallel", settings.max_parallel),
        ] {
            if value == Some(0) {
                bail!("key `slurm.{key}`: must be at least 1");
            }
        }
        for line in &settings.extra {
            let option = line.strip_prefix("#SBATCH").unwrap_or(line).trim_start();
            if !option.starts_with('-') || line.contains(['\n', '\r']) {
                bail!(
                    "key `slurm.extra`: `{line}` is not an sbatch option, e.g. \"--account=lab\""
                );
            }
        }
        Ok(settings)
    }

    fn sbatch_lines(&self) -> String {
        let mut lines = String::new();
        if let Some(partition) = &self.partition {
            writeln!(lines, "#SBATCH --partition={partition}").unwrap();
        }
        if let Some(time) = &self.time {
            writeln!(lines, "#SBATCH --time={time}").unwrap();
        }
        for line in &self.extra {
            let option = line.strip_prefix("#SBATCH").unwrap_or(line).trim();
            writeln!(lines, "#SBATCH {option}").unwrap();
        }
        lines
    }
}

/// One `sbatch` submission: the array of cells and the report job after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The array's job id; task `i` runs `cells[i]`.
    pub array: String,
    /// The report job's id.
    pub report: String,
    pub cells: Vec<String>,
}

/// `OUT/slurm/jobs.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Jobs {
    /// Oldest first.
    submissions: Vec<Submission>,
}

fn slurm_dir(out: &Path) -> PathBuf {
    out.join("slurm")
}

fn jobs_path(out: &Path) -> PathBuf {
    slurm_dir(out).join("jobs.json")
}

/// Submits `cells` (cell ids) of the bench folder `out` as one job array run by `command`, then
/// the report job after it, and records both in `OUT/slurm/jobs.json`. Refuses cells that an
/// earlier submission still has queued or running. A refused submission is one line with
/// sbatch's own message.
pub fn submit(
    out: &Path,
    cells: &[String],
    settings: &SlurmSettings,
    command: &CellCommand,
) -> Result<Submission> {
    if cells.is_empty() {
        bail!("no cells to submit to Slurm");
    }
    if let Some(cell) = cells.iter().find(|c| c.contains(['\n', '\r'])) {
        bail!("cell {cell:?}: a line break in a cell id cannot go into OUT/slurm/cells.txt");
    }
    let out = absolute(out)?;
    let command = CellCommand {
        silico: absolute(&command.silico)?,
        registry: absolute(&command.registry)?,
        threads: command.threads,
        device: command.device.clone(),
    };
    let running = states(&out)?;
    if let Some((cell, state)) = cells
        .iter()
        .find_map(|c| running.get(c).filter(|s| is_active(s)).map(|s| (c, s)))
    {
        let job = last_submission_of(&out, cell)?
            .map(|s| s.array)
            .unwrap_or_default();
        bail!(
            "cell {cell} is still {state} in Slurm job {job}; wait for it (silico bench status) \
             or cancel it (scancel {job}), then run again"
        );
    }
    let dir = slurm_dir(&out);
    fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("cannot create {}", dir.join("logs").display()))?;
    let mut list = cells.join("\n");
    list.push('\n');
    crate::files::write_atomic(&dir.join("cells.txt"), list.as_bytes())?;
    let cells_script = dir.join("cells.sbatch");
    crate::files::write_atomic(
        &cells_script,
        array_script(&out, cells, settings, &command)?.as_bytes(),
    )?;
    let array = sbatch(&cells_script, "the cells' array job")?;
    let report_script_path = dir.join("report.sbatch");
    let report = crate::files::write_atomic(
        &report_script_path,
        report_script(&out, settings, &command, &array)?.as_bytes(),
    )
    .and_then(|()| sbatch(&report_script_path, "the report job"));
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            // The array without its report would leave the folder half-run without a word.
            let _ = Command::new("scancel").arg(&array).status();
            bail!("{e:#}; cancelled the cells' array job {array}");
        }
    };
    let submission = Submission {
        array,
        report,
        cells: cells.to_vec(),
    };
    let mut jobs = read_jobs(&out)?;
    jobs.submissions.push(submission.clone());
    crate::files::write_atomic(&jobs_path(&out), &serde_json::to_vec_pretty(&jobs)?)?;
    Ok(submission)
}

/// Every submission of the bench folder `out`, oldest first; none before the first.
pub fn submissions(out: &Path) -> Result<Vec<Submission>> {
    Ok(read_jobs(out)?.submissions)
}

fn read_jobs(out: &Path) -> Result<Jobs> {
    let path = jobs_path(out);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a record of Slurm jobs", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Jobs::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn last_submission_of(out: &Path, cell: &str) -> Result<Option<Submission>> {
    Ok(submissions(out)?
        .into_iter()
        .rev()
        .find(|s| s.cells.iter().any(|c| c == cell)))
}

/// Slurm's own output of `cell`'s task in its latest submission, `OUT/slurm/logs/<array>_<task>.log`
/// (where Slurm says why it ended a task, e.g. `DUE TO TIME LIMIT`); `None` if never submitted.
pub fn task_log(out: &Path, cell: &str) -> Result<Option<PathBuf>> {
    Ok(last_submission_of(out, cell)?.and_then(|s| {
        let task = s.cells.iter().position(|c| c == cell)?;
        Some(
            slurm_dir(out)
                .join("logs")
                .join(format!("{}_{task}.log", s.array)),
        )
    }))
}

/// Each submitted cell's Slurm state (`PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `TIMEOUT`,
/// `CANCELLED`, ...) in its latest submission, from `sacct` where the cluster keeps accounting
/// and `squeue` (which knows finished jobs for the cluster's `MinJobAge`). A cell whose job
/// Slurm no longer knows is absent: its files say how it ended.
pub fn states(out: &Path) -> Result<BTreeMap<String, String>> {
    let mut states = BTreeMap::new();
    for submission in read_jobs(out)?.submissions {
        let mut tasks = sacct_states(&submission.array);
        tasks.extend(squeue_states(&submission.array));
        for (task, cell) in submission.cells.iter().enumerate() {
            match tasks.remove(&task) {
                Some(state) => states.insert(cell.clone(), state),
                None => states.remove(cell),
            };
        }
    }
    Ok(states)
}

/// A state in which a job may still run: queued, running or on its way.
pub fn is_active(state: &str) -> bool {
    matches!(
        state,
        "PENDING"
            | "RUNNING"
            | "CONFIGURING"
            | "COMPLETING"
            | "SUSPENDED"
            | "REQUEUED"
            | "REQUEUE_HOLD"
            | "REQUEUE_FED"
            | "RESIZING"
            | "SIGNALING"
            | "STAGE_OUT"
            | "STOPPED"
    )
}

/// The array's task states from accounting; empty where the cluster has none.
fn sacct_states(array: &str) -> BTreeMap<usize, String> {
    let output = Command::new("sacct")
        .args([
            "--jobs",
            array,
            "--allocations",
            "--noheader",
            "--parsable2",
        ])
        .args(["--format=JobID,State"])
        .output();
    match output {
        Ok(output) if output.status.success() => {
            parse_task_states(array, &String::from_utf8_lossy(&output.stdout))
        }
        _ => BTreeMap::new(),
    }
}

/// The array's task states from the controller, pending tasks one by one; empty once Slurm no
/// longer knows the job.
fn squeue_states(array: &str) -> BTreeMap<usize, String> {
    let output = Command::new("squeue")
        .args(["--jobs", array, "--array", "--states=all", "--noheader"])
        .args(["--format=%F_%K|%T"])
        .output();
    match output {
        Ok(output) if output.status.success() => {
            parse_task_states(array, &String::from_utf8_lossy(&output.stdout))
        }
        _ => BTreeMap::new(),
    }
}

/// Parses `JobID|State` lines: `<array>_<task>`, or `<array>_[<ranges>]` for tasks still
/// pending together (`[0-3,7%2]`); states as `CANCELLED by 0` keep their first word.
fn parse_task_states(array: &str, text: &str) -> BTreeMap<usize, String> {
    let prefix = format!("{array}_");
    let mut tasks = BTreeMap::new();
    for line in text.lines() {
        let Some((id, state)) = line.trim().split_once('|') else {
            continue;
        };
        let Some(state) = state.split_whitespace().next() else {
            continue;
        };
        let Some(task) = id.strip_prefix(&prefix) else {
            continue;
        };
        for task in task_ids(task) {
            tasks.insert(task, state.to_string());
        }
    }
    tasks
}

fn task_ids(spec: &str) -> Vec<usize> {
    let spec = spec.trim_start_matches('[').trim_end_matches(']');
    let spec = spec.split('%').next().unwrap_or_default();
    let mut ids = Vec::new();
    for part in spec.split(',') {
        match part.split_once('-') {
            Some((first, last)) => {
                if let (Ok(first), Ok(last)) = (first.parse::<usize>(), last.parse::<usize>()) {
                    ids.extend(first..=last);
                }
            }
            None => ids.extend(part.parse::<usize>().ok()),
        }
    }
    ids
}

/// Runs `sbatch --parsable script`; returns the job id.
fn sbatch(script: &Path, what: &str) -> Result<String> {
    let output = Command::new("sbatch")
        .arg("--parsable")
        .arg(script)
        .output()
        .context("cannot run sbatch (is Slurm installed and on PATH?)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // `--parsable` prints `<id>` or `<id>;<cluster>`.
    let id = stdout.trim().split(';').next().unwrap_or_default();
    if !output.status.success() || id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        let message: Vec<&str> = std::str::from_utf8(&output.stderr)
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().trim_start_matches("sbatch: error: ").trim())
            .filter(|l| !l.is_empty())
            .collect();
        bail!(
            "sbatch refused {what} ({}): {}",
            script.display(),
            if message.is_empty() {
                format!("{}, printing {:?}", output.status, stdout.trim())
            } else {
                message.join("; ")
            }
        );
    }
    Ok(id.to_string())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// `path` in single quotes for bash.
fn shell_quote(path: &str) -> String {
    format!("'{}'", path.replace('\'', r"'\''"))
}

/// `path` in double quotes for an `#SBATCH` line; sbatch cannot take a double quote, a
/// backslash (in a file name it turns Slurm's patterns off) or a line break there.
fn sbatch_quote(path: &str) -> Result<String> {
    if path.contains(['"', '\\', '\n', '\r']) {
        bail!(
            "{path}: sbatch cannot take a path with a double quote, backslash or line break; \
             choose another --out"
        );
    }
    Ok(format!("\"{path}\""))
}

/// `OUT/slurm/logs/<pattern>` for `--output`: `%` in `out` kept literal, `pattern` as Slurm's
/// file name pattern (`%A_%a.log`).
fn log_file(out: &Path, pattern: &str) -> Result<String> {
    let logs = slurm_dir(out).join("logs");
    sbatch_quote(&format!(
        "{}/{pattern}",
        logs.to_string_lossy().replace('%', "%%")
    ))
}

fn common_lines(out: &Path) -> Result<String> {
    Ok(format!(
        "#SBATCH --ntasks=1\n#SBATCH --chdir={}\n",
        sbatch_quote(&out.to_string_lossy())?
    ))
}

fn silico_options(command: &CellCommand) -> String {
    format!(
        "--registry {} --threads {}",
        shell_quote(&command.registry.to_string_lossy()),
        command.threads
    )
}

/// The array job: task `i` runs `silico bench cell` on `cells[i]`.
fn array_script(
    out: &Path,
    cells: &[String],
    settings: &SlurmSettings,
    command: &CellCommand,
) -> Result<String> {
    let mut script = String::from("#!/bin/bash\n");
    script.push_str(
        "# silico bench: one task per cell; written by `silico bench run --executor slurm`.\n",
    );
    script.push_str("#SBATCH --job-name=silico-bench\n");
    let throttle = settings
        .max_parallel
        .map(|n| format!("%{n}"))
        .unwrap_or_default();
    writeln!(script, "#SBATCH --array=0-{}{throttle}", cells.len() - 1).unwrap();
    script.push_str(&common_lines(out)?);
    writeln!(script, "#SBATCH --output={}", log_file(out, "%A_%a.log")?).unwrap();
    if let Some(gpus) = settings.gpus_per_task {
        writeln!(script, "#SBATCH --gpus-per-task={gpus}").unwrap();
    }
    if let Some(cpus) = settings.cpus_per_task {
        writeln!(script, "#SBATCH --cpus-per-task={cpus}").unwrap();
    }
    if let Some(mem) = &settings.mem {
        writeln!(script, "#SBATCH --mem={mem}").unwrap();
    }
    script.push_str(&settings.sbatch_lines());
    script.push_str("set -euo pipefail\n");
    writeln!(script, "out={}", shell_quote(&out.to_string_lossy())).unwrap();
    script.push_str("cells=(\n");
    for cell in cells {
        writeln!(script, "  {}", shell_quote(cell)).unwrap();
    }
    script.push_str(")\n");
    script.push_str("cell=\"${cells[$SLURM_ARRAY_TASK_ID]}\"\n");
    script.push_str("mkdir -p \"$out/cells/$cell\"\n");
    writeln!(
        script,
        "exec {} bench cell --out \"$out\" --cell \"$cell\" {} --device {} \
         >\"$out/cells/$cell/log.txt\" 2>&1",
        shell_quote(&command.silico.to_string_lossy()),
        silico_options(command),
        shell_quote(&command.device)
    )
    .unwrap();
    Ok(script)
}

/// The report job, after every task of the array `array` has ended however it ended.
fn report_script(
    out: &Path,
    settings: &SlurmSettings,
    command: &CellCommand,
    array: &str,
) -> Result<String> {
    let mut script = String::from("#!/bin/bash\n");
    script.push_str("# silico bench: the report, once the cells' array has ended.\n");
    script.push_str("#SBATCH --job-name=silico-bench-report\n");
    writeln!(script, "#SBATCH --dependency=afterany:{array}").unwrap();
    script.push_str(&common_lines(out)?);
    writeln!(
        script,
        "#SBATCH --output={}",
        log_file(out, "report_%j.log")?
    )
    .unwrap();
    script.push_str(&settings.sbatch_lines());
    script.push_str("set -euo pipefail\n");
    writeln!(
        script,
        "exec {} bench report {} {}",
        shell_quote(&command.silico.to_string_lossy()),
        shell_quote(&out.to_string_lossy()),
        silico_options(command)
    )
    .unwrap();
    Ok(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    fn command(root: &Path) -> CellCommand {
        CellCommand {
            silico: root.join("bin dir/silico"),
            registry: root.join("my registry.toml"),
            threads: 2,
            device: "cuda:0".into(),
        }
    }

    #[test]
    fn settings_are_read_and_errors_name_the_key() {
        let settings = SlurmSettings::from_table(Some(&table(
            "partition = \"gpu\"\ngpus_per_task = 1\ncpus_per_task = 8\nmem = \"16G\"\n\
             time = \"12:00:00\"\nmax_parallel = 3\nextra = [\"--account=lab\"]",
        )))
        .unwrap();
        assert_eq!(settings.partition.as_deref(), Some("gpu"));
        assert_eq!(settings.max_parallel, Some(3));
        assert_eq!(settings.extra, ["--account=lab"]);
        assert_eq!(
            SlurmSettings::from_table(None).unwrap(),
            SlurmSettings::default()
        );
        for (text, message) in [
            (
                "partiton = \"gpu\"",
                "key `slurm.partiton`: unknown field `partiton`",
            ),
            (
                "cpus_per_task = \"8\"",
                "key `slurm.cpus_per_task`: invalid type",
            ),
            (
                "max_parallel = 0",
                "key `slurm.max_parallel`: must be at least 1",
            ),
            (
                "mem = \"16 G\"",
                "key `slurm.mem`: `16 G` is not a single sbatch value",
            ),
            (
                "extra = [\"account=lab\"]",
                "key `slurm.extra`: `account=lab` is not an sbatch",
            ),
        ] {
            let error = SlurmSettings::from_table(Some(&table(text)))
                .unwrap_err()
                .to_string();
            assert!(error.starts_with(message), "{text}: {error}");
        }
    }

    #[test]
    fn the_array_script_throttles_quotes_paths_and_adds_the_extra_lines() {
        let root = Path::new("/data/it's a bench");
        let out = root.join("out 100%");
        let settings = SlurmSettings {
            partition: Some("gpu".into()),
            gpus_per_task: Some(1),
            mem: Some("16G".into()),
            max_parallel: Some(2),
            extra: vec!["--account=lab".into(), "#SBATCH --qos=high".into()],
            ..SlurmSettings::default()
        };
        let cells = ["a/dna/seed0".to_string(), "b 'x'/dna/seed1".to_string()];
        let script = array_script(&out, &cells, &settings, &command(root)).unwrap();
        let lines: Vec<&str> = script.lines().collect();
        for expected in [
            "#SBATCH --array=0-1%2",
            "#SBATCH --chdir=\"/data/it's a bench/out 100%\"",
            "#SBATCH --output=\"/data/it's a bench/out 100%%/slurm/logs/%A_%a.log\"",
            "#SBATCH --partition=gpu",
            "#SBATCH --gpus-per-task=1",
            "#SBATCH --mem=16G",
            "#SBATCH --account=lab",
            "#SBATCH --qos=high",
            "  'b '\\''x'\\''/dna/seed1'",
        ] {
            assert!(
                lines.contains(&expected),
                "{expected} missing from\n{script}"
            );
        }
        assert!(!script.contains("--cpus-per-task") && !script.contains("--time"));
        // sbatch reads `#SBATCH` lines only before the first command.
        let first_command = lines.iter().position(|l| l.starts_with("set ")).unwrap();
        assert!(lines[first_command..]
            .iter()
            .all(|l| !l.starts_with("#SBATCH")));
        let unthrottled =
            array_script(&out, &cells[..1], &SlurmSettings::default(), &command(root));
        assert!(unthrottled.unwrap().contains("#SBATCH --array=0-0\n"));
        assert!(array_script(Path::new("/a\"b"), &cells, &settings, &command(root)).is_err());
    }

    #[test]
    fn the_report_script_waits_for_the_array_however_it_ended() {
        let root = Path::new("/data/a bench");
        let settings = SlurmSettings {
            partition: Some("short".into()),
            gpus_per_task: Some(4),
            extra: vec!["--account=lab".into()],
            ..SlurmSettings::default()
        };
        let script = report_script(&root.join("out"), &settings, &command(root), "4242").unwrap();
        let lines: Vec<&str> = script.lines().collect();
        for expected in [
            "#SBATCH --dependency=afterany:4242",
            "#SBATCH --partition=short",
            "#SBATCH --account=lab",
            "exec '/data/a bench/bin dir/silico' bench report '/data/a bench/out' \
             --registry '/data/a bench/my registry.toml' --threads 2",
        ] {
            assert!(
                lines.contains(&expected),
                "{expected} missing from\n{script}"
            );
        }
        assert!(
            !script.contains("--gpus-per-task"),
            "the report needs no GPU"
        );
    }

    /// The array script runs each task's cell with the right arguments, whatever the paths hold.
    #[test]
    fn an_array_task_runs_its_cell_with_every_argument_intact() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().join("a 'dir' $HOME");
        let command = command(&root);
        fs::create_dir_all(command.silico.parent().unwrap()).unwrap();
        // A stand-in for silico: prints its arguments one per line.
        fs::write(&command.silico, "#!/bin/sh\nprintf '%s\\n' \"$@\"\n").unwrap();
        let mut permissions = fs::metadata(&command.silico).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        fs::set_permissions(&command.silico, permissions).unwrap();
        let out = root.join("out");
        let cells = ["m/dna/seed0".to_string(), "m x/nucleoli/seed1".to_string()];
        let script = array_script(&out, &cells, &SlurmSettings::default(), &command).unwrap();
        let status = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("SLURM_ARRAY_TASK_ID", "1")
            .status()
            .unwrap();
        assert!(status.success());
        let log = fs::read_to_string(out.join("cells/m x/nucleoli/seed1/log.txt")).unwrap();
        let expected = [
            "bench",
            "cell",
            "--out",
            out.to_str().unwrap(),
            "--cell",
            "m x/nucleoli/seed1",
            "--registry",
            command.registry.to_str().unwrap(),
            "--threads",
            "2",
            "--device",
            "cuda:0",
        ];
        assert_eq!(log.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn task_states_are_read_from_sacct_and_squeue_lines() {
        let text = "12_0|COMPLETED\n12_1|CANCELLED by 0\n12_[2-4,6%2]|PENDING\n13_0|RUNNING\n\
                    12_5|RUNNING\nN/A|PENDING\n";
        let states = parse_task_states("12", text);
        let expected: BTreeMap<usize, String> = [
            (0, "COMPLETED"),
            (1, "CANCELLED"),
            (2, "PENDING"),
            (3, "PENDING"),
            (4, "PENDING"),
            (5, "RUNNING"),
            (6, "PENDING"),
        ]
        .into_iter()
        .map(|(task, state)| (task, state.to_string()))
        .collect();
        assert_eq!(states, expected);
        assert!(is_active("PENDING") && !is_active("COMPLETED") && !is_active("FAILED"));
    }
}
