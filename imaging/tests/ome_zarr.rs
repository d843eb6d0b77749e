//! OME-Zarr in and out, against the Python reference libraries both ways: silico's stores read
//! by ome-zarr (NGFF 0.4 on zarr 2, NGFF 0.5 on zarr 3), ome-zarr's and iohub's stores read by
//! silico; boxes read lazily; bad stores refused in one line.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use silico_imaging::dataset::{LoadOptions, Manifest};
use silico_imaging::rng::Rng;
use silico_imaging::zarr::{
    plate_fields, write_volume, NgffVersion, OmeZarrImage, OmeZarrWriteOptions, OmeZarrWriter,
};
use silico_imaging::{read_image, ChannelSelector, Volume};

const SHAPE: [usize; 4] = [2, 8, 24, 20];
const VOXEL: [f32; 3] = [0.29, 0.108, 0.108];

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/zarr_roundtrip.py")
}

/// Runs python/zarr_roundtrip.py under the venv named by `variable`; returns its stdout.
fn run_python(variable: &str, args: &[&str]) -> String {
    let python = std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set; `source scripts/env.sh` first (it installs the Zarr venvs)")
    });
    let output = Command::new(&python)
        .arg(script())
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {variable}={python} ({e}); `source scripts/env.sh`")
        });
    assert!(
        output.status.success(),
        "{} {args:?} failed:\n{}",
        script().display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn python_for(version: NgffVersion) -> &'static str {
    match version {
        NgffVersion::V04 => "SILICO_ZARR2_PYTHON",
        NgffVersion::V05 => "SILICO_ZARR3_PYTHON",
    }
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn names() -> Vec<String> {
    vec!["bright-field".to_string(), "DNA".to_string()]
}

fn test_volume(seed: u64) -> Volume {
    let mut rng = Rng::new(seed);
    let n = SHAPE.iter().product();
    let data = (0..n).map(|_| rng.normal() as f32 * 3.0 + 1.0).collect();
    let mut volume = Volume::from_data(data, SHAPE, VOXEL).unwrap();
    volume.channel_names = names();
    volume
}

/// Small chunks that do not divide the image, and pyramid levels down to 8 voxels.
fn options(version: NgffVersion) -> OmeZarrWriteOptions {
    OmeZarrWriteOptions {
        version,
        chunks: Some([3, 7, 8]),
        overwrite: false,
        pyramid_min_size: 8,
    }
}

/// 2 × 2 means in (y, x), as the writer's pyramid computes them.
fn pooled(volume: &Volume) -> Vec<f32> {
    let [c, z, y, x] = volume.shape;
    let mut out = Vec::new();
    for c in 0..c {
        for z in 0..z {
            for y in 0..y / 2 {
                for x in 0..x / 2 {
                    let sum: f64 = [(0, 0), (0, 1), (1, 0), (1, 1)]
                        .iter()
                        .map(|&(dy, dx)| f64::from(volume.get(c, z, 2 * y + dy, 2 * x + dx)))
                        .sum();
                    out.push((sum / 4.0) as f32);
                }
            }
        }
    }
    out
}

fn assert_voxel(actual: Option<[f32; 3]>, expected: [f32; 3]) {
    let actual = actual.expect("voxel size known");
    for a in 0..3 {
        assert!(
            (actual[a] - expected[a]).abs() < 1e-6,
            "{actual:?} != {expected:?}"
        );
    }
}

fn assert_one_line(error: &str, names: &Path, says: &str) {
    assert!(
        error.contains(&names.display().to_string())
            && error.contains(says)
            && !error.contains('\n'),
        "expected one line naming {} and saying \"{says}\", got: {error}",
        names.display()
    );
}

#[test]
fn silico_writes_ngff_04_and_05_that_python_reads() {
    let dir = common::scratch("zarr-silico-to-python");
    for version in [NgffVersion::V04, NgffVersion::V05] {
        let volume = test_volume(7);
        let store = dir.join(format!("cell-{version}.ome.zarr"));
        write_volume(&store, &volume, &options(version)).unwrap();
        let marker = if version == NgffVersion::V04 {
            ".zattrs"
        } else {
            "zarr.json"
        };
        assert!(store.join(marker).is_file(), "{version}");

        let prefix = dir.join(format!("read-{version}"));
        let report = run_python(
            python_for(version),
            &["read", store.to_str().unwrap(), prefix.to_str().unwrap()],
        );
        let report: Value = serde_json::from_str(report.trim()).unwrap();
        assert_eq!(
            report["shapes"],
            serde_json::json!([[2, 8, 24, 20], [2, 8, 12, 10]])
        );
        assert_eq!(report["dtype"], "float32");
        assert_eq!(report["channel_names"], serde_json::json!(names()));
        let scales = report["scales"].as_array().unwrap();
        for (level, factor) in [(0, 1.0f32), (1, 2.0)] {
            let scale: Vec<f32> = scales[level]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(scale, [1.0, VOXEL[0], VOXEL[1] * factor, VOXEL[2] * factor]);
        }
        assert_eq!(report["axes"][1]["unit"], "micrometer");
        assert_eq!(
            read_f32(&dir.join(format!("read-{version}.f32"))),
            volume.data
        );
        let level1 = dir.join(format!("read-{version}_1.f32"));
        assert_eq!(read_f32(&level1), pooled(&volume));

        // And silico reads its own store back.
        let image = OmeZarrImage::open(&store).unwrap();
        assert_eq!((image.version(), image.levels()), (version, 2));
        assert_eq!(image.read_volume().unwrap(), volume);
        let coarse = image.open_level(1).unwrap();
        assert_eq!(coarse.shape(), [2, 8, 12, 10]);
        assert_voxel(
            coarse.voxel_um(),
            [VOXEL[0], VOXEL[1] * 2.0, VOXEL[2] * 2.0],
        );
        assert_eq!(coarse.read_volume().unwrap().data, pooled(&volume));
        // No temporary sibling is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn python_writes_ngff_04_and_05_that_silico_reads() {
    let dir = common::scratch("zarr-python-to-silico");
    for (version, flag, dtype, levels) in [
        (NgffVersion::V04, "0.4", "uint16", 1),
        (NgffVersion::V05, "0.5", "float32", 2),
    ] {
        let store = dir.join(format!("py-{flag}.ome.zarr"));
        let expected = dir.join(format!("py-{flag}.f32"));
        run_python(
            python_for(version),
            &[
                "write",
                flag,
                store.to_str().unwrap(),
                expected.to_str().unwrap(),
            ],
        );
        let image = OmeZarrImage::open(&store).unwrap();
        assert_eq!(image.version(), version);
        assert_eq!(image.data_type(), dtype);
        assert_eq!(image.levels(), levels);
        assert_eq!(image.shape(), SHAPE);
        assert_voxel(image.voxel_um(), VOXEL);
        assert_eq!(image.channel_names(), names());
        let volume = read_image(&store).unwrap();
        assert!(volume.voxel_known);
        assert_eq!(volume.data, read_f32(&expected), "{flag}");
        let dna = image.channel_index(&ChannelSelector::parse("DNA")).unwrap();
        assert_eq!(
            image.read_channel(dna).unwrap().data,
            volume.channel_data(1),
            "{flag}"
        );
        if levels == 2 {
            let coarse = image.open_level(1).unwrap();
            assert_eq!(coarse.shape(), [2, 8, 12, 10]);
            assert_voxel(
                coarse.voxel_um(),
                [VOXEL[0], VOXEL[1] * 2.0, VOXEL[2] * 2.0],
            );
        }
    }
}

#[test]
fn an_iohub_hcs_plate_lists_its_fields_and_each_opens_as_an_image() {
    let dir = common::scratch("zarr-plate");
    let plate = dir.join("plate.zarr");
    let prefix = dir.join("field");
    run_python(
        "SILICO_ZARR2_PYTHON",
        &["plate", plate.to_str().unwrap(), prefix.to_str().unwrap()],
    );
    let fields = plate_fields(&plate).unwrap();
    let wells: Vec<(&str, &str, &str)> = fields
        .iter()
        .map(|f| (f.row.as_str(), f.column.as_str(), f.field.as_str()))
        .collect();
    assert_eq!(wells, [("A", "1", "0"), ("B", "2", "0")]);
    assert_eq!(fields[1].path, plate.join("B/2/0"));
    for (i, field) in fields.iter().enumerate() {
        // iohub writes (T, C, Z, Y, X) with one time point, which is dropped.
        let image = OmeZarrImage::open(&field.path).unwrap();
        assert_eq!(image.shape(), SHAPE);
        assert_eq!(image.data_type(), "uint8");
        assert_voxel(image.voxel_um(), [0.5, 0.2, 0.2]);
        assert_eq!(image.channel_names(), names());
        let expected = read_f32(&prefix.with_file_name(format!("field{i}.f32")));
        assert_eq!(read_image(&field.path).unwrap().data, expected);
    }
    let error = OmeZarrImage::open(&plate).unwrap_err().to_string();
    assert_one_line(
        &error,
        &plate,
        "is an HCS plate, not an image; name one field",
    );
}

#[test]
fn a_region_reads_as_the_slice_of_the_full_read_and_decodes_only_its_chunks() {
    let dir = common::scratch("zarr-region");
    let volume = test_volume(3);
    let store = dir.join("cell.ome.zarr");
    write_volume(&store, &volume, &options(NgffVersion::V05)).unwrap();
    let image = OmeZarrImage::open(&store).unwrap();
    let boxes = [
        ([0, 0, 0], [8, 24, 20]),
        ([1, 5, 6], [4, 9, 3]),
        ([7, 23, 19], [1, 1, 1]),
        ([2, 0, 7], [3, 24, 2]),
    ];
    for c in 0..2 {
        let channel = volume.extract_channel(c).unwrap();
        for (origin, size) in boxes {
            let region = image.read_region(c, origin, size).unwrap();
            assert_eq!(
                region,
                silico_imaging::dataset::crop(&channel, origin, size),
                "{c} {origin:?} {size:?}"
            );
        }
    }
    // Spoil the chunk (c 1, z 6..8, y 21..24, x 16..20): boxes away from it still read, and a
    // box over it fails naming the level.
    let spoiled = store.join("0/c/1/2/3/2");
    std::fs::write(&spoiled, b"not zstd").unwrap();
    let near = image.read_region(1, [0, 0, 0], [6, 21, 20]).unwrap();
    let channel = volume.extract_channel(1).unwrap();
    assert_eq!(
        near,
        silico_imaging::dataset::crop(&channel, [0, 0, 0], [6, 21, 20])
    );
    let error = image
        .read_region(1, [5, 20, 15], [2, 2, 2])
        .unwrap_err()
        .to_string();
    assert_one_line(&error, &store.join("0"), "truncated or corrupt");
    let error = image
        .read_region(0, [4, 0, 0], [5, 1, 1])
        .unwrap_err()
        .to_string();
    assert_one_line(
        &error,
        &store,
        "reaches past the level-0 image of [8, 24, 20]",
    );
}

/// A fresh NGFF 0.4 store of `test_volume`, one level, chunks (3, 7, 8).
fn small_store(dir: &Path, name: &str) -> (PathBuf, Volume) {
    let volume = test_volume(11);
    let store = dir.join(name);
    let options = OmeZarrWriteOptions {
        pyramid_min_size: 64,
        ..options(NgffVersion::V04)
    };
    write_volume(&store, &volume, &options).unwrap();
    (store, volume)
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut json: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(path, serde_json::to_vec(&json).unwrap()).unwrap();
}

#[test]
fn a_missing_chunk_reads_as_the_fill_value_and_a_truncated_one_is_an_error() {
    let dir = common::scratch("zarr-chunks");
    let (store, volume) = small_store(&dir, "cell.ome.zarr");
    // Chunk (c 0, z 0..3, y 0..7, x 0..8) gone: those voxels read as the fill value 0.
    std::fs::remove_file(store.join("0/0/0/0/0")).unwrap();
    let read = read_image(&store).unwrap();
    for (i, (&got, &wrote)) in read.data.iter().zip(&volume.data).enumerate() {
        let (c, z, y, x) = (i / (8 * 24 * 20), i / (24 * 20) % 8, i / 20 % 24, i % 20);
        let missing = c == 0 && z < 3 && y < 7 && x < 8;
        assert_eq!(got, if missing { 0.0 } else { wrote }, "{c} {z} {y} {x}");
    }
    let chunk = store.join("0/1/0/0/0");
    let bytes = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, &bytes[..bytes.len() / 2]).unwrap();
    let error = read_image(&store).unwrap_err().to_string();
    assert_one_line(&error, &store.join("0"), "truncated or corrupt");
}

#[test]
fn bad_stores_channels_and_levels_are_each_one_line() {
    let dir = common::scratch("zarr-bad");
    let check = |name: &str, spoil: &dyn Fn(&Path), names: &str, says: &str| {
        let (store, _) = small_store(&dir, name);
        spoil(&store);
        let error = OmeZarrImage::open(&store)
            .and_then(|image| image.read_volume())
            .unwrap_err()
            .to_string();
        assert_one_line(&error, &store.join(names), says);
    };
    check(
        "broken-zattrs.ome.zarr",
        &|s| std::fs::write(s.join(".zattrs"), b"{\"multiscales\": [").unwrap(),
        ".zattrs",
        "broken OME-Zarr metadata (not valid JSON",
    );
    check(
        "no-datasets.ome.zarr",
        &|s| {
            edit_json(&s.join(".zattrs"), |j| {
                j["multiscales"][0]["datasets"] = Value::Null
            })
        },
        ".zattrs",
        "broken OME-Zarr metadata (`multiscales`",
    );
    check(
        "codec.ome.zarr",
        &|s| {
            edit_json(&s.join("0/.zarray"), |j| {
                j["compressor"]["id"] = "lzma-9000".into()
            })
        },
        "0",
        "uses a codec silico cannot decode",
    );
    check(
        "axes.ome.zarr",
        &|s| {
            edit_json(&s.join(".zattrs"), |j| {
                j["multiscales"][0]["axes"] = serde_json::json!(["c", "y", "x", "z"])
            })
        },
        ".zattrs",
        "axes [c, y, x, z] are not supported",
    );
    check(
        "time.ome.zarr",
        &|s| {
            edit_json(&s.join(".zattrs"), |j| {
                j["multiscales"][0]["axes"][0] = serde_json::json!({"name": "t", "type": "time"})
            })
        },
        "0",
        "has 2 time points; silico reads one",
    );
    check(
        "no-level.ome.zarr",
        &|s| std::fs::remove_file(s.join("0/.zarray")).unwrap(),
        "0",
        "holds no Zarr array",
    );
    let v3 = dir.join("broken-v3.ome.zarr");
    write_volume(&v3, &test_volume(1), &options(NgffVersion::V05)).unwrap();
    std::fs::write(v3.join("zarr.json"), b"{\"zarr_format\": 3,").unwrap();
    let error = OmeZarrImage::open(&v3).unwrap_err().to_string();
    assert_one_line(
        &error,
        &v3.join("zarr.json"),
        "broken OME-Zarr metadata (not valid JSON",
    );
    let error = OmeZarrImage::open(&dir.join("absent.ome.zarr"))
        .unwrap_err()
        .to_string();
    assert_one_line(&error, &dir.join("absent.ome.zarr"), "does not exist");

    let (store, _) = small_store(&dir, "good.ome.zarr");
    let image = OmeZarrImage::open(&store).unwrap();
    let error = image
        .channel_index(&ChannelSelector::parse("golgi"))
        .unwrap_err()
        .to_string();
    assert_one_line(
        &error,
        &store,
        "no channel named \"golgi\"; the image has [0: \"bright-field\", 1: \"DNA\"]",
    );
    let error = image.open_level(1).unwrap_err().to_string();
    assert_one_line(
        &error,
        &store,
        "level 1 requested but the image has 1 level(s)",
    );
    let error = image.read_channel(2).unwrap_err().to_string();
    assert_one_line(
        &error,
        &store,
        "channel 2 requested but the image has 2 channel(s)",
    );
}

#[test]
fn a_missing_unit_or_scale_leaves_the_voxel_size_unknown() {
    let dir = common::scratch("zarr-voxel");
    let (store, _) = small_store(&dir, "cell.ome.zarr");
    edit_json(&store.join(".zattrs"), |j| {
        j["multiscales"][0]["axes"][1]
            .as_object_mut()
            .unwrap()
            .remove("unit");
    });
    let image = OmeZarrImage::open(&store).unwrap();
    assert_eq!(image.voxel_um(), None);
    assert_eq!(image.voxel_unknown_reason(), Some("axis z has no unit"));
    let volume = read_image(&store).unwrap();
    assert!(!volume.voxel_known);
    edit_json(&store.join(".zattrs"), |j| {
        j["multiscales"][0]["axes"][1]["unit"] = "nanometer".into();
        j["multiscales"][0]["datasets"][0]
            .as_object_mut()
            .unwrap()
            .remove("coordinateTransformations");
    });
    let image = OmeZarrImage::open(&store).unwrap();
    assert_eq!(
        image.voxel_unknown_reason(),
        Some("the level has no scale transform")
    );
}

#[test]
fn the_writer_refuses_to_overwrite_unless_asked_and_leaves_nothing_half_written() {
    let dir = common::scratch("zarr-overwrite");
    let (store, _) = small_store(&dir, "cell.ome.zarr");
    let second = test_volume(99);
    let refuse = options(NgffVersion::V05);
    let error = write_volume(&store, &second, &refuse)
        .unwrap_err()
        .to_string();
    assert_one_line(&error, &store, "already exists");
    assert_eq!(
        OmeZarrImage::open(&store).unwrap().version(),
        NgffVersion::V04
    );
    let replace = OmeZarrWriteOptions {
        overwrite: true,
        ..refuse
    };
    write_volume(&store, &second, &replace).unwrap();
    let image = OmeZarrImage::open(&store).unwrap();
    assert_eq!(image.version(), NgffVersion::V05);
    assert_eq!(image.read_volume().unwrap(), second);
    assert!(
        !store.join(".zattrs").exists(),
        "the old store's files were replaced"
    );

    // A writer dropped before finish leaves no store and no temporary folder.
    let partial = dir.join("partial.ome.zarr");
    let mut writer = OmeZarrWriter::create(&partial, SHAPE, VOXEL, &names(), &refuse).unwrap();
    writer
        .write_region(0, [0, 0, 0], [1, 2, 2], &[1.0, 2.0, 3.0, 4.0])
        .unwrap();
    let error = writer
        .write_region(2, [0, 0, 0], [1, 1, 1], &[0.0])
        .unwrap_err()
        .to_string();
    assert_one_line(&error, &partial, "lies outside the image of 2 channel(s)");
    drop(writer);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["cell.ome.zarr"]);
}

