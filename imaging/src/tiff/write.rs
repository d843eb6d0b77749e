//! Writing ImageJ-hyperstack TIFF, atomically.
//!
//! Layout: header, then every page's directory (the first carries the ImageJ description and
//! the channel names as ImageJ slice labels), then all pixel data contiguously, one strip per
//! page, little-endian, uncompressed. Contiguous data is what ImageJ and tifffile expect of an
//! ImageJ hyperstack and lets both memory-map it. x/y pixel size goes in XResolution/YResolution
//! (pixels per µm), z in `spacing=`. Files that would pass 4 GB are written as BigTIFF, which
//! tifffile, napari and Fiji's Bio-Formats importer read.

use std::io::Write;
use std::path::Path;

use crate::error::{ImagingError, Result};
use crate::files::write_atomic_with;
use crate::volume::Volume;

/// Knobs for [`write_volume_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TiffWriteOptions {
    /// Write BigTIFF even when the file would fit classic TIFF.
    pub force_bigtiff: bool,
}

/// A sample type the writer can store.
trait Sample: Copy {
    const BITS: u16;
    /// TIFF SampleFormat: 1 unsigned integer, 3 IEEE float.
    const FORMAT: u16;
    fn extend_le(samples: &[Self], out: &mut Vec<u8>);
    fn as_f64(self) -> f64;
}

