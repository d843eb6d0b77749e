//! Interpreting the metadata that ImageJ, OME and plain TIFF writers leave in a file: how the
//! pages map onto channels and z-slices, the voxel size, and the channel names.
//!
//! ImageJ hyperstacks store pages in (T, Z, C) order with C fastest and keep `channels=`,
//! `slices=`, `frames=`, `spacing=` and `unit=` in the ImageDescription; x/y pixel size is
//! 1/XResolution. OME-TIFF keeps an OME-XML document in the first ImageDescription whose
//! `Pixels` element gives `DimensionOrder` (fastest axis first after XY), the sizes and the
//! `PhysicalSize*` values with their units.

use std::path::Path;

use crate::error::{ImagingError, Result};

/// Which metadata convention a file follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TiffFlavour {
    ImageJ,
    Ome,
    Plain,
}

impl std::fmt::Display for TiffFlavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TiffFlavour::ImageJ => "ImageJ hyperstack",
            TiffFlavour::Ome => "OME-TIFF",
            TiffFlavour::Plain => "plain TIFF stack",
        })
    }
}

/// How the decoded planes of a file become a (C, Z, Y, X) volume.
#[derive(Debug, Clone, PartialEq)]
pub struct FileLayout {
    pub flavour: TiffFlavour,
    /// Axes as the file orders them, slowest first (e.g. "TZCYX" for ImageJ).
    pub axes: String,
    pub channels: usize,
    pub slices: usize,
    /// For each output plane in (C, Z) order, the index of the decoded plane that fills it.
    pub plane_source: Vec<usize>,
    /// Voxel size in µm (z, y, x); 1.0 where the file does not say.
    pub voxel_um: [f32; 3],
    /// Whether (z, y, x) sizes came from the file rather than the 1.0 default.
    pub voxel_known: [bool; 3],
    pub channel_names: Vec<String>,
}

/// What the page reader found, before interpretation.
pub(crate) struct RawFacts<'a> {
    pub path: &'a Path,
    pub description: Option<&'a str>,
    pub pages: usize,
    pub samples_per_pixel: usize,
    /// Pixels per resolution unit in x and y.
    pub resolution: [Option<f64>; 2],
    /// TIFF ResolutionUnit: 1 none, 2 inch, 3 cm.
    pub resolution_unit: u16,
    /// ImageJ slice labels (one per page) from the IJMetadata tag.
    pub imagej_labels: Vec<String>,
}

/// Converts a length unit name to its size in µm; `None` for pixels or unknown units.
pub(crate) fn unit_to_um(unit: &str) -> Option<f64> {
    match unit.trim().to_ascii_lowercase().as_str() {
        "micron" | "microns" | "um" | "µm" | "μm" | "\\u00b5m" | "micrometer" | "micrometre" => {
            Some(1.0)
        }
        "nm" | "nanometer" | "nanometre" => Some(1e-3),
        "å" | "angstrom" => Some(1e-4),
        "mm" | "millimeter" | "millimetre" => Some(1e3),
        "cm" | "centimeter" | "centimetre" => Some(1e4),
        "m" | "meter" | "metre" => Some(1e6),
        "inch" | "in" => Some(25_400.0),
        _ => None,
    }
}

pub(crate) fn interpret(facts: &RawFacts<'_>) -> Result<FileLayout> {
    match facts.description {
        Some(d) if d.starts_with("ImageJ=") => interpret_imagej(facts, d),
        Some(d) if d.contains("<OME") => interpret_ome(facts, d),
        _ => Ok(interpret_plain(facts)),
    }
}

/// x/y pixel size from XResolution/YResolution scaled by `unit_um`.
fn xy_from_resolution(facts: &RawFacts<'_>, unit_um: Option<f64>) -> ([f32; 2], [bool; 2]) {
    let unit_um = unit_um.or(match facts.resolution_unit {
        2 => Some(25_400.0),
        3 => Some(10_000.0),
        _ => None,
    });
    let mut size = [1.0f32; 2];
    let mut known = [false; 2];
    for axis in 0..2 {
        // XResolution is index 0 but the voxel tuple is (y, x).
        let out = 1 - axis;
        if let (Some(res), Some(unit)) = (facts.resolution[axis], unit_um) {
            if res.is_finite() && res > 0.0 {
                size[out] = (unit / res) as f32;
                known[out] = true;
            }
        }
    }
    (size, known)
}

fn interpret_plain(facts: &RawFacts<'_>) -> FileLayout {
    let spp = facts.samples_per_pixel;
    let ([y, x], [ky, kx]) = xy_from_resolution(facts, None);
    // Decoded planes are page-major with samples fastest: plane = page * spp + sample.
    let mut plane_source = Vec::with_capacity(facts.pages * spp);
    for c in 0..spp {
        for z in 0..facts.pages {
            plane_source.push(z * spp + c);
        }
    }
    FileLayout {
        flavour: TiffFlavour::Plain,
        axes: if spp > 1 { "ZYXS".into() } else { "ZYX".into() },
        channels: spp,
        slices: facts.pages,
        plane_source,
        voxel_um: [1.0, y, x],
        voxel_known: [false, ky, kx],
        channel_names: vec![String::new(); spp],
    }
}

