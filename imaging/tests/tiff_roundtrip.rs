//! Round trips between silico and Python's tifffile (the reader napari uses and the writer
//! most lab pipelines use): shapes, voxel sizes, channel names and values must survive.

mod common;

use silico_imaging::tiff::{
    read_tiff, write_labels_u16, write_volume, write_volume_with, TiffFlavour, TiffWriteOptions,
};
use silico_imaging::Volume;

/// The test pattern both sides compute: distinct per (c, z, y, x), exact in u8.
fn pattern(c: usize, z: usize, y: usize, x: usize) -> f32 {
    ((c * 61 + z * 17 + y * 5 + x * 3) % 251) as f32
}

const PY_PATTERN: &str = "
def pattern(C, Z, Y, X):
    c, z, y, x = numpy.meshgrid(numpy.arange(C), numpy.arange(Z), numpy.arange(Y), numpy.arange(X), indexing='ij')
    return ((c * 61 + z * 17 + y * 5 + x * 3) % 251)
";

fn assert_pattern(v: &Volume) {
    let [c, z, y, x] = v.shape;
    for ci in 0..c {
        for zi in 0..z {
            for yi in 0..y {
                for xi in 0..x {
                    assert_eq!(
                        v.get(ci, zi, yi, xi),
                        pattern(ci, zi, yi, xi),
                        "at c={ci} z={zi} y={yi} x={xi}"
                    );
                }
            }
        }
    }
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * b.abs().max(1.0)
}

fn patterned_volume(shape: [usize; 4], voxel: [f32; 3]) -> Volume {
    let mut v = Volume::zeros(shape, voxel);
    for c in 0..shape[0] {
        for z in 0..shape[1] {
            for y in 0..shape[2] {
                for x in 0..shape[3] {
                    v.set(c, z, y, x, pattern(c, z, y, x));
                }
            }
        }
    }
    v
}

const PY_CHECK_IMAGEJ: &str = "
with tifffile.TiffFile(sys.argv[1]) as tif:
    assert tif.is_imagej, 'not recognised as ImageJ'
    s = tif.series[0]
    ij = tif.imagej_metadata
    page = tif.pages[0]
    xr = page.tags['XResolution'].value
    yr = page.tags['YResolution'].value
    data = s.asarray()
    labels = ij.get('Labels', [])
    print(json.dumps({'shape': list(s.shape), 'axes': s.axes, 'dtype': str(data.dtype),
        'spacing': ij.get('spacing'), 'unit': ij.get('unit'), 'x': xr[1] / xr[0], 'y': yr[1] / yr[0],
        'bigtiff': tif.is_bigtiff, 'labels': labels, 'sum': float(data.astype('float64').sum()),
        'first': float(data.flat[1]), 'last': float(data.flat[-1])}))
";

fn field<'a>(json: &'a str, key: &str) -> &'a str {
    let start = json
        .find(&format!("\"{key}\": "))
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + key.len()
        + 4;
    let rest = &json[start..];
    let end = if rest.starts_with('[') {
        rest.find(']').unwrap() + 1
    } else {
        rest.find([',', '}']).unwrap()
    };
    rest[..end].trim()
}

#[test]
fn silico_hyperstack_opens_in_tifffile_with_shape_voxel_size_and_names() {
    let dir = common::scratch("to-tifffile");
    let path = dir.join("stack.tif");
    let mut volume = patterned_volume([2, 3, 5, 7], [0.29, 0.108, 0.125]);
    volume.channel_names = vec!["brightfield".into(), "dna".into()];
    write_volume(&path, &volume).unwrap();
    let out = common::run_python(PY_CHECK_IMAGEJ, &[&path]);
    assert_eq!(field(&out, "shape"), "[3, 2, 5, 7]", "{out}");
    assert_eq!(field(&out, "axes"), "\"ZCYX\"");
    assert_eq!(field(&out, "dtype"), "\"float32\"");
    assert!(
        close(field(&out, "spacing").parse().unwrap(), 0.29),
        "{out}"
    );
    assert!(close(field(&out, "x").parse().unwrap(), 0.125), "{out}");
    assert!(close(field(&out, "y").parse().unwrap(), 0.108), "{out}");
    assert_eq!(field(&out, "unit"), "\"micron\"");
    assert_eq!(field(&out, "bigtiff"), "false");
    assert!(
        field(&out, "labels").starts_with("[\"brightfield\", \"dna\""),
        "{out}"
    );
    let sum: f64 = volume.data.iter().map(|&v| v as f64).sum();
    assert_eq!(field(&out, "sum").parse::<f64>().unwrap(), sum);
    // tifffile's (Z, C, Y, X) element 1 is (z0, c0, y0, x1); the last is the last of every axis.
    assert_eq!(
        field(&out, "first").parse::<f32>().unwrap(),
        pattern(0, 0, 0, 1)
    );
    assert_eq!(
        field(&out, "last").parse::<f32>().unwrap(),
        pattern(1, 2, 4, 6)
    );

    // And silico reads its own file back identically.
    let (back, description) = read_tiff(&path).unwrap();
    assert_eq!(description.layout.flavour, TiffFlavour::ImageJ);
    assert_eq!(back, volume);
}

