//! Binary masks and instance label volumes on a (Z, Y, X) grid, row-major like
//! [`silico_imaging::Volume`] channels.

use crate::error::{check_len, Result};

/// Index arithmetic of a (Z, Y, X) grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub shape: [usize; 3],
}

impl Grid {
    pub fn new(shape: [usize; 3]) -> Self {
        Grid { shape }
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn index(&self, z: usize, y: usize, x: usize) -> usize {
        (z * self.shape[1] + y) * self.shape[2] + x
    }

    #[inline]
    pub fn coords(&self, i: usize) -> [usize; 3] {
        let x = i % self.shape[2];
        let y = (i / self.shape[2]) % self.shape[1];
        [i / (self.shape[1] * self.shape[2]), y, x]
    }

    /// Distance in voxels between neighbouring samples along each axis.
    pub fn strides(&self) -> [usize; 3] {
        [self.shape[1] * self.shape[2], self.shape[2], 1]
    }
}

/// A binary (Z, Y, X) mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    pub shape: [usize; 3],
    pub data: Vec<bool>,
}

impl Mask {
    pub fn new(shape: [usize; 3], data: Vec<bool>) -> Result<Self> {
        check_len("mask", data.len(), shape)?;
        Ok(Mask { shape, data })
    }

    pub fn empty(shape: [usize; 3]) -> Self {
        Mask {
            shape,
            data: vec![false; shape.iter().product()],
        }
    }

    /// From a 0/non-zero byte mask such as the synthetic `masks/<structure>.tif`.
    pub fn from_u8(shape: [usize; 3], data: &[u8]) -> Result<Self> {
        Self::new(shape, data.iter().map(|&v| v != 0).collect())
    }

    /// Voxels above `threshold`.
    pub fn from_threshold(shape: [usize; 3], image: &[f32], threshold: f64) -> Result<Self> {
        Self::new(
            shape,
            image.iter().map(|&v| f64::from(v) > threshold).collect(),
        )
    }

    pub fn count(&self) -> usize {
        self.data.iter().filter(|&&v| v).count()
    }

    /// 0/1 bytes, the layout `silico_imaging::tiff::write_mask_u8` takes.
    pub fn to_u8(&self) -> Vec<u8> {
        self.data.iter().map(|&v| u8::from(v)).collect()
    }
}

/// Instance labels: 0 is background, 1.. are objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub shape: [usize; 3],
    pub data: Vec<u32>,
}

impl Labels {
    pub fn new(shape: [usize; 3], data: Vec<u32>) -> Result<Self> {
        check_len("label volume", data.len(), shape)?;
        Ok(Labels { shape, data })
    }

    /// User-supplied labels, e.g. the synthetic `labels/<object>.tif` or Segmenter Model Zoo
    /// output.
    pub fn from_u16(shape: [usize; 3], data: &[u16]) -> Result<Self> {
        Self::new(shape, data.iter().map(|&v| u32::from(v)).collect())
    }

    pub fn max_label(&self) -> u32 {
        self.data.iter().copied().max().unwrap_or(0)
    }

    /// Voxel count per label, indexed by label (entry 0 is the background).
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0usize; self.max_label() as usize + 1];
        for &l in &self.data {
            sizes[l as usize] += 1;
        }
        sizes
    }

    /// Labels present, ascending, without the background.
    pub fn ids(&self) -> Vec<u32> {
        self.sizes()
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, &n)| n > 0)
            .map(|(l, _)| l as u32)
            .collect()
    }

    pub fn foreground(&self) -> Mask {
        Mask {
            shape: self.shape,
            data: self.data.iter().map(|&l| l != 0).collect(),
        }
    }

    /// u16 labels for `silico_imaging::tiff::write_labels_u16`; `None` past 65535 objects.
    pub fn to_u16(&self) -> Option<Vec<u16>> {
        self.data.iter().map(|&l| u16::try_from(l).ok()).collect()
    }
}
