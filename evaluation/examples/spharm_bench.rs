//! Time per object and reconstruction error of silico's SPHARM on star-shaped objects that
//! aicsshparam can also describe: spheres and ellipsoids of a few sizes at random orientations
//! (fixed seed), isotropic 1 µm voxels.
//!
//! ```sh
//! cargo run --release -p silico-evaluation --example spharm_bench -- [--dump DIR] [--degree L] [--repeats N]
//! ```
//!
//! Prints one table row per object (voxels, mesh vertices, degree, ms, Hausdorff µm with the
//! dense measure and CellOrganizer's vertex measure) and the means. The time is the median of
//! `--repeats` fits (default 3) of the object, each on this one thread: `spharm` does not
//! spawn threads (objects are fitted in parallel by the caller instead). `--dump DIR` also
//! writes each object as `DIR/object_NN.npy` (uint8, shape (z, y, x)) plus `DIR/objects.tsv`
//! with the silico numbers, for `python/compare_aicsshparam.py`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use silico_evaluation::spharm::{spharm, BinaryObject, SpharmSettings};

/// Semi-axes (voxels) of the objects; each is drawn at two random orientations.
const SEMI_AXES: [[f64; 3]; 5] = [
    [5.0, 5.0, 5.0],
    [8.0, 8.0, 8.0],
    [9.0, 6.0, 4.0],
    [12.0, 7.0, 5.0],
    [14.0, 9.0, 7.0],
];
const ORIENTATIONS: usize = 2;

/// SplitMix64: a deterministic stream of uniform numbers in [0, 1).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / 2f64.powi(64)
    }

    /// A uniformly random rotation (Shoemake's unit quaternion), as matrix rows.
    fn rotation(&mut self) -> [[f64; 3]; 3] {
        let (u1, u2, u3) = (self.next(), self.next(), self.next());
        let tau = std::f64::consts::TAU;
        let (a, b) = ((1.0 - u1).sqrt(), u1.sqrt());
        let [w, x, y, z] = [
            a * (tau * u2).sin(),
            a * (tau * u2).cos(),
            b * (tau * u3).sin(),
            b * (tau * u3).cos(),
        ];
        [
            [
                1.0 - 2.0 * (y * y + z * z),
                2.0 * (x * y - w * z),
                2.0 * (x * z + w * y),
            ],
            [
                2.0 * (x * y + w * z),
                1.0 - 2.0 * (x * x + z * z),
                2.0 * (y * z - w * x),
            ],
            [
                2.0 * (x * z - w * y),
                2.0 * (y * z + w * x),
                1.0 - 2.0 * (x * x + y * y),
            ],
        ]
    }
}

/// The ellipsoid with `semi_axes` rotated by `rotation`, voxelized at voxel centres in a cube
/// just large enough, its centre a fraction of a voxel off the grid.
fn ellipsoid(semi_axes: [f64; 3], rotation: [[f64; 3]; 3]) -> BinaryObject {
    let half = semi_axes.iter().fold(0.0_f64, |m, &a| m.max(a)).ceil() as usize + 1;
    let side = 2 * half + 1;
    let centre = half as f64 + 0.31;
    BinaryObject::from_fn([side; 3], [1.0; 3], |z, y, x| {
        let p = [x as f64 - centre, y as f64 - centre, z as f64 - centre];
        (0..3)
            .map(|i| {
                let body: f64 = (0..3).map(|j| rotation[j][i] * p[j]).sum();
                (body / semi_axes[i]).powi(2)
            })
            .sum::<f64>()
            <= 1.0
    })
    .expect("consistent shape")
}

/// Writes a (z, y, x) uint8 array in NumPy's `.npy` format (version 1.0).
fn write_npy(path: &Path, object: &BinaryObject) -> std::io::Result<()> {
    let [nz, ny, nx] = object.shape();
    let mut header =
        format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({nz}, {ny}, {nx}), }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut file = std::fs::File::create(path)?;
    file.write_all(b"\x93NUMPY\x01\x00")?;
    file.write_all(&(header.len() as u16).to_le_bytes())?;
    file.write_all(header.as_bytes())?;
    let bytes: Vec<u8> = object.voxels().iter().map(|&v| u8::from(v)).collect();
    file.write_all(&bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut dump: Option<PathBuf> = None;
    let mut settings = SpharmSettings::default();
    let mut repeats = 3_usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dump" => dump = Some(args.next().ok_or("--dump needs a folder")?.into()),
            "--degree" => {
                settings.degree = args.next().ok_or("--degree needs a number")?.parse()?
            }
            "--repeats" => {
                repeats = args.next().ok_or("--repeats needs a number")?.parse()?;
                if repeats == 0 {
                    return Err("--repeats needs at least 1".into());
                }
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let vertex_measure = SpharmSettings {
        dense_hausdorff: false,
        ..settings.clone()
    };
    if let Some(folder) = &dump {
        std::fs::create_dir_all(folder)?;
    }
    let mut table = String::from(
        "object\tsemi_axes\tvoxels\tvertices\tdegree\tunfolding_sweeps\tms\thausdorff_um\thausdorff_vertices_um\n",
    );
    let mut random = SplitMix(20221);
    let (mut total_ms, mut hausdorff, mut count) = (0.0, Vec::new(), 0);
    for semi_axes in SEMI_AXES {
        for _ in 0..ORIENTATIONS {
            let object = ellipsoid(semi_axes, random.rotation());
            let mut times = Vec::with_capacity(repeats);
            let mut fit = None;
            for _ in 0..repeats {
                let start = Instant::now();
                fit = Some(spharm(&object, &settings)?);
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
            let fit = fit.expect("at least one repeat");
            times.sort_by(f64::total_cmp);
            let ms = times[repeats / 2];
            let vertex_hausdorff = spharm(&object, &vertex_measure)?.hausdorff_um;
            let voxels = object.voxels().iter().filter(|&&v| v).count();
            table.push_str(&format!(
                "{count:02}\t{semi_axes:?}\t{voxels}\t{}\t{}\t{}\t{ms:.1}\t{:.3}\t{vertex_hausdorff:.3}\n",
                fit.vertices_um.len(),
                fit.degree,
                fit.parameterization.unfolding_sweeps,
                fit.hausdorff_um
            ));
            if let Some(folder) = &dump {
                write_npy(&folder.join(format!("object_{count:02}.npy")), &object)?;
            }
            total_ms += ms;
            hausdorff.push((fit.hausdorff_um, vertex_hausdorff));
            count += 1;
        }
    }
    print!("{table}");
    let mean = |f: fn(&(f64, f64)) -> f64| hausdorff.iter().map(f).sum::<f64>() / count as f64;
    let max = |f: fn(&(f64, f64)) -> f64| hausdorff.iter().map(f).fold(0.0, f64::max);
    println!(
        "silico SPHARM (degree {}): {:.1} ms/object (median of {repeats}, 1 thread); Hausdorff \
         dense mean {:.3} max {:.3} µm; vertices mean {:.3} max {:.3} µm",
        settings.degree,
        total_ms / count as f64,
        mean(|h| h.0),
        max(|h| h.0),
        mean(|h| h.1),
        max(|h| h.1),
    );
    if let Some(folder) = &dump {
        std::fs::write(folder.join("objects.tsv"), table)?;
    }
    Ok(())
}