#[test]
fn a_manifest_names_zarr_channels_by_name_or_index() {
    let dir = common::scratch("zarr-manifest");
    let (_, volume) = small_store(&dir, "cell.ome.zarr");
    let csv = dir.join("m.csv");
    std::fs::write(
        &csv,
        "path,channel_signal,channel_target\ncell.ome.zarr,bright-field,1\n",
    )
    .unwrap();
    let manifest = Manifest::load(&csv).unwrap();
    manifest.check_files().unwrap();
    let raw = LoadOptions {
        normalize: false,
        resample_to_um: None,
        ..LoadOptions::default()
    };
    let pair = manifest.load_pair(&manifest.rows[0], raw).unwrap();
    assert_eq!(pair.signal.data, volume.channel_data(0));
    assert_eq!(pair.target.data, volume.channel_data(1));
    assert_eq!(pair.signal.voxel_um, VOXEL);

    std::fs::write(
        &csv,
        "path,channel_signal,channel_target\ncell.ome.zarr,golgi,DNA\n",
    )
    .unwrap();
    let manifest = Manifest::load(&csv).unwrap();
    let error = manifest
        .load_pair(&manifest.rows[0], raw)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("row 2")
            && error.contains(
                "no channel named \"golgi\"; the image has [0: \"bright-field\", 1: \"DNA\"]"
            )
            && !error.contains('\n'),
        "{error}"
    );
}
