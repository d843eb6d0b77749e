//! Decoding every page of a TIFF into f32 planes (or integer label ids) in (C, Z, Y, X) order,
//! after checking from the directories alone that the whole file fits the memory budget.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use ::tiff::decoder::{Decoder, DecodingResult, Limits};
use ::tiff::tags::Tag;
use ::tiff::TiffError;

use super::metadata::{imagej_labels, interpret, FileLayout, RawFacts};
use crate::error::{ImagingError, Result};
use crate::limits::{check_fits, memory_budget};
use crate::volume::Volume;

/// What a file holds besides its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct TiffDescription {
    pub layout: FileLayout,
    pub bigtiff: bool,
    /// Sample type as stored, e.g. "uint16" or "float32".
    pub sample_type: String,
    pub compression: String,
    pub pages: usize,
    /// (Y, X) of every page.
    pub page_shape: [usize; 2],
}

/// Reads a TIFF as a (C, Z, Y, X) f32 volume.
pub fn read_volume(path: &Path) -> Result<Volume> {
    read_tiff(path).map(|(volume, _)| volume)
}

/// Reads a TIFF as a volume plus a description of how it was stored.
pub fn read_tiff(path: &Path) -> Result<(Volume, TiffDescription)> {
    let file = File::open(path).map_err(|e| ImagingError::io(path, "open", e))?;
    decode_tiff(BufReader::new(file), path)
}

/// Decodes TIFF bytes already in memory; `name` is used in error messages.
pub fn read_tiff_bytes(bytes: &[u8], name: &Path) -> Result<(Volume, TiffDescription)> {
    decode_tiff(Cursor::new(bytes), name)
}

fn decode_tiff<R: Read + Seek>(reader: R, path: &Path) -> Result<(Volume, TiffDescription)> {
    let (decoded, description) = decode_file::<R, f32>(reader, path)?;
    let volume = Volume {
        data: decoded.data,
        shape: decoded.shape,
        voxel_um: description.layout.voxel_um,
        voxel_known: description.layout.voxel_known.iter().all(|&known| known),
        channel_names: description.layout.channel_names.clone(),
    };
    Ok((volume, description))
}

/// A file's samples as `T`, in (C, Z, Y, X) order.
pub(crate) struct Decoded<T> {
    pub data: Vec<T>,
    pub shape: [usize; 4],
}

/// A sample type the reader decodes pages into.
pub(crate) trait Sample: Copy + Default {
    /// Replaces `out` with the page in `buffer`; an error says why the page's samples cannot
    /// be held as `Self` (e.g. floats read as labels).
    fn convert(buffer: &DecodingResult, out: &mut Vec<Self>) -> std::result::Result<(), String>;
}

impl Sample for f32 {
    fn convert(buffer: &DecodingResult, out: &mut Vec<f32>) -> std::result::Result<(), String> {
        out.clear();
        match buffer {
            DecodingResult::U8(v) => out.extend(v.iter().map(|&x| x as f32)),
            DecodingResult::U16(v) => out.extend(v.iter().map(|&x| x as f32)),
            DecodingResult::U32(v) => out.extend(v.iter().map(|&x| x as f32)),
            DecodingResult::U64(v) => out.extend(v.iter().map(|&x| x as f32)),
            DecodingResult::I8(v) => out.extend(v.iter().map(|&x| x as f32)),
            DecodingResult::I16(v) => out.extend(v.iter().map(|&x| x as f32)),
            DecodingResult::I32(v) => out.extend(v.iter().map(|&x| x as f32)),
            DecodingResult::I64(v) => out.extend(v.iter().map(|&x| x as f32)),
            DecodingResult::F16(v) => out.extend(v.iter().map(|x| x.to_f32())),
            DecodingResult::F32(v) => out.extend_from_slice(v),
            DecodingResult::F64(v) => out.extend(v.iter().map(|&x| x as f32)),
        }
        Ok(())
    }
}