impl Sample for f32 {
    const BITS: u16 = 32;
    const FORMAT: u16 = 3;
    fn extend_le(samples: &[Self], out: &mut Vec<u8>) {
        out.extend(samples.iter().flat_map(|v| v.to_le_bytes()));
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Sample for u16 {
    const BITS: u16 = 16;
    const FORMAT: u16 = 1;
    fn extend_le(samples: &[Self], out: &mut Vec<u8>) {
        out.extend(samples.iter().flat_map(|v| v.to_le_bytes()));
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Sample for u8 {
    const BITS: u16 = 8;
    const FORMAT: u16 = 1;
    fn extend_le(samples: &[Self], out: &mut Vec<u8>) {
        out.extend_from_slice(samples);
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
}

/// Writes a volume as an f32 ImageJ hyperstack.
pub fn write_volume(path: &Path, volume: &Volume) -> Result<()> {
    write_volume_with(path, volume, TiffWriteOptions::default())
}

/// [`write_volume`] with options.
pub fn write_volume_with(path: &Path, volume: &Volume, options: TiffWriteOptions) -> Result<()> {
    let expected: usize = volume.shape.iter().product();
    if volume.data.len() != expected {
        return Err(ImagingError::BadWrite {
            path: path.to_path_buf(),
            detail: format!("{} samples for shape {:?}", volume.data.len(), volume.shape),
        });
    }
    let image = ImageRef {
        data: &volume.data,
        shape: volume.shape,
        // A volume whose file gave no voxel size is written without one, not as 1 µm.
        voxel_um: volume.voxel_known.then_some(volume.voxel_um),
        channel_names: &volume.channel_names,
    };
    write_image(path, &image, options)
}

/// Writes a (Z, Y, X) u16 label image (0 = background, 1.. = object ids) as an ImageJ stack.
pub fn write_labels_u16(
    path: &Path,
    labels: &[u16],
    zyx: [usize; 3],
    voxel_um: [f32; 3],
) -> Result<()> {
    let image = ImageRef {
        data: labels,
        shape: [1, zyx[0], zyx[1], zyx[2]],
        voxel_um: Some(voxel_um),
        channel_names: &[],
    };
    check_len(path, labels.len(), &image.shape)?;
    write_image(path, &image, TiffWriteOptions::default())
}

/// Writes a (Z, Y, X) u8 mask (0 or 1) as an ImageJ stack.
pub fn write_mask_u8(path: &Path, mask: &[u8], zyx: [usize; 3], voxel_um: [f32; 3]) -> Result<()> {
    let image = ImageRef {
        data: mask,
        shape: [1, zyx[0], zyx[1], zyx[2]],
        voxel_um: Some(voxel_um),
        channel_names: &[],
    };
    check_len(path, mask.len(), &image.shape)?;
    write_image(path, &image, TiffWriteOptions::default())
}

fn check_len(path: &Path, len: usize, shape: &[usize; 4]) -> Result<()> {
    if len != shape.iter().product::<usize>() {
        return Err(ImagingError::BadWrite {
            path: path.to_path_buf(),
            detail: format!("{len} samples for shape {shape:?}"),
        });
    }
    Ok(())
}

struct ImageRef<'a, T> {
    data: &'a [T],
    shape: [usize; 4],
    voxel_um: Option<[f32; 3]>,
    channel_names: &'a [String],
}

/// Checks the image and writes it atomically (see [`crate::files`]).
fn write_image<T: Sample>(
    path: &Path,
    image: &ImageRef<'_, T>,
    options: TiffWriteOptions,
) -> Result<()> {
    if image.shape.contains(&0) {
        return Err(ImagingError::BadWrite {
            path: path.to_path_buf(),
            detail: format!("empty shape {:?}", image.shape),
        });
    }
    if let Some(voxel_um) = image
        .voxel_um
        .filter(|v| v.iter().any(|v| !(v.is_finite() && *v > 0.0)))
    {
        return Err(ImagingError::BadWrite {
            path: path.to_path_buf(),
            detail: format!("voxel size {voxel_um:?} µm must be positive"),
        });
    }
    write_atomic_with(path, |out| encode(out, image, options))
}

/// TIFF field types used here.
const SHORT: u16 = 3;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;
const ASCII: u16 = 2;
const BYTE: u16 = 1;
const LONG8: u16 = 16;

/// One directory entry; `inline` holds values small enough to sit in the entry itself.
struct Entry {
    tag: u16,
    kind: u16,
    count: u64,
    payload: Vec<u8>,
}

impl Entry {
    fn short(tag: u16, v: u16) -> Self {
        Entry {
            tag,
            kind: SHORT,
            count: 1,
            payload: v.to_le_bytes().to_vec(),
        }
    }
    fn long(tag: u16, v: u32) -> Self {
        Entry {
            tag,
            kind: LONG,
            count: 1,
            payload: v.to_le_bytes().to_vec(),
        }
    }
    fn offset(tag: u16, v: u64, big: bool) -> Self {
        if big {
            Entry {
                tag,
                kind: LONG8,
                count: 1,
                payload: v.to_le_bytes().to_vec(),
            }
        } else {
            Entry::long(tag, v as u32)
        }
    }
    fn rational(tag: u16, num: u32, den: u32) -> Self {
        let mut payload = num.to_le_bytes().to_vec();
        payload.extend_from_slice(&den.to_le_bytes());
        Entry {
            tag,
            kind: RATIONAL,
            count: 1,
            payload,
        }
    }
}

fn imagej_description(shape: [usize; 4], z_um: Option<f32>, min: f64, max: f64) -> String {
    let [c, z, _, _] = shape;
    let mut d = format!("ImageJ=1.11a\nimages={}\n", c * z);
    if c > 1 {
        d.push_str(&format!("channels={c}\n"));
    }
    if z > 1 {
        d.push_str(&format!("slices={z}\n"));
    }
    if c > 1 {
        d.push_str("hyperstack=true\nmode=grayscale\n");
    }
    if let Some(z_um) = z_um {
        d.push_str(&format!("unit=micron\nspacing={z_um}\n"));
    }
    d.push_str(&format!("loop=false\nmin={min}\nmax={max}\n"));
    d
}

/// ImageJ's IJMetadata tag pair holding one slice label per page (little-endian flavour).
fn imagej_label_tags(labels: &[String]) -> (Vec<u32>, Vec<u8>) {
    let mut header = b"JIJI".to_vec();
    header.extend_from_slice(b"lbal");
    header.extend_from_slice(&(labels.len() as u32).to_le_bytes());
    let mut counts = vec![header.len() as u32];
    let mut bytes = header;
    for label in labels {
        let encoded: Vec<u8> = label.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        counts.push(encoded.len() as u32);
        bytes.extend_from_slice(&encoded);
    }
    (counts, bytes)
}

fn encode<T: Sample, W: Write + ?Sized>(
    out: &mut W,
    image: &ImageRef<'_, T>,
    options: TiffWriteOptions,
) -> std::io::Result<()> {
    let [channels, slices, height, width] = image.shape;
    let pages = channels * slices;
    let page_bytes = (height * width * T::BITS as usize / 8) as u64;
    let data_bytes = page_bytes * pages as u64;

    let (min, max) = image
        .data
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            let v = v.as_f64();
            if v.is_nan() {
                (lo, hi)
            } else {
                (lo.min(v), hi.max(v))
            }
        });
    let (min, max) = if min.is_finite() {
        (min, max)
    } else {
        (0.0, 0.0)
    };
    let mut description =
        imagej_description(image.shape, image.voxel_um.map(|v| v[0]), min, max).into_bytes();
    description.push(0);
    let named = image.channel_names.iter().any(|n| !n.is_empty());
    let labels: Vec<String> = if named {
        (0..pages)
            .map(|p| {
                image
                    .channel_names
                    .get(p % channels)
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    } else {
        Vec::new()
    };
    let (label_counts, label_bytes) = imagej_label_tags(&labels);
    let label_counts: Vec<u8> = label_counts.iter().flat_map(|c| c.to_le_bytes()).collect();

    // Pixels per µm as an exact rational of the voxel size given to 1e-6 µm.
    let den = |um: f32| ((um as f64 * 1e6).round() as u32).max(1);

    let directories_estimate =
        512 * pages as u64 + description.len() as u64 + label_bytes.len() as u64;
    let big = options.force_bigtiff || data_bytes + directories_estimate > u32::MAX as u64;
    let header_len: u64 = if big { 16 } else { 8 };
    let (count_len, entry_len, next_len) = if big { (8u64, 20u64, 8u64) } else { (2, 12, 4) };
    let inline_len = if big { 8 } else { 4 };

    // First pass: build every directory with placeholder data offsets, to learn its size.
    let build = |page: usize, data_offset: u64| -> Vec<Entry> {
        let mut e = vec![
            Entry::long(256, width as u32),
            Entry::long(257, height as u32),
            Entry::short(258, T::BITS),
            Entry::short(259, 1),
            Entry::short(262, 1),
        ];
        if page == 0 {
            e.push(Entry {
                tag: 270,
                kind: ASCII,
                count: description.len() as u64,
                payload: description.clone(),
            });
        }
        e.push(Entry::offset(273, data_offset, big));
        e.push(Entry::short(277, 1));
        e.push(Entry::long(278, height as u32));
        e.push(Entry::offset(279, page_bytes, big));
        if let Some(voxel_um) = image.voxel_um {
            e.push(Entry::rational(282, 1_000_000, den(voxel_um[2])));
            e.push(Entry::rational(283, 1_000_000, den(voxel_um[1])));
            e.push(Entry::short(296, 1));
        }
        e.push(Entry::short(339, T::FORMAT));
        if page == 0 && named {
            e.push(Entry {
                tag: 50838,
                kind: LONG,
                count: (label_counts.len() / 4) as u64,
                payload: label_counts.clone(),
            });
            e.push(Entry {
                tag: 50839,
                kind: BYTE,
                count: label_bytes.len() as u64,
                payload: label_bytes.clone(),
            });
        }
        e
    };
    let directory_size = |entries: &[Entry]| -> u64 {
        let extra: u64 = entries
            .iter()
            .filter(|e| e.payload.len() > inline_len)
            .map(|e| (e.payload.len() as u64 + 1) & !1)
            .sum();
        count_len + entries.len() as u64 * entry_len + next_len + extra
    };
    let mut directory_offsets = Vec::with_capacity(pages);
    let mut cursor = header_len;
    for page in 0..pages {
        directory_offsets.push(cursor);
        cursor += directory_size(&build(page, 0));
    }
    let data_start = (cursor + 15) & !15;

    // Header.
    if big {
        out.write_all(b"II")?;
        out.write_all(&43u16.to_le_bytes())?;
        out.write_all(&8u16.to_le_bytes())?;
        out.write_all(&0u16.to_le_bytes())?;
        out.write_all(&directory_offsets[0].to_le_bytes())?;
    } else {
        out.write_all(b"II")?;
        out.write_all(&42u16.to_le_bytes())?;
        out.write_all(&(directory_offsets[0] as u32).to_le_bytes())?;
    }
    let mut written = header_len;
    for page in 0..pages {
        let entries = build(page, data_start + page as u64 * page_bytes);
        let start = directory_offsets[page];
        let mut extra_offset = start + count_len + entries.len() as u64 * entry_len + next_len;
        let mut directory = Vec::new();
        let mut extras = Vec::new();
        if big {
            directory.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        } else {
            directory.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        }
        for e in &entries {
            directory.extend_from_slice(&e.tag.to_le_bytes());
            directory.extend_from_slice(&e.kind.to_le_bytes());
            if big {
                directory.extend_from_slice(&e.count.to_le_bytes());
            } else {
                directory.extend_from_slice(&(e.count as u32).to_le_bytes());
            }
            if e.payload.len() <= inline_len {
                let mut field = e.payload.clone();
                field.resize(inline_len, 0);
                directory.extend_from_slice(&field);
            } else {
                if big {
                    directory.extend_from_slice(&extra_offset.to_le_bytes());
                } else {
                    directory.extend_from_slice(&(extra_offset as u32).to_le_bytes());
                }
                extras.extend_from_slice(&e.payload);
                if e.payload.len() % 2 == 1 {
                    extras.push(0);
                }
                extra_offset += (e.payload.len() as u64 + 1) & !1;
            }
        }
        let next = if page + 1 < pages {
            directory_offsets[page + 1]
        } else {
            0
        };
        if big {
            directory.extend_from_slice(&next.to_le_bytes());
        } else {
            directory.extend_from_slice(&(next as u32).to_le_bytes());
        }
        out.write_all(&directory)?;
        out.write_all(&extras)?;
        written += (directory.len() + extras.len()) as u64;
        debug_assert_eq!(written, start + directory_size(&entries));
    }
    out.write_all(&vec![0u8; (data_start - written) as usize])?;

    // Pixel data in (C, Z) page order, which is ImageJ's (Z, C) order transposed: page p holds
    // z = p / channels, c = p % channels.
    let plane = height * width;
    let mut bytes = Vec::with_capacity(plane * T::BITS as usize / 8);
    for page in 0..pages {
        let (z, c) = (page / channels, page % channels);
        let start = (c * slices + z) * plane;
        bytes.clear();
        T::extend_le(&image.data[start..start + plane], &mut bytes);
        out.write_all(&bytes)?;
    }
    Ok(())
}
