//! Plain f32 volumes for metric plugins that need no torch.

use crate::PluginError;
use abi_stable::{std_types::RVec, StableAbi};

/// A (C, Z, Y, X) f32 image with its voxel size in µm (z, y, x), stored row-major.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Volume {
    shape: [u64; 4],
    voxel_um: [f32; 3],
    data: RVec<f32>,
}

impl Volume {
    /// Checks that `data` holds exactly `C·Z·Y·X` values.
    pub fn new(shape: [usize; 4], voxel_um: [f32; 3], data: Vec<f32>) -> Result<Self, PluginError> {
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(PluginError::new(format!(
                "volume of shape {shape:?} needs {expected} values, got {}",
                data.len()
            )));
        }
        Ok(Self {
            shape: shape.map(|n| n as u64),
            voxel_um,
            data: data.into(),
        })
    }

    /// (C, Z, Y, X).
    pub fn shape(&self) -> [usize; 4] {
        self.shape.map(|n| n as usize)
    }

    /// Voxel size in µm along (z, y, x).
    pub fn voxel_um(&self) -> [f32; 3] {
        self.voxel_um
    }

    pub fn data(&self) -> &[f32] {
        &self.data
    }

    pub fn into_data(self) -> Vec<f32> {
        self.data.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_length() {
        let err = Volume::new([1, 2, 2, 2], [1.0; 3], vec![0.0; 7]).unwrap_err();
        assert_eq!(
            err.message(),
            "volume of shape [1, 2, 2, 2] needs 8 values, got 7"
        );
    }
}