impl Sample for u32 {
    /// Label ids: integers of any width whose values fit, never floats.
    fn convert(buffer: &DecodingResult, out: &mut Vec<u32>) -> std::result::Result<(), String> {
        fn ids<V: Copy + std::fmt::Display>(
            values: &[V],
            out: &mut Vec<u32>,
            id: impl Fn(V) -> Option<u32>,
        ) -> std::result::Result<(), String> {
            out.clear();
            out.reserve(values.len());
            for &v in values {
                out.push(id(v).ok_or_else(|| {
                    format!(
                        "holds the value {v}, which is not a label id (0 to {})",
                        u32::MAX
                    )
                })?);
            }
            Ok(())
        }
        match buffer {
            DecodingResult::U8(v) => ids(v, out, |x| Some(x.into())),
            DecodingResult::U16(v) => ids(v, out, |x| Some(x.into())),
            DecodingResult::U32(v) => {
                out.clear();
                out.extend_from_slice(v);
                Ok(())
            }
            DecodingResult::U64(v) => ids(v, out, |x| u32::try_from(x).ok()),
            DecodingResult::I8(v) => ids(v, out, |x| u32::try_from(x).ok()),
            DecodingResult::I16(v) => ids(v, out, |x| u32::try_from(x).ok()),
            DecodingResult::I32(v) => ids(v, out, |x| u32::try_from(x).ok()),
            DecodingResult::I64(v) => ids(v, out, |x| u32::try_from(x).ok()),
            DecodingResult::F16(_) | DecodingResult::F32(_) | DecodingResult::F64(_) => {
                Err(format!(
                    "holds {} samples, but labels are integer ids: save them as uint16 or uint32",
                    sample_type_name(buffer)
                ))
            }
        }
    }
}

fn sample_type_name(buffer: &DecodingResult) -> &'static str {
    match buffer {
        DecodingResult::U8(_) => "uint8",
        DecodingResult::U16(_) => "uint16",
        DecodingResult::U32(_) => "uint32",
        DecodingResult::U64(_) => "uint64",
        DecodingResult::I8(_) => "int8",
        DecodingResult::I16(_) => "int16",
        DecodingResult::I32(_) => "int32",
        DecodingResult::I64(_) => "int64",
        DecodingResult::F16(_) => "float16",
        DecodingResult::F32(_) => "float32",
        DecodingResult::F64(_) => "float64",
    }
}

/// What walking the directories found, before any pixel is decoded.
struct PageScan {
    /// The directory index of each full-resolution page (reduced-resolution ones are skipped).
    directories: Vec<usize>,
    /// (Y, X) of every page.
    page_shape: [usize; 2],
    samples_per_pixel: usize,
    planar: bool,
    /// Bytes one page decodes to, as the decoder holds it.
    page_bytes: u64,
    /// E.g. "16-bit unsigned integer".
    stored_as: String,
}

