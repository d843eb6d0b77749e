//! Seeded watershed by priority flooding (scikit-image `segmentation.watershed`), and the
//! Segmenter's "split touching objects" step built on it (aicssegmentation
//! `core/utils.py::watershed_wrapper`, used by `seg_dsp.py`): markers at the peaks of the
//! distance transform (or of the intensity), flooded within the mask.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use crate::error::{check_len, check_same_shape, Result};
use crate::label::{label, Connectivity, Neighbourhood};
use crate::morphology::{distance_transform, h_maxima, Level};
use crate::volume::{Labels, Mask};

/// Floods `values` from `markers` (non-zero labels), lowest values first and, among equal
/// values, in the order voxels were reached, so each voxel joins the basin that reaches it
/// first. Only voxels in `mask` (all when `None`) are labelled. With `lines`, a voxel reached
/// by two basins stays 0, leaving one-voxel watershed lines between them (skimage
/// `watershed_line=True`).
pub fn watershed(
    values: &[f64],
    markers: &Labels,
    mask: Option<&Mask>,
    connectivity: Connectivity,
    lines: bool,
) -> Result<Labels> {
    let shape = markers.shape;
    check_len("watershed values", values.len(), shape)?;
    if let Some(mask) = mask {
        check_same_shape("watershed mask vs markers", mask.shape, shape)?;
    }
    let inside = |i: usize| mask.is_none_or(|m| m.data[i]);
    let neighbourhood = Neighbourhood::new(shape, connectivity);
    let n = values.len();
    let mut output = vec![0u32; n];
    let mut settled = vec![false; n];
    // (value, age) ascending; the age breaks ties first-in first-out.
    let mut heap = BinaryHeap::new();
    let mut age = 0u64;
    for (i, &l) in markers.data.iter().enumerate() {
        if l != 0 && inside(i) {
            heap.push(Reverse((Level(values[i]), age, i, l)));
            age += 1;
        }
    }
    while let Some(Reverse((_, _, i, l))) = heap.pop() {
        if settled[i] {
            continue;
        }
        settled[i] = true;
        if lines && markers.data[i] == 0 {
            let mut contested = false;
            neighbourhood.for_each(i, |j| {
                contested |= settled[j] && output[j] != 0 && output[j] != l;
            });
            if contested {
                continue;
            }
        }
        output[i] = l;
        neighbourhood.for_each(i, |j| {
            if !settled[j] && inside(j) {
                heap.push(Reverse((Level(values[j]), age, j, l)));
                age += 1;
            }
        });
    }
    Labels::new(shape, output)
}

/// What the markers of a split are the peaks of.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum SplitMarkers {
    /// Peaks of the distance to the background rising `h_um` µm above their surroundings:
    /// splits round objects joined by a neck narrower than themselves (nuclei, nucleoli).
    Distance { h_um: f64 },
    /// Peaks of the (smoothed, normalized) intensity rising `h` above their surroundings:
    /// splits spots that blur into each other without a neck (desmosomes).
    Intensity { h: f64 },
}

/// Splits the objects of `mask` into instances: one per marker of `markers`, flooded over the
/// negated distance transform (or intensity) inside the mask, with watershed lines between
/// touching instances. `intensity` is needed for [`SplitMarkers::Intensity`] only. Objects are
/// returned labelled 1..=n in raster order.
pub fn split_objects(
    mask: &Mask,
    intensity: &[f32],
    voxel_um: [f64; 3],
    markers: SplitMarkers,
) -> Result<Labels> {
    check_len("split intensity", intensity.len(), mask.shape)?;
    let (landscape, seeds) = match markers {
        SplitMarkers::Distance { h_um } => {
            let distance = distance_transform(mask, voxel_um);
            if distance.iter().any(|d| d.is_infinite()) {
                // No background to measure from: nothing to split.
                return Ok(label(mask, Connectivity::Faces));
            }
            let seeds = h_maxima(&distance, mask, h_um, Connectivity::Faces);
            (distance, seeds)
        }
        SplitMarkers::Intensity { h } => {
            let values: Vec<f64> = intensity.iter().map(|&v| v as f64).collect();
            let seeds = h_maxima(&values, mask, h, Connectivity::Faces);
            (values, seeds)
        }
    };
    let negated: Vec<f64> = landscape.iter().map(|v| -v).collect();
    let flooded = watershed(&negated, &seeds, Some(mask), Connectivity::Faces, true)?;
    // Renumber so instances come in raster order whatever the marker order was.
    Ok(label(&flooded.foreground(), Connectivity::Faces))
}
