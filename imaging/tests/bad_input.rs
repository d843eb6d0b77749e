//! Bad input gets one clear line naming the file, row or key, never a panic.

mod common;

use silico_imaging::dataset::{LoadOptions, Manifest};
use silico_imaging::tiff::{read_volume, write_volume};
use silico_imaging::Volume;

fn small_file(dir: &std::path::Path, name: &str, shape: [usize; 4]) -> std::path::PathBuf {
    let path = dir.join(name);
    let n = shape.iter().product();
    write_volume(
        &path,
        &Volume::from_data((0..n).map(|i| i as f32).collect(), shape, [1.0; 3]).unwrap(),
    )
    .unwrap();
    path
}

#[test]
fn truncated_and_garbage_tiffs_say_so() {
    let dir = common::scratch("bad-tiff");
    let good = small_file(&dir, "good.tif", [1, 3, 16, 16]);
    let bytes = std::fs::read(&good).unwrap();
    for (name, content) in [
        ("truncated.tif", &bytes[..bytes.len() / 2]),
        ("header-only.tif", &bytes[..6]),
        ("garbage.tif", b"this is not a tiff at all".as_slice()),
        ("empty.tif", b"".as_slice()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let err = read_volume(&path).unwrap_err().to_string();
        assert!(
            err.contains(name) && err.contains("truncated or corrupt"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let missing = read_volume(&dir.join("missing.tif")).unwrap_err();
    // The cause is in the message only, so a printed chain (`{:#}`) names it once.
    assert!(std::error::Error::source(&missing).is_none(), "{missing:?}");
    let err = missing.to_string();
    assert!(
        err.contains("missing.tif") && err.contains("cannot open") && err.contains("os error 2"),
        "{err}"
    );
}

#[test]
fn unsupported_sample_format_is_named() {
    let dir = common::scratch("bad-format");
    let path = dir.join("complex.tif");
    common::run_python(
        "tifffile.imwrite(sys.argv[1], numpy.ones((4, 4), 'complex64'))",
        &[&path],
    );
    let err = read_volume(&path).unwrap_err().to_string();
    assert!(
        err.contains("complex.tif") && err.contains("unsupported"),
        "{err}"
    );
}

#[test]
fn manifest_problems_name_the_csv_and_row() {
    let dir = common::scratch("bad-manifest");
    small_file(&dir, "a.tif", [1, 3, 16, 16]);
    small_file(&dir, "b.tif", [1, 3, 16, 8]);
    let csv = dir.join("m.csv");

    let err = Manifest::load(&dir.join("nope.csv"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope.csv") && err.contains("cannot read manifest"),
        "{err}"
    );

    std::fs::write(
        &csv,
        "path_signal,path_target\na.tif,a.tif\na.tif,missing.tif\n",
    )
    .unwrap();
    let m = Manifest::load(&csv).unwrap();
    let err = m.check_files().unwrap_err().to_string();
    assert!(
        err.contains("m.csv, row 3")
            && err.contains("missing.tif")
            && err.contains("does not exist"),
        "{err}"
    );
    let err = m
        .load_pair(&m.rows[1], LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 3") && err.contains("does not exist"),
        "{err}"
    );

    std::fs::write(&csv, "path_signal,path_target\na.tif,b.tif\n").unwrap();
    let m = Manifest::load(&csv).unwrap();
    let err = m
        .load_pair(&m.rows[0], LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 2") && err.contains("differs from target shape"),
        "{err}"
    );

    // A channel that is not an index is a name, which the file must have.
    std::fs::write(&csv, "path,channel_signal,channel_target\na.tif,0,x\n").unwrap();
    let m = Manifest::load(&csv).unwrap();
    let err = m
        .load_pair(&m.rows[0], LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 2")
            && err.contains("target")
            && err.contains("no channel named \"x\"; the image has [0: (unnamed)]"),
        "{err}"
    );

    std::fs::write(&csv, "path,channel_signal,channel_target\na.tif,0,4\n").unwrap();
    let m = Manifest::load(&csv).unwrap();
    let err = m
        .load_pair(&m.rows[0], LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 2") && err.contains("channel 4") && err.contains("1 channel"),
        "{err}"
    );

    std::fs::write(&csv, "signal,target\na.tif,a.tif\n").unwrap();
    let err = Manifest::load(&csv).unwrap_err().to_string();
    assert!(
        err.contains("m.csv") && err.contains("path_signal,path_target"),
        "{err}"
    );

    std::fs::write(
        &csv,
        "path_signal,path_target,split\na.tif,a.tif,validation\n",
    )
    .unwrap();
    let err = Manifest::load(&csv).unwrap_err().to_string();
    assert!(err.contains("row 2") && err.contains("validation"), "{err}");
}

#[test]
fn info_describes_a_file() {
    let dir = common::scratch("info");
    let mut v = Volume::from_data(
        (0..2 * 3 * 4 * 5).map(|i| i as f32).collect(),
        [2, 3, 4, 5],
        [0.29, 0.108, 0.108],
    )
    .unwrap();
    v.channel_names = vec!["bf".into(), "dna".into()];
    let path = dir.join("x.tif");
    write_volume(&path, &v).unwrap();
    let info = silico_imaging::image_info(&path).unwrap();
    assert_eq!(info.shape, [2, 3, 4, 5]);
    assert_eq!(info.channel_names, ["bf", "dna"]);
    let text = info.to_string();
    for needle in [
        "ImageJ hyperstack",
        "C=2 Z=3 Y=4 X=5",
        "float32",
        "z=0.29 y=0.108 x=0.108",
        "0 .. 119",
        "dna",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn info_counts_nan_and_inf_and_ranges_only_the_finite_voxels() {
    let dir = common::scratch("info-non-finite");
    let mut data: Vec<f32> = (0..2 * 2 * 3 * 4).map(|i| i as f32).collect();
    data[1] = f32::NAN;
    data[2] = f32::INFINITY;
    data[3] = f32::NEG_INFINITY;
    // Channel 1 holds nothing but NaN.
    data[24..].fill(f32::NAN);
    let path = dir.join("nan.tif");
    write_volume(
        &path,
        &Volume::from_data(data, [2, 2, 3, 4], [1.0; 3]).unwrap(),
    )
    .unwrap();
    let info = silico_imaging::image_info(&path).unwrap();
    assert_eq!(
        (info.range.nan, info.range.inf, info.range.finite),
        (25, 2, 21)
    );
    assert_eq!((info.range.min, info.range.max), (0.0, 23.0));
    let text = info.to_string();
    for needle in [
        "value range  0 .. 23 (mean",
        "; 25 NaN, 2 inf ignored)",
        "not finite   25 NaN, 2 inf",
        "no finite value (24 NaN, 0 inf)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains("0 .. 0"), "{text}");
}

#[test]
fn info_describes_an_ome_zarr_image() {
    use silico_imaging::zarr::{write_volume as write_zarr, OmeZarrWriteOptions};
    let dir = common::scratch("info-zarr");
    let mut v = Volume::from_data(
        (0..2 * 3 * 4 * 5).map(|i| i as f32).collect(),
        [2, 3, 4, 5],
        [0.29, 0.108, 0.108],
    )
    .unwrap();
    v.data[7] = f32::NAN;
    v.channel_names = vec!["bf".into(), "dna".into()];
    let store = dir.join("x.ome.zarr");
    write_zarr(&store, &v, &OmeZarrWriteOptions::default()).unwrap();
    let text = silico_imaging::image_info(&store).unwrap().to_string();
    for needle in [
        "OME-Zarr (NGFF 0.4), level 0 of 1",
        "file axes    czyx",
        "C=2 Z=3 Y=4 X=5",
        "float32",
        "z=0.29 y=0.108 x=0.108",
        "0 .. 119",
        "1 NaN, 0 inf",
        "dna",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}