/// Reads a TIFF as `T` samples: first every directory (sizes only, refusing a file whose pages
/// decode to more than the memory budget or share their strips), then each page straight into
/// its place in the (C, Z, Y, X) result.
pub(crate) fn decode_file<R: Read + Seek, T: Sample>(
    mut reader: R,
    path: &Path,
) -> Result<(Decoded<T>, TiffDescription)> {
    let mut magic = [0u8; 4];
    reader
        .read_exact(&mut magic)
        .map_err(|_| ImagingError::CorruptTiff {
            path: path.to_path_buf(),
            detail: "shorter than a TIFF header".into(),
        })?;
    let bigtiff = matches!(magic, [b'I', b'I', 43, 0] | [b'M', b'M', 0, 43]);
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| ImagingError::io(path, "read", e))?;
    let budget = memory_budget()?;
    let budget_bytes = usize::try_from(budget.bytes).unwrap_or(usize::MAX);
    // A page or a compressed strip may be as large as the budget; the scan bounds the total.
    let limits = {
        let mut limits = Limits::default();
        limits.decoding_buffer_size = budget_bytes;
        limits.intermediate_buffer_size = budget_bytes;
        limits
    };
    let mut decoder = Decoder::new(reader)
        .map_err(|e| classify(path, "header", e))?
        .with_limits(limits);

    let description = find_ascii(&mut decoder, Tag::ImageDescription);
    let resolution = [
        find_f64(&mut decoder, Tag::XResolution),
        find_f64(&mut decoder, Tag::YResolution),
    ];
    let resolution_unit = decoder
        .find_tag_unsigned::<u16>(Tag::ResolutionUnit)
        .ok()
        .flatten()
        .unwrap_or(2);
    let labels = imagej_label_tag(&mut decoder);
    let compression = decoder
        .find_tag_unsigned::<u16>(Tag::Compression)
        .ok()
        .flatten()
        .map_or("none".to_string(), compression_name);

    let scan = scan_pages::<_, T>(&mut decoder, path, budget.bytes)?;
    let pages = scan.directories.len();
    let spp = scan.samples_per_pixel;
    let facts = RawFacts {
        path,
        description: description.as_deref(),
        pages,
        samples_per_pixel: spp,
        resolution,
        resolution_unit,
        imagej_labels: labels,
    };
    let layout = interpret(&facts)?;
    let [height, width] = scan.page_shape;
    let pixels = height * width;
    let decoded_planes = pages * spp;
    // Where each decoded plane goes in the result (a plane the layout does not use, none).
    let mut destinations: Vec<Vec<usize>> = vec![Vec::new(); decoded_planes];
    for (out_plane, &source) in layout.plane_source.iter().enumerate() {
        destinations
            .get_mut(source)
            .ok_or_else(|| {
                ImagingError::metadata(
                    path,
                    format!("metadata refers to plane {source}, beyond the file's {decoded_planes} planes"),
                )
            })?
            .push(out_plane);
    }
    let out_len = layout.plane_source.len() * pixels;
    let element = std::mem::size_of::<T>() as u64;
    // The result, one page as decoded and the same page converted are held at once.
    let needed = (out_len as u64 * element)
        .saturating_add(scan.page_bytes)
        .saturating_add(pixels as u64 * spp as u64 * element);
    check_fits(path, needed, || {
        format!(
            "{pages} page(s) of {width}x{height}, {spp} sample(s) of {} each",
            scan.stored_as
        )
    })?;

    let mut data = vec![T::default(); out_len];
    let mut buffer = DecodingResult::U8(Vec::new());
    let mut samples: Vec<T> = Vec::new();
    let mut sample_type = String::new();
    for (page, &directory) in scan.directories.iter().enumerate() {
        let planes = page * spp..(page + 1) * spp;
        if destinations[planes.clone()].iter().all(Vec::is_empty) {
            continue;
        }
        let what = || format!("page {page}");
        decoder
            .seek_to_image(directory)
            .map_err(|e| classify(path, &what(), e))?;
        decoder
            .read_image_to_buffer(&mut buffer)
            .map_err(|e| classify(path, &what(), e))?;
        sample_type = sample_type_name(&buffer).to_string();
        T::convert(&buffer, &mut samples).map_err(|detail| {
            ImagingError::Invalid(format!("{}: page {page} {detail}", path.display()))
        })?;
        let expected = pixels * spp;
        if samples.len() < expected {
            return Err(ImagingError::UnsupportedTiff {
                path: path.to_path_buf(),
                detail: format!(
                    "page {page} decoded to {} samples, expected {expected}",
                    samples.len()
                ),
            });
        }
        for (s, plane) in planes.enumerate() {
            for &out_plane in &destinations[plane] {
                let target = &mut data[out_plane * pixels..(out_plane + 1) * pixels];
                if spp == 1 || scan.planar {
                    target.copy_from_slice(&samples[s * pixels..(s + 1) * pixels]);
                } else {
                    for (t, &v) in target.iter_mut().zip(samples.iter().skip(s).step_by(spp)) {
                        *t = v;
                    }
                }
            }
        }
    }
    let shape = [layout.channels, layout.slices, height, width];
    let description = TiffDescription {
        layout,
        bigtiff,
        sample_type,
        compression,
        pages,
        page_shape: scan.page_shape,
    };
    Ok((Decoded { data, shape }, description))
}

