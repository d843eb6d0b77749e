//! Shared by the reference tests: deterministic test images and a runner for small inline
//! Python (NumPy / SciPy / scikit-image) scripts exchanging raw little-endian arrays with the
//! test through a temporary folder.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Bright Gaussian blobs of assorted sizes on a noisy background, shape (Z, Y, X).
pub fn blobs(shape: [usize; 3], seed: u64) -> Vec<f32> {
    let noise = uniform(seed, shape.iter().product());
    let centres = uniform(seed + 1, 24);
    let mut out = vec![0f32; noise.len()];
    for (i, v) in out.iter_mut().enumerate() {
        let (z, y, x) = (
            (i / (shape[1] * shape[2])) as f32,
            ((i / shape[2]) % shape[1]) as f32,
            (i % shape[2]) as f32,
        );
        let mut value = 100.0 + 20.0 * noise[i];
        for (k, c) in centres.chunks(4).enumerate() {
            let centre = [
                c[0] * shape[0] as f32,
                c[1] * shape[1] as f32,
                c[2] * shape[2] as f32,
            ];
            let radius = 1.0 + 2.5 * c[3] + 0.3 * k as f32;
            let d2 = (z - centre[0]).powi(2) + (y - centre[1]).powi(2) + (x - centre[2]).powi(2);
            value += 400.0 * (-d2 / (2.0 * radius * radius)).exp();
        }
        *v = value;
    }
    out
}

/// `$SILICO_PYTHON` (set by scripts/env.sh), else `python3`.
fn python() -> PathBuf {
    std::env::var_os("SILICO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| "python3".into())
}

/// A temporary folder the test and one Python script share.
pub struct Exchange {
    dir: tempfile::TempDir,
}

impl Exchange {
    pub fn new() -> Self {
        Exchange {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn put_f32(&self, name: &str, data: &[f32]) {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(self.path(name), bytes).unwrap();
    }

    pub fn put_bool(&self, name: &str, data: &[bool]) {
        let bytes: Vec<u8> = data.iter().map(|&v| u8::from(v)).collect();
        std::fs::write(self.path(name), bytes).unwrap();
    }

    pub fn put_u32(&self, name: &str, data: &[u32]) {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(self.path(name), bytes).unwrap();
    }

    /// Runs `script` with the folder as working directory. The script reads inputs with
    /// `np.fromfile("name", dtype=...)` and writes outputs as `<f8` with `.tofile("name")`.
    pub fn run(&self, script: &str) {
        let prelude = "import numpy as np\n";
        let output = Command::new(python())
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "could not run {} ({e}); source scripts/env.sh so SILICO_PYTHON has numpy, scipy and scikit-image",
                    python().display()
                )
            });
        assert!(
            output.status.success(),
            "the Python reference failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub fn get_f64(&self, name: &str) -> Vec<f64> {
        read_f64(&self.path(name))
    }
}

fn read_f64(path: &Path) -> Vec<f64> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("the Python reference wrote no {}: {e}", path.display()))
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Largest |a − b| relative to the largest |b|.
pub fn relative_error(actual: &[f32], expected: &[f64]) -> f64 {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    let scale = expected.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
    actual
        .iter()
        .zip(expected)
        .fold(0f64, |m, (&a, &b)| m.max((a as f64 - b).abs()))
        / scale
}