fn imagej_value<'a>(description: &'a str, key: &str) -> Option<&'a str> {
    description.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim())
    })
}

fn imagej_count(facts: &RawFacts<'_>, description: &str, key: &str) -> Result<usize> {
    match imagej_value(description, key) {
        None => Ok(1),
        Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ImagingError::metadata(facts.path, format!("ImageJ `{key}={v}` is not a count"))
        }),
    }
}

fn interpret_imagej(facts: &RawFacts<'_>, description: &str) -> Result<FileLayout> {
    let channels = imagej_count(facts, description, "channels")?;
    let mut slices = imagej_count(facts, description, "slices")?;
    let frames = imagej_count(facts, description, "frames")?;
    let images = channels
        .checked_mul(slices)
        .and_then(|n| n.checked_mul(frames))
        .unwrap_or(usize::MAX);
    if images != facts.pages {
        let hint = if facts.pages == 1 {
            "; ImageJ saves files over 4 GB with a single directory: re-save with tifffile or as OME-TIFF"
        } else {
            ""
        };
        return Err(ImagingError::metadata(
            facts.path,
            format!(
                "ImageJ description says {channels} channel(s) x {slices} slice(s) x {frames} frame(s) = {images} images, but the file has {} pages{hint}",
                facts.pages
            ),
        ));
    }
    let mut axes = String::new();
    if frames > 1 && slices > 1 {
        return Err(ImagingError::metadata(
            facts.path,
            format!("time series with {frames} frames of {slices} slices; save one time point (Fiji: Image > Duplicate, frames=1)"),
        ));
    }
    if frames > 1 {
        // A stack saved as frames instead of slices: read time as z, as Fiji users expect.
        slices = frames;
        axes.push('T');
    } else if slices > 1 {
        axes.push('Z');
    }
    if channels > 1 {
        axes.push('C');
    }
    axes.push_str("YX");
    let spp = facts.samples_per_pixel;
    if spp > 1 {
        axes.push('S');
    }

    let unit_um = imagej_value(description, "unit").and_then(unit_to_um);
    let ([y, x], [ky, kx]) = xy_from_resolution(facts, unit_um.or(Some(1.0)));
    let spacing = imagej_value(description, "spacing").and_then(|s| s.parse::<f64>().ok());
    let (z, kz) = match spacing {
        Some(s) if s.is_finite() && s > 0.0 => ((s * unit_um.unwrap_or(1.0)) as f32, true),
        _ => (1.0, false),
    };

    // Page p = z * channels + c; each page holds spp samples.
    let out_channels = channels * spp;
    let mut plane_source = Vec::with_capacity(out_channels * slices);
    for c in 0..channels {
        for s in 0..spp {
            for zi in 0..slices {
                plane_source.push((zi * channels + c) * spp + s);
            }
        }
    }
    let mut channel_names = vec![String::new(); out_channels];
    if spp == 1 && facts.imagej_labels.len() == facts.pages {
        for (c, name) in channel_names.iter_mut().enumerate() {
            name.clone_from(&facts.imagej_labels[c]);
        }
    }
    Ok(FileLayout {
        flavour: TiffFlavour::ImageJ,
        axes,
        channels: out_channels,
        slices,
        plane_source,
        voxel_um: [z, y, x],
        voxel_known: [kz, ky, kx],
        channel_names,
    })
}

fn ome_attr_usize(path: &Path, node: roxmltree::Node<'_, '_>, name: &str) -> Result<usize> {
    let raw = node.attribute(name).ok_or_else(|| {
        ImagingError::metadata(path, format!("OME-XML Pixels lacks the {name} attribute"))
    })?;
    raw.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ImagingError::metadata(path, format!("OME-XML {name}=\"{raw}\" is not a size"))
    })
}

fn ome_physical_size(node: roxmltree::Node<'_, '_>, axis: &str) -> Option<f32> {
    let value: f64 = node
        .attribute(format!("PhysicalSize{axis}").as_str())?
        .parse()
        .ok()?;
    // OME's default unit is µm.
    let unit = node
        .attribute(format!("PhysicalSize{axis}Unit").as_str())
        .map_or(Some(1.0), unit_to_um)?;
    (value.is_finite() && value > 0.0).then_some((value * unit) as f32)
}

