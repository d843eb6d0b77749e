//! Label images (instance ids: cells, nuclei, objects) read as integers end to end.
//!
//! Every other image goes through f32, which holds integers exactly only up to 2^24: ids above
//! that would merge (16777217 reads as 16777216). Labels are read from integer TIFFs (8 to 64
//! bit, signed or not) or integer OME-Zarr arrays as u32; a float file or an id outside 0 to
//! `u32::MAX` is refused in one line rather than rounded.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::error::{ImagingError, Result};
use crate::image::is_zarr;
use crate::tiff::decode_file;
use crate::zarr::OmeZarrImage;

/// The largest id an f32 holds exactly, together with every integer below it.
const F32_EXACT_INTEGERS: u32 = 1 << 24;

/// A one-channel (Z, Y, X) label image: 0 is background, every other value one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// Ids in row-major (Z, Y, X) order.
    pub data: Vec<u32>,
    /// (Z, Y, X).
    pub shape: [usize; 3],
    /// Voxel size in µm as (z, y, x); a 1 µm stand-in where `voxel_known` is false.
    pub voxel_um: [f32; 3],
    pub voxel_known: bool,
}

/// Reads the label image at `path`: a TIFF, or level 0 of an OME-Zarr image (e.g. the group
/// `image.ome.zarr/labels/cells`). It must hold one channel of integer ids.
pub fn read_labels(path: &Path) -> Result<Labels> {
    let (data, shape, voxel_um, voxel_known) = if is_zarr(path) {
        let image = OmeZarrImage::open(path)?;
        let [channels, z, y, x] = image.shape();
        one_channel(path, channels)?;
        (
            image.read_labels(0)?,
            [z, y, x],
            image.voxel_um().unwrap_or([1.0; 3]),
            image.voxel_um().is_some(),
        )
    } else {
        let file = File::open(path).map_err(|e| ImagingError::io(path, "open", e))?;
        let (decoded, description) = decode_file::<_, u32>(BufReader::new(file), path)?;
        let [channels, z, y, x] = decoded.shape;
        one_channel(path, channels)?;
        let layout = description.layout;
        (
            decoded.data,
            [z, y, x],
            layout.voxel_um,
            layout.voxel_known.iter().all(|&known| known),
        )
    };
    Ok(Labels {
        data,
        shape,
        voxel_um,
        voxel_known,
    })
}

fn one_channel(path: &Path, channels: usize) -> Result<()> {
    if channels == 1 {
        return Ok(());
    }
    Err(ImagingError::Invalid(format!(
        "{}: has {channels} channels; a label image holds one channel of ids",
        path.display()
    )))
}

impl Labels {
    /// The distinct non-zero ids, ascending.
    pub fn ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = Vec::new();
        let mut last = 0;
        for &id in &self.data {
            // Consecutive voxels mostly share an id; skip the repeats before sorting.
            if id != 0 && id != last {
                ids.push(id);
                last = id;
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The same objects numbered 1..=n in the order of their ids (0 stays background), and n.
    pub fn relabelled(&self) -> (Vec<u32>, usize) {
        let ids = self.ids();
        let mut last = (0, 0);
        let data = self
            .data
            .iter()
            .map(|&id| {
                if id == 0 {
                    return 0;
                }
                if id != last.0 {
                    // `ids` holds every non-zero id of the image.
                    let dense = ids.binary_search(&id).unwrap_or_default() as u32 + 1;
                    last = (id, dense);
                }
                last.1
            })
            .collect();
        (data, ids.len())
    }

    /// The labels as f32 for an interface that only takes floats: numbered 1..=n by id first
    /// (exact, whatever the ids), refused past 2^24 objects, which f32 cannot keep apart.
    pub fn to_dense_f32(&self, path: &Path) -> Result<Vec<f32>> {
        let (data, objects) = self.relabelled();
        if objects > F32_EXACT_INTEGERS as usize {
            return Err(ImagingError::Invalid(format!(
                "{}: has {objects} objects; at most {F32_EXACT_INTEGERS} can be passed on as f32 ids",
                path.display()
            )));
        }
        Ok(data.into_iter().map(|id| id as f32).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(data: Vec<u32>) -> Labels {
        Labels {
            shape: [1, 1, data.len()],
            data,
            voxel_um: [1.0; 3],
            voxel_known: true,
        }
    }

    #[test]
    fn ids_above_two_to_the_24_stay_apart() {
        let big = 1 << 24;
        let image = labels(vec![0, big + 1, big + 1, big + 2, 0, u32::MAX, big + 2, 7]);
        assert_eq!(image.ids(), vec![7, big + 1, big + 2, u32::MAX]);
        let (dense, n) = image.relabelled();
        assert_eq!(n, 4);
        assert_eq!(dense, vec![0, 2, 2, 3, 0, 4, 3, 1]);
        let floats = image.to_dense_f32(Path::new("l.tif")).unwrap();
        assert_eq!(floats, vec![0.0, 2.0, 2.0, 3.0, 0.0, 4.0, 3.0, 1.0]);
        // Straight through f32 the two large ids would have been one.
        assert_eq!((big + 1) as f32, (big) as f32);
    }

    #[test]
    fn background_only_has_no_objects() {
        let image = labels(vec![0; 5]);
        assert!(image.ids().is_empty());
        assert_eq!(image.relabelled(), (vec![0; 5], 0));
    }
}