/// Walks every directory, reading sizes only: refuses pages of unequal shape, a total above
/// `budget` bytes (as `T`) as soon as the pages so far exceed it, and pages that reuse another
/// page's strips (the mark of a decompression bomb: a few KB that inflate to one page each time
/// they are referenced).
fn scan_pages<R: Read + Seek, T: Sample>(
    decoder: &mut Decoder<R>,
    path: &Path,
    budget: u64,
) -> Result<PageScan> {
    let element = std::mem::size_of::<T>() as u64;
    let mut scan: Option<PageScan> = None;
    let mut directories = Vec::new();
    let mut total = 0u64;
    let mut strip_owner: HashMap<u64, usize> = HashMap::new();
    let mut directory = 0usize;
    loop {
        let page = directories.len();
        let reduced = decoder
            .find_tag_unsigned::<u32>(Tag::NewSubfileType)
            .ok()
            .flatten()
            .is_some_and(|t| t & 1 == 1);
        if !reduced {
            let what = || format!("page {page}");
            let fail = |e| classify(path, &what(), e);
            let (width, height) = decoder.dimensions().map_err(fail)?;
            let shape = [height as usize, width as usize];
            let spp = decoder
                .find_tag_unsigned::<u16>(Tag::SamplesPerPixel)
                .map_err(fail)?
                .unwrap_or(1)
                .max(1) as usize;
            match &scan {
                None => {
                    let bits = decoder
                        .find_tag_unsigned_vec::<u16>(Tag::BitsPerSample)
                        .map_err(fail)?
                        .and_then(|b| b.first().copied())
                        .unwrap_or(1);
                    let format = decoder
                        .find_tag_unsigned_vec::<u16>(Tag::SampleFormat)
                        .map_err(fail)?
                        .and_then(|f| f.first().copied())
                        .unwrap_or(1);
                    let bytes_per_sample = u64::from(bits.div_ceil(8).max(1));
                    let page_bytes = (height as u64)
                        .checked_mul(width as u64)
                        .and_then(|n| n.checked_mul(spp as u64))
                        .and_then(|n| n.checked_mul(bytes_per_sample))
                        .unwrap_or(u64::MAX);
                    let kind = match format {
                        2 => "signed integer",
                        3 => "float",
                        _ => "unsigned integer",
                    };
                    scan = Some(PageScan {
                        directories: Vec::new(),
                        page_shape: shape,
                        samples_per_pixel: spp,
                        planar: decoder
                            .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
                            .ok()
                            .flatten()
                            == Some(2),
                        page_bytes,
                        stored_as: format!("{bits}-bit {kind}"),
                    });
                }
                Some(first) if first.page_shape != shape || first.samples_per_pixel != spp => {
                    return Err(ImagingError::metadata(
                        path,
                        format!(
                            "page {page} is {}x{} with {spp} sample(s) but page 0 is {}x{} with {}; stacks must have equal pages",
                            shape[1], shape[0], first.page_shape[1], first.page_shape[0], first.samples_per_pixel
                        ),
                    ));
                }
                Some(_) => {}
            }
            let page_samples = (height as u64)
                .saturating_mul(width as u64)
                .saturating_mul(spp as u64);
            total = total.saturating_add(page_samples.saturating_mul(element));
            if total > budget {
                check_fits(path, total, || {
                    format!(
                        "its first {} page(s) of {width}x{height} with {spp} sample(s) alone",
                        page + 1
                    )
                })?;
            }
            for offset in strip_offsets(decoder).map_err(fail)? {
                if let Some(owner) = strip_owner.insert(offset, page) {
                    return Err(ImagingError::CorruptTiff {
                        path: path.to_path_buf(),
                        detail: format!(
                            "page {page} reuses the image data of page {owner} (offset {offset}); pages that share their strips decode to many times the file, as a decompression bomb does"
                        ),
                    });
                }
            }
            directories.push(directory);
        }
        if !decoder.more_images() {
            break;
        }
        decoder
            .next_image()
            .map_err(|e| classify(path, &format!("directory after page {page}"), e))?;
        directory += 1;
    }
    let mut scan = scan.ok_or_else(|| ImagingError::CorruptTiff {
        path: path.to_path_buf(),
        detail: "no full-resolution image in the file".into(),
    })?;
    scan.directories = directories;
    Ok(scan)
}