#[test]
fn silico_bigtiff_and_labels_open_in_tifffile() {
    let dir = common::scratch("to-tifffile-big");
    let path = dir.join("big.tif");
    let volume = patterned_volume([1, 4, 6, 5], [0.5, 0.2, 0.2]);
    write_volume_with(
        &path,
        &volume,
        TiffWriteOptions {
            force_bigtiff: true,
        },
    )
    .unwrap();
    let out = common::run_python(PY_CHECK_IMAGEJ, &[&path]);
    assert_eq!(field(&out, "shape"), "[4, 6, 5]", "{out}");
    assert_eq!(field(&out, "bigtiff"), "true");
    assert!(close(field(&out, "spacing").parse().unwrap(), 0.5));
    let (back, description) = read_tiff(&path).unwrap();
    assert!(description.bigtiff);
    assert_eq!(back.data, volume.data);

    let labels_path = dir.join("labels.tif");
    let labels: Vec<u16> = (0..4 * 6 * 5).map(|i| (i % 7) as u16 * 1000).collect();
    write_labels_u16(&labels_path, &labels, [4, 6, 5], [0.5, 0.2, 0.2]).unwrap();
    let out = common::run_python(PY_CHECK_IMAGEJ, &[&labels_path]);
    assert_eq!(field(&out, "dtype"), "\"uint16\"");
    assert_eq!(field(&out, "shape"), "[4, 6, 5]");
    let back = silico_imaging::tiff::read_volume(&labels_path).unwrap();
    assert!(back.data.iter().zip(&labels).all(|(a, &b)| *a == b as f32));
}

/// tifffile writes `kind` files of every dtype; silico must read the same shape, voxel size,
/// names and values.
fn tifffile_to_silico(kind: &str, dtype: &str, axes: &str) {
    let dir = common::scratch(&format!("from-tifffile-{kind}-{dtype}-{axes}"));
    let path = dir.join("in.tif");
    let (c, z, y, x) = (3usize, 4usize, 6usize, 5usize);
    let writer = match kind {
        "imagej" => format!(
            "data = pattern({c},{z},{y},{x}).astype('{dtype}')\n\
             if '{axes}' == 'ZCYX': data = data.transpose(1, 0, 2, 3)\n\
             tifffile.imwrite(sys.argv[1], data, imagej=True, resolution=(1/0.125, 1/0.108),\n\
                 metadata={{'axes': '{axes}', 'spacing': 0.29, 'unit': 'um', 'Labels': ['mem', 'dna', 'bf'] * {z}}})"
        ),
        "ome" => format!(
            "data = pattern({c},{z},{y},{x}).astype('{dtype}')\n\
             if '{axes}' == 'ZCYX': data = data.transpose(1, 0, 2, 3)\n\
             tifffile.imwrite(sys.argv[1], data, ome=True, bigtiff={big},\n\
                 metadata={{'axes': '{axes}', 'PhysicalSizeX': 0.125, 'PhysicalSizeY': 0.108, 'PhysicalSizeZ': 290.0,\n\
                 'PhysicalSizeZUnit': 'nm', 'Channel': {{'Name': ['mem', 'dna', 'bf']}}}})",
            big = if dtype == "float32" { "True" } else { "False" }
        ),
        _ => unreachable!(),
    };
    common::run_python(&format!("{PY_PATTERN}\n{writer}"), &[&path]);
    let (volume, description) = read_tiff(&path).unwrap();
    assert_eq!(volume.shape, [c, z, y, x], "{kind} {dtype} {axes}");
    assert!(close(volume.voxel_um[0], 0.29), "z {:?}", volume.voxel_um);
    assert!(close(volume.voxel_um[1], 0.108), "y {:?}", volume.voxel_um);
    assert!(close(volume.voxel_um[2], 0.125), "x {:?}", volume.voxel_um);
    assert_eq!(description.sample_type, dtype);
    assert_eq!(volume.channel_names, ["mem", "dna", "bf"]);
    assert_eq!(description.layout.voxel_known, [true; 3]);
    assert_pattern(&volume);
}

#[test]
fn tifffile_imagej_hyperstacks_read_in_every_dtype() {
    for dtype in ["uint8", "uint16", "float32"] {
        tifffile_to_silico("imagej", dtype, "ZCYX");
    }
}