fn interpret_ome(facts: &RawFacts<'_>, xml: &str) -> Result<FileLayout> {
    let path = facts.path;
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| ImagingError::metadata(path, format!("OME-XML does not parse: {e}")))?;
    let pixels = doc
        .descendants()
        .find(|n| n.has_tag_name("Pixels"))
        .ok_or_else(|| ImagingError::metadata(path, "OME-XML has no Pixels element"))?;
    let order = pixels.attribute("DimensionOrder").unwrap_or("XYZCT");
    let size_c = ome_attr_usize(path, pixels, "SizeC")?;
    let size_z = ome_attr_usize(path, pixels, "SizeZ")?;
    let size_t = ome_attr_usize(path, pixels, "SizeT")?;
    let spp = facts.samples_per_pixel;
    if size_c % spp != 0 {
        return Err(ImagingError::metadata(
            path,
            format!("OME SizeC={size_c} is not a multiple of {spp} samples per pixel"),
        ));
    }
    let page_channels = size_c / spp;
    let planes_needed = page_channels * size_z * size_t;
    if facts.pages < planes_needed {
        return Err(ImagingError::metadata(
            path,
            format!(
                "OME-XML describes {planes_needed} planes (C={size_c}, Z={size_z}, T={size_t}) but the file has {} pages; multi-file OME-TIFF sets are not supported, convert to a single file",
                facts.pages
            ),
        ));
    }
    let moving: Vec<char> = order.chars().filter(|c| "ZCT".contains(*c)).collect();
    if moving.len() != 3 || order.len() != 5 || !order.starts_with("XY") {
        return Err(ImagingError::metadata(
            path,
            format!("OME DimensionOrder \"{order}\" is not one of XYZCT, XYZTC, XYCZT, XYCTZ, XYTZC, XYTCZ"),
        ));
    }
    if size_t > 1 && size_z > 1 {
        return Err(ImagingError::metadata(
            path,
            format!("time series with T={size_t} and Z={size_z}; export a single time point"),
        ));
    }
    let time_as_z = size_t > 1;
    let size_of = |axis: char| match axis {
        'Z' => size_z,
        'C' => page_channels,
        _ => size_t,
    };
    // Plane index = i0 + n0 * (i1 + n1 * i2) for the moving axes in fastest-first order.
    let page_of = |c: usize, z: usize| {
        let index_of = |axis: char| match axis {
            'Z' => {
                if time_as_z {
                    0
                } else {
                    z
                }
            }
            'C' => c,
            _ => {
                if time_as_z {
                    z
                } else {
                    0
                }
            }
        };
        let mut page = 0;
        for &axis in moving.iter().rev() {
            page = page * size_of(axis) + index_of(axis);
        }
        page
    };
    let out_slices = if time_as_z { size_t } else { size_z };
    let mut plane_source = Vec::with_capacity(size_c * out_slices);
    for c in 0..page_channels {
        for s in 0..spp {
            for z in 0..out_slices {
                plane_source.push(page_of(c, z) * spp + s);
            }
        }
    }
    let axes: String = moving
        .iter()
        .rev()
        .filter(|a| size_of(**a) > 1)
        .chain(['Y', 'X'].iter())
        .collect();
    let mut channel_names: Vec<String> = pixels
        .children()
        .filter(|n| n.has_tag_name("Channel"))
        .map(|n| n.attribute("Name").unwrap_or("").to_string())
        .collect();
    channel_names.resize(size_c, String::new());
    let sizes = [
        ome_physical_size(pixels, "Z"),
        ome_physical_size(pixels, "Y"),
        ome_physical_size(pixels, "X"),
    ];
    Ok(FileLayout {
        flavour: TiffFlavour::Ome,
        axes: if spp > 1 { axes + "S" } else { axes },
        channels: size_c,
        slices: out_slices,
        plane_source,
        voxel_um: sizes.map(|s| s.unwrap_or(1.0)),
        voxel_known: sizes.map(|s| s.is_some()),
        channel_names,
    })
}

/// Decodes ImageJ's IJMetadata tag (magic "IJIJ" big-endian / "JIJI" little-endian) and returns
/// the slice labels ("labl" entries), or nothing if the tag is absent or malformed.
pub(crate) fn imagej_labels(counts: &[u32], bytes: &[u8]) -> Vec<String> {
    let Some(&header_len) = counts.first() else {
        return Vec::new();
    };
    let header_len = header_len as usize;
    if header_len < 4 || bytes.len() < header_len {
        return Vec::new();
    }
    let big_endian = match &bytes[..4] {
        b"IJIJ" => true,
        b"JIJI" => false,
        _ => return Vec::new(),
    };
    let read_u32 = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    };
    // Header: magic, then (type, count) pairs; entries follow in that order.
    let mut entry = 1usize;
    let mut offset = header_len;
    let mut labels = Vec::new();
    for pair in bytes[4..header_len].chunks_exact(8) {
        let kind = read_u32(&pair[..4]);
        let count = read_u32(&pair[4..]) as usize;
        for _ in 0..count {
            let Some(&len) = counts.get(entry) else {
                return labels;
            };
            let len = len as usize;
            let Some(chunk) = bytes.get(offset..offset.saturating_add(len)) else {
                return labels;
            };
            if kind == u32::from_be_bytes(*b"labl") {
                let units: Vec<u16> = chunk
                    .chunks_exact(2)
                    .map(|u| {
                        if big_endian {
                            u16::from_be_bytes([u[0], u[1]])
                        } else {
                            u16::from_le_bytes([u[0], u[1]])
                        }
                    })
                    .collect();
                labels.push(String::from_utf16_lossy(&units));
            }
            entry += 1;
            offset += len;
        }
    }
    labels
}