/// Where the current page's strips (or tiles) start, leaving out empty ones (offset or byte
/// count 0, as sparse writers leave them).
fn strip_offsets<R: Read + Seek>(decoder: &mut Decoder<R>) -> ::tiff::TiffResult<Vec<u64>> {
    let (offsets, counts) = match decoder.find_tag_unsigned_vec::<u64>(Tag::StripOffsets)? {
        Some(offsets) => (offsets, Tag::StripByteCounts),
        None => (
            decoder
                .find_tag_unsigned_vec::<u64>(Tag::TileOffsets)?
                .unwrap_or_default(),
            Tag::TileByteCounts,
        ),
    };
    let counts = decoder
        .find_tag_unsigned_vec::<u64>(counts)?
        .unwrap_or_default();
    Ok(offsets
        .into_iter()
        .zip(counts)
        .filter(|&(offset, count)| offset != 0 && count != 0)
        .map(|(offset, _)| offset)
        .collect())
}

/// Sorts decoder errors into "corrupt" (re-export the file) and "unsupported" (convert it).
fn classify(path: &Path, place: &str, error: TiffError) -> ImagingError {
    match error {
        TiffError::UnsupportedError(e) => ImagingError::UnsupportedTiff {
            path: path.to_path_buf(),
            detail: format!("{place}: {e}"),
        },
        TiffError::LimitsExceeded => ImagingError::UnsupportedTiff {
            path: path.to_path_buf(),
            detail: format!("{place}: a page, strip or tag exceeds the decoder's memory limits"),
        },
        other => ImagingError::CorruptTiff {
            path: path.to_path_buf(),
            detail: format!("{place}: {other}"),
        },
    }
}

fn find_ascii<R: std::io::Read + std::io::Seek>(d: &mut Decoder<R>, tag: Tag) -> Option<String> {
    d.find_tag(tag).ok()??.into_string().ok()
}

/// A numeric tag as f64; resolutions are RATIONAL, which the decoder does not convert itself.
fn find_f64<R: std::io::Read + std::io::Seek>(d: &mut Decoder<R>, tag: Tag) -> Option<f64> {
    use ::tiff::decoder::ifd::Value;
    match d.find_tag(tag).ok()?? {
        Value::Rational(n, den) => (den != 0).then(|| n as f64 / den as f64),
        Value::SRational(n, den) => (den != 0).then(|| n as f64 / den as f64),
        Value::Float(v) => Some(v as f64),
        Value::Double(v) => Some(v),
        other => other.into_u64().ok().map(|v| v as f64),
    }
}

fn imagej_label_tag<R: std::io::Read + std::io::Seek>(d: &mut Decoder<R>) -> Vec<String> {
    let counts = d
        .find_tag(Tag::Unknown(50838))
        .ok()
        .flatten()
        .and_then(|v| v.into_u32_vec().ok());
    let bytes = d
        .find_tag(Tag::Unknown(50839))
        .ok()
        .flatten()
        .and_then(|v| v.into_u8_vec().ok());
    match (counts, bytes) {
        (Some(c), Some(b)) => imagej_labels(&c, &b),
        _ => Vec::new(),
    }
}

fn compression_name(code: u16) -> String {
    match code {
        1 => "none".into(),
        5 => "LZW".into(),
        7 => "JPEG".into(),
        8 | 32946 => "deflate".into(),
        32773 => "PackBits".into(),
        50000 => "zstd".into(),
        other => format!("code {other}"),
    }
}
