//! The in-memory image: a (C, Z, Y, X) f32 array with its voxel size in µm.
//!
//! This is the layout the whole project uses (DESIGN.md: "Images are (C, Z, Y, X) f32 with a
//! voxel size in µm"), stored as one flat row-major `Vec<f32>` so that it converts to a torch
//! tensor or a plugin's plain slice without copying or reshaping.

use crate::channel::ChannelSelector;
use crate::error::{ImagingError, Result};

/// A multi-channel 3D image.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Samples in row-major (C, Z, Y, X) order.
    pub data: Vec<f32>,
    /// (C, Z, Y, X).
    pub shape: [usize; 4],
    /// Voxel size in µm as (z, y, x).
    pub voxel_um: [f32; 3],
    /// False when the file said nothing of its voxel size: `voxel_um` is then a 1 µm stand-in
    /// that [`crate::dataset::VoxelSize::settle`] replaces (with a given size or a warning).
    pub voxel_known: bool,
    /// One name per channel; empty strings where the file had none.
    pub channel_names: Vec<String>,
}

/// Minimum, maximum, mean and standard deviation of the finite samples of a set, and how many
/// were not finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueRange {
    pub min: f32,
    pub max: f32,
    pub mean: f64,
    pub std: f64,
    /// Samples the range and moments were taken over.
    pub finite: usize,
    pub nan: usize,
    /// +inf and -inf together.
    pub inf: usize,
}

impl Volume {
    /// A volume of zeros with unnamed channels.
    pub fn zeros(shape: [usize; 4], voxel_um: [f32; 3]) -> Self {
        Volume {
            data: vec![0.0; shape.iter().product()],
            shape,
            voxel_um,
            voxel_known: true,
            channel_names: vec![String::new(); shape[0]],
        }
    }

    /// Wraps existing data; fails if its length does not match the shape.
    pub fn from_data(data: Vec<f32>, shape: [usize; 4], voxel_um: [f32; 3]) -> Result<Self> {
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(ImagingError::Invalid(format!(
                "volume data has {} samples but shape {:?} needs {expected}",
                data.len(),
                shape
            )));
        }
        Ok(Volume {
            data,
            shape,
            voxel_um,
            voxel_known: true,
            channel_names: vec![String::new(); shape[0]],
        })
    }

    /// Builds a one-channel volume from (Z, Y, X) data.
    pub fn single_channel(data: Vec<f32>, zyx: [usize; 3], voxel_um: [f32; 3]) -> Result<Self> {
        Self::from_data(data, [1, zyx[0], zyx[1], zyx[2]], voxel_um)
    }

    pub fn channels(&self) -> usize {
        self.shape[0]
    }

    /// (Z, Y, X) of one channel.
    pub fn spatial_shape(&self) -> [usize; 3] {
        [self.shape[1], self.shape[2], self.shape[3]]
    }

    /// Number of voxels in one channel.
    pub fn voxels_per_channel(&self) -> usize {
        self.shape[1] * self.shape[2] * self.shape[3]
    }

    /// Flat index of (c, z, y, x).
    #[inline]
    pub fn index(&self, c: usize, z: usize, y: usize, x: usize) -> usize {
        ((c * self.shape[1] + z) * self.shape[2] + y) * self.shape[3] + x
    }

    #[inline]
    pub fn get(&self, c: usize, z: usize, y: usize, x: usize) -> f32 {
        self.data[self.index(c, z, y, x)]
    }

    #[inline]
    pub fn set(&mut self, c: usize, z: usize, y: usize, x: usize, value: f32) {
        let i = self.index(c, z, y, x);
        self.data[i] = value;
    }

    /// The samples of one channel as a (Z, Y, X) slice.
    pub fn channel_data(&self, c: usize) -> &[f32] {
        let n = self.voxels_per_channel();
        &self.data[c * n..(c + 1) * n]
    }

    pub fn channel_data_mut(&mut self, c: usize) -> &mut [f32] {
        let n = self.voxels_per_channel();
        &mut self.data[c * n..(c + 1) * n]
    }

    /// A new one-channel volume holding channel `c`; fails with the channel count if out of range.
    pub fn extract_channel(&self, c: usize) -> Result<Volume> {
        if c >= self.channels() {
            return Err(ImagingError::Invalid(format!(
                "channel {c} requested but the image has {} channel(s) (indices 0..{})",
                self.channels(),
                self.channels().saturating_sub(1)
            )));
        }
        Ok(Volume {
            data: self.channel_data(c).to_vec(),
            shape: [1, self.shape[1], self.shape[2], self.shape[3]],
            voxel_um: self.voxel_um,
            voxel_known: self.voxel_known,
            channel_names: vec![self.channel_names.get(c).cloned().unwrap_or_default()],
        })
    }

    /// A new one-channel volume holding the channel `selector` names (by index or by one of
    /// [`Volume::channel_names`]); fails listing the channels there are.
    pub fn select_channel(&self, selector: &ChannelSelector) -> Result<Volume> {
        let c = selector
            .resolve(&self.channel_names)
            .map_err(ImagingError::Invalid)?;
        self.extract_channel(c)
    }

    /// Stacks one-channel (or multi-channel) volumes of equal spatial shape along C.
    pub fn stack_channels(parts: &[Volume]) -> Result<Volume> {
        let first = parts
            .first()
            .ok_or_else(|| ImagingError::Invalid("no channels to stack".into()))?;
        let spatial = first.spatial_shape();
        let mut out = Volume {
            data: Vec::new(),
            shape: [0, spatial[0], spatial[1], spatial[2]],
            voxel_um: first.voxel_um,
            voxel_known: first.voxel_known,
            channel_names: Vec::new(),
        };
        for part in parts {
            if part.spatial_shape() != spatial {
                return Err(ImagingError::Invalid(format!(
                    "cannot stack channels of shapes {:?} and {:?}",
                    spatial,
                    part.spatial_shape()
                )));
            }
            out.data.extend_from_slice(&part.data);
            out.shape[0] += part.channels();
            out.channel_names.extend(part.channel_names.iter().cloned());
        }
        Ok(out)
    }

    /// Range and moments over all channels.
    pub fn value_range(&self) -> ValueRange {
        value_range(&self.data)
    }

    /// Range and moments of channel `c`.
    pub fn channel_range(&self, c: usize) -> ValueRange {
        value_range(self.channel_data(c))
    }
}

