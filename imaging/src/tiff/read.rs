//! Decoding every page of a TIFF into f32 planes and assembling them into a [`Volume`].

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use ::tiff::decoder::{Decoder, DecodingResult};
use ::tiff::tags::Tag;
use ::tiff::TiffError;

use super::metadata::{imagej_labels, interpret, FileLayout, RawFacts};
use crate::error::{ImagingError, Result};
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

fn decode_tiff<R: Read + Seek>(mut reader: R, path: &Path) -> Result<(Volume, TiffDescription)> {
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
    let mut decoder = Decoder::new(reader).map_err(|e| classify(path, "header", e))?;

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

    let mut planes: Vec<f32> = Vec::new();
    let mut page_shape: Option<[usize; 2]> = None;
    let mut samples_per_pixel = 0usize;
    let mut sample_type = String::new();
    let mut pages = 0usize;
    let mut buffer = DecodingResult::U8(Vec::new());
    loop {
        let page = pages;
        let reduced = decoder
            .find_tag_unsigned::<u32>(Tag::NewSubfileType)
            .ok()
            .flatten()
            .is_some_and(|t| t & 1 == 1);
        if !reduced {
            let what = || format!("page {page}");
            let (width, height) = decoder
                .dimensions()
                .map_err(|e| classify(path, &what(), e))?;
            let shape = [height as usize, width as usize];
            let spp = decoder
                .find_tag_unsigned::<u16>(Tag::SamplesPerPixel)
                .map_err(|e| classify(path, &what(), e))?
                .unwrap_or(1)
                .max(1) as usize;
            match page_shape {
                None => {
                    page_shape = Some(shape);
                    samples_per_pixel = spp;
                }
                Some(first) if first != shape || samples_per_pixel != spp => {
                    return Err(ImagingError::metadata(
                        path,
                        format!(
                            "page {page} is {}x{} with {spp} sample(s) but page 0 is {}x{} with {samples_per_pixel}; stacks must have equal pages",
                            shape[1], shape[0], first[1], first[0]
                        ),
                    ));
                }
                Some(_) => {}
            }
            let planar = decoder
                .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
                .ok()
                .flatten()
                .unwrap_or(1);
            decoder
                .read_image_to_buffer(&mut buffer)
                .map_err(|e| classify(path, &what(), e))?;
            let pixels = shape[0] * shape[1];
            let expected = pixels * spp;
            let (name, samples) = to_f32(&buffer);
            if samples.len() < expected {
                return Err(ImagingError::UnsupportedTiff {
                    path: path.to_path_buf(),
                    detail: format!(
                        "page {page} decoded to {} samples, expected {expected}",
                        samples.len()
                    ),
                });
            }
            sample_type = name.to_string();
            append_planes(&mut planes, &samples[..expected], pixels, spp, planar == 2);
            pages += 1;
        }
        if !decoder.more_images() {
            break;
        }
        decoder
            .next_image()
            .map_err(|e| classify(path, &format!("directory after page {page}"), e))?;
    }
    let page_shape = page_shape.ok_or_else(|| ImagingError::CorruptTiff {
        path: path.to_path_buf(),
        detail: "no full-resolution image in the file".into(),
    })?;
    let facts = RawFacts {
        path,
        description: description.as_deref(),
        pages,
        samples_per_pixel,
        resolution,
        resolution_unit,
        imagej_labels: labels,
    };
    let layout = interpret(&facts)?;
    let plane_len = page_shape[0] * page_shape[1];
    let is_identity = layout.plane_source.iter().enumerate().all(|(i, &s)| i == s);
    let data = if is_identity && layout.plane_source.len() * plane_len == planes.len() {
        planes
    } else {
        let mut data = Vec::with_capacity(layout.plane_source.len() * plane_len);
        for &source in &layout.plane_source {
            let start = source * plane_len;
            let plane = planes.get(start..start + plane_len).ok_or_else(|| {
                ImagingError::metadata(
                    path,
                    format!(
                        "metadata refers to plane {source}, beyond the file's {} planes",
                        planes.len() / plane_len
                    ),
                )
            })?;
            data.extend_from_slice(plane);
        }
        data
    };
    let volume = Volume {
        data,
        shape: [layout.channels, layout.slices, page_shape[0], page_shape[1]],
        voxel_um: layout.voxel_um,
        voxel_known: layout.voxel_known.iter().all(|&known| known),
        channel_names: layout.channel_names.clone(),
    };
    let description = TiffDescription {
        layout,
        bigtiff,
        sample_type,
        compression,
        pages,
        page_shape,
    };
    Ok((volume, description))
}

/// Appends a page's samples as `spp` separate planes (page-major, sample-minor).
fn append_planes(planes: &mut Vec<f32>, samples: &[f32], pixels: usize, spp: usize, planar: bool) {
    if spp == 1 || planar {
        planes.extend_from_slice(samples);
        return;
    }
    for s in 0..spp {
        planes.extend(samples.iter().skip(s).step_by(spp).take(pixels));
    }
}

fn to_f32(buffer: &DecodingResult) -> (&'static str, Vec<f32>) {
    match buffer {
        DecodingResult::U8(v) => ("uint8", v.iter().map(|&x| x as f32).collect()),
        DecodingResult::U16(v) => ("uint16", v.iter().map(|&x| x as f32).collect()),
        DecodingResult::U32(v) => ("uint32", v.iter().map(|&x| x as f32).collect()),
        DecodingResult::U64(v) => ("uint64", v.iter().map(|&x| x as f32).collect()),
        DecodingResult::I8(v) => ("int8", v.iter().map(|&x| x as f32).collect()),
        DecodingResult::I16(v) => ("int16", v.iter().map(|&x| x as f32).collect()),
        DecodingResult::I32(v) => ("int32", v.iter().map(|&x| x as f32).collect()),
        DecodingResult::I64(v) => ("int64", v.iter().map(|&x| x as f32).collect()),
        DecodingResult::F16(v) => ("float16", v.iter().map(|x| x.to_f32()).collect()),
        DecodingResult::F32(v) => ("float32", v.clone()),
        DecodingResult::F64(v) => ("float64", v.iter().map(|&x| x as f32).collect()),
    }
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
            detail: format!("{place}: a single page or tag exceeds the decoder's memory limits"),
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
