//! Label images keep their integer ids: ids above 2^24 (where f32 stops holding every integer)
//! stay distinct, and what cannot be an id is refused in one line.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use silico_imaging::tiff::read_volume;
use silico_imaging::{read_labels, ChannelSelector};

/// Five 2x2x2 cells with ids 2^24+1 ..= 2^24+5 in an 8x8 field, written by tifffile as `dtype`.
fn five_cells(dir: &Path, dtype: &str) -> PathBuf {
    let path = dir.join(format!("cells-{dtype}.tif"));
    common::run_python(
        &format!(
            "labels = numpy.zeros((2, 8, 8), '{dtype}')\n\
             for i in range(5):\n    labels[:, (i // 3) * 3:(i // 3) * 3 + 2, (i % 3) * 3:(i % 3) * 3 + 2] = 2**24 + 1 + i\n\
             tifffile.imwrite(sys.argv[1], labels, photometric='minisblack', resolution=(5.0, 5.0), resolutionunit='CENTIMETER')"
        ),
        &[&path],
    );
    path
}

#[test]
fn uint32_ids_above_two_to_the_24_stay_five_cells() {
    let dir = common::scratch("labels-u32");
    for dtype in ["uint32", "int32", "uint64", "int64"] {
        let path = five_cells(&dir, dtype);
        let labels = read_labels(&path).unwrap();
        assert_eq!(labels.shape, [2, 8, 8], "{dtype}");
        let first = (1 << 24) + 1;
        assert_eq!(
            labels.ids(),
            (first..first + 5).collect::<Vec<u32>>(),
            "{dtype}"
        );
        assert_eq!(labels.data.iter().filter(|&&l| l == first + 4).count(), 8);
        let (dense, objects) = labels.relabelled();
        assert_eq!(objects, 5);
        assert_eq!(dense.iter().max(), Some(&5));
    }
    // Through f32 the same file has fewer distinct values: cells merge.
    let volume = read_volume(&dir.join("cells-uint32.tif")).unwrap();
    let mut values: Vec<u32> = volume.data.iter().map(|&v| v as u32).collect();
    values.sort_unstable();
    values.dedup();
    assert!(values.len() - 1 < 5, "{values:?}");
}

#[test]
fn small_integer_labels_read_as_they_are() {
    let dir = common::scratch("labels-small");
    let path = dir.join("u16.tif");
    common::run_python(
        "tifffile.imwrite(sys.argv[1], numpy.arange(24, dtype='uint16').reshape(2, 3, 4), imagej=True, metadata={'axes': 'ZYX', 'spacing': 0.5})",
        &[&path],
    );
    let labels = read_labels(&path).unwrap();
    assert_eq!(labels.data, (0..24).collect::<Vec<u32>>());
    assert_eq!(labels.shape, [2, 3, 4]);
    assert_eq!(labels.voxel_um[0], 0.5);
}

#[test]
fn what_cannot_be_an_id_is_refused_in_one_line() {
    let dir = common::scratch("labels-bad");
    for (name, script, says) in [
        (
            "float.tif",
            "tifffile.imwrite(sys.argv[1], numpy.ones((2, 4, 4), 'float32'), photometric='minisblack')",
            "page 0 holds float32 samples, but labels are integer ids",
        ),
        (
            "negative.tif",
            "a = numpy.zeros((2, 4, 4), 'int32'); a[1, 2, 3] = -7; tifffile.imwrite(sys.argv[1], a, photometric='minisblack')",
            "page 1 holds the value -7, which is not a label id (0 to 4294967295)",
        ),
        (
            "huge.tif",
            "a = numpy.zeros((1, 4, 4), 'uint64'); a[0, 0, 0] = 2**32; tifffile.imwrite(sys.argv[1], a)",
            "page 0 holds the value 4294967296, which is not a label id",
        ),
        (
            "channels.tif",
            "tifffile.imwrite(sys.argv[1], numpy.zeros((3, 2, 4, 4), 'uint16'), imagej=True, metadata={'axes': 'ZCYX'})",
            "has 2 channels; a label image holds one channel of ids",
        ),
    ] {
        let path = dir.join(name);
        common::run_python(script, &[&path]);
        let err = read_labels(&path).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

/// Runs `script` under the NGFF 0.4 / Zarr v2 Python of scripts/env.sh.
fn zarr2_python(script: &str, store: &Path) {
    let python = std::env::var("SILICO_ZARR2_PYTHON").unwrap_or_else(|_| {
        panic!("SILICO_ZARR2_PYTHON is not set; `source scripts/env.sh` first (it installs the Zarr venvs)")
    });
    let output = Command::new(&python)
        .arg("-c")
        .arg(format!(
            "import sys, numpy, zarr\nfrom ome_zarr.io import parse_url\nfrom ome_zarr.writer import write_image\n\
             root = zarr.group(store=parse_url(sys.argv[1], mode='w').store)\n{script}"
        ))
        .arg(store)
        .output()
        .unwrap_or_else(|e| panic!("cannot run SILICO_ZARR2_PYTHON={python} ({e})"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn ome_zarr_labels_keep_their_ids_and_floats_are_refused() {
    let dir = common::scratch("labels-zarr");
    let store = dir.join("cells.ome.zarr");
    zarr2_python(
        "a = numpy.zeros((2, 8, 8), 'uint32'); a[0, 0, :5] = 2**24 + 1 + numpy.arange(5)\n\
         write_image(a, root, axes='zyx', scaler=None)",
        &store,
    );
    let labels = read_labels(&store).unwrap();
    assert_eq!(labels.shape, [2, 8, 8]);
    assert_eq!(labels.ids().len(), 5);
    assert_eq!(labels.data[4], (1 << 24) + 5);

    let floats = dir.join("floats.ome.zarr");
    zarr2_python(
        "write_image(numpy.ones((2, 4, 4), 'float32'), root, axes='zyx', scaler=None)",
        &floats,
    );
    let err = read_labels(&floats).map(|_| ()).unwrap_err().to_string();
    assert!(
        err.contains("floats.ome.zarr")
            && err.contains("holds float32 samples, but labels are integer ids"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // The same store still reads as an image.
    assert!(silico_imaging::read_image_channel(&floats, &ChannelSelector::Index(0)).is_ok());
}