#[test]
fn tifffile_ome_tiff_reads_in_every_dtype_and_order() {
    for dtype in ["uint8", "uint16", "float32"] {
        tifffile_to_silico("ome", dtype, "CZYX");
    }
    tifffile_to_silico("ome", "uint16", "ZCYX");
}

#[test]
fn tifffile_plain_compressed_and_rgb_stacks_read() {
    let dir = common::scratch("from-tifffile-plain");
    let plain = dir.join("plain.tif");
    let deflate = dir.join("deflate.tif");
    let tiled = dir.join("tiled.tif");
    let rgb = dir.join("rgb.tif");
    common::run_python(
        &format!(
            "{PY_PATTERN}\n\
             d = pattern(1, 4, 6, 5)[0].astype('uint16')\n\
             tifffile.imwrite(sys.argv[1], d, resolution=(8.0, 8.0), resolutionunit='MICROMETER', photometric='minisblack', metadata=None)\n\
             tifffile.imwrite(sys.argv[2], d.astype('float32'), compression='zlib', photometric='minisblack', metadata=None)\n\
             tifffile.imwrite(sys.argv[3], d.astype('int16'), tile=(16, 16), compression='zlib', predictor=True, photometric='minisblack', metadata=None)\n\
             tifffile.imwrite(sys.argv[4], pattern(3, 1, 6, 5)[:, 0].transpose(1, 2, 0).astype('uint8'), photometric='rgb', metadata=None)"
        ),
        &[&plain, &deflate, &tiled, &rgb],
    );
    for (path, dtype) in [(&plain, "uint16"), (&deflate, "float32"), (&tiled, "int16")] {
        let (v, d) = read_tiff(path).unwrap();
        assert_eq!(d.layout.flavour, TiffFlavour::Plain);
        assert_eq!(v.shape, [1, 4, 6, 5], "{}", path.display());
        assert_eq!(d.sample_type, dtype);
        assert_pattern(&v);
    }
    let (v, _) = read_tiff(&rgb).unwrap();
    assert_eq!(v.shape, [3, 1, 6, 5]);
    assert_pattern(&v);
}

#[test]
fn an_unknown_voxel_size_is_written_as_unknown_and_settled_on_reading() {
    use silico_imaging::dataset::{load_image, ImageRef, LoadOptions, VoxelSize};
    let dir = common::scratch("unknown-voxel");
    let path = dir.join("unknown.tif");
    let mut volume = patterned_volume([1, 3, 5, 4], [1.0, 1.0, 1.0]);
    volume.voxel_known = false;
    write_volume(&path, &volume).unwrap();
    let (read, _) = read_tiff(&path).unwrap();
    assert!(
        !read.voxel_known,
        "written without a voxel size, read back as unknown"
    );
    assert_pattern(&read);
    // tifffile sees no ImageJ spacing and no resolution unit either.
    let json = common::run_python(
        "import json, sys, tifffile\nt = tifffile.TiffFile(sys.argv[1])\nprint(json.dumps({'spacing': t.imagej_metadata.get('spacing'), 'unit': t.imagej_metadata.get('unit'), 'xres': 'XResolution' in t.pages[0].tags}))",
        &[&path],
    );
    assert_eq!(
        json.trim(),
        r#"{"spacing": null, "unit": null, "xres": false}"#
    );

    let image = ImageRef {
        path: path.clone(),
        channel: None,
    };
    let load = |voxel_size| {
        load_image(
            &image,
            LoadOptions {
                normalize: false,
                voxel_size,
                ..LoadOptions::default()
            },
        )
        .unwrap()
    };
    let kept = load(VoxelSize::FromFile);
    assert!(!kept.voxel_known);
    assert_eq!(kept.voxel_um, [1.0, 1.0, 1.0]);
    let given = load(VoxelSize::Given([0.29, 0.1, 0.1]));
    assert!(given.voxel_known);
    assert_eq!(given.voxel_um, [0.29, 0.1, 0.1]);
    let like = load(VoxelSize::Like {
        um: [0.5, 0.2, 0.2],
        from: "the model's",
    });
    assert_eq!(like.voxel_um, [0.5, 0.2, 0.2]);
    // A file that says its voxel size keeps it whatever is given.
    let known = dir.join("known.tif");
    write_volume(&known, &patterned_volume([1, 3, 5, 4], [0.3, 0.2, 0.2])).unwrap();
    let kept = load_image(
        &ImageRef {
            path: known,
            channel: None,
        },
        LoadOptions {
            voxel_size: VoxelSize::Given([1.0, 1.0, 1.0]),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert!(kept.voxel_known);
    assert!((kept.voxel_um[0] - 0.3).abs() < 1e-6 && (kept.voxel_um[2] - 0.2).abs() < 1e-6);
}
