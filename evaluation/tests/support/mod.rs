//! Shared by the NumPy comparison test, the thread test and the benchmark: deterministic random
//! predictions and the NumPy reference (`scripts/exclusivity_reference.py`) run on them.

#![allow(dead_code)] // each test crate and the benchmark use their own part

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

/// Deterministic uniform values in [0, 1) (SplitMix64), one stream per seed.
pub fn uniform(seed: u64, n: usize) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// Writes channels one after another as little-endian f32: the layout the script reads.
pub fn write_channels(path: &Path, channels: &[Vec<f32>]) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for channel in channels {
        for v in channel {
            file.write_all(&v.to_le_bytes()).unwrap();
        }
    }
    file.flush().unwrap();
}

/// What the NumPy reference printed.
pub struct Reference {
    pub overall: f64,
    pub voxels: u64,
    pub organelle: Vec<f64>,
    pub highest_voxels: Vec<u64>,
    pub pairwise: Vec<Vec<f64>>,
    /// Best timed run, when asked for.
    pub seconds: Option<f64>,
}

/// `$SILICO_PYTHON` (set by scripts/env.sh), else `python3`.
fn python() -> PathBuf {
    std::env::var_os("SILICO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| "python3".into())
}

/// Runs the reference on `data` (C channels) with an optional byte mask, timing `repeats` runs.
pub fn numpy_reference(
    data: &Path,
    channels: usize,
    mask: Option<&Path>,
    repeats: usize,
) -> Reference {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/exclusivity_reference.py");
    let mut command = Command::new(python());
    command.arg(&script).arg(data).arg(channels.to_string());
    if let Some(mask) = mask {
        command.arg("--mask").arg(mask);
    }
    command.arg("--time").arg(repeats.to_string());
    let output = command.output().unwrap_or_else(|e| {
        panic!(
            "could not run {} for the NumPy reference ({e}); set SILICO_PYTHON to a Python with numpy",
            python().display()
        )
    });
    assert!(
        output.status.success(),
        "the NumPy reference failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let mut reference = Reference {
        overall: f64::NAN,
        voxels: 0,
        organelle: vec![f64::NAN; channels],
        highest_voxels: vec![0; channels],
        pairwise: vec![vec![f64::NAN; channels]; channels],
        seconds: None,
    };
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let index = |i: usize| fields[i].parse::<usize>().unwrap();
        let value = |i: usize| fields[i].parse::<f64>().unwrap();
        match fields[0] {
            "overall" => reference.overall = value(1),
            "voxels" => reference.voxels = value(1) as u64,
            "organelle" => reference.organelle[index(1)] = value(2),
            "highest_voxels" => reference.highest_voxels[index(1)] = value(2) as u64,
            "pairwise" => reference.pairwise[index(1)][index(2)] = value(3),
            "seconds" => reference.seconds = Some(value(1)),
            other => panic!("unexpected line from the NumPy reference: {other}"),
        }
    }
    reference
}