/// Range and moments of the finite samples, counting NaN and ±inf apart; min, max and moments
/// are 0 where no sample is finite.
pub fn value_range(samples: &[f32]) -> ValueRange {
    let mut min = f32::INFINITY;
    let mut max = f32::NEG_INFINITY;
    let (mut sum, mut sum_sq, mut finite, mut nan) = (0.0f64, 0.0f64, 0usize, 0usize);
    for &v in samples {
        if !v.is_finite() {
            nan += usize::from(v.is_nan());
            continue;
        }
        min = min.min(v);
        max = max.max(v);
        sum += v as f64;
        sum_sq += (v as f64) * (v as f64);
        finite += 1;
    }
    let inf = samples.len() - finite - nan;
    if finite == 0 {
        return ValueRange {
            min: 0.0,
            max: 0.0,
            mean: 0.0,
            std: 0.0,
            finite,
            nan,
            inf,
        };
    }
    let mean = sum / finite as f64;
    let variance = (sum_sq / finite as f64 - mean * mean).max(0.0);
    ValueRange {
        min,
        max,
        mean,
        std: variance.sqrt(),
        finite,
        nan,
        inf,
    }
}

impl std::fmt::Display for ValueRange {
    /// "0 .. 119 (mean 59.5000, std 34.6386)", with "; 3 NaN, 1 inf ignored" where some samples
    /// are not finite, or "no finite value (64 NaN, 0 inf)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.finite == 0 {
            return write!(f, "no finite value ({} NaN, {} inf)", self.nan, self.inf);
        }
        write!(
            f,
            "{} .. {} (mean {:.4}, std {:.4}",
            self.min, self.max, self.mean, self.std
        )?;
        if self.nan + self.inf > 0 {
            write!(f, "; {} NaN, {} inf ignored", self.nan, self.inf)?;
        }
        f.write_str(")")
    }
}
