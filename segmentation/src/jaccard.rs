//! Image-wise Jaccard similarity of two segmentations, the measure of Sun et al. (2022),
//! Figure 3 (segmented prediction vs segmented real image).

use std::collections::HashMap;

use crate::error::{check_same_shape, Result};
use crate::volume::{Labels, Mask};

/// |A ∩ B| and |A ∪ B| in voxels.
pub fn overlap(a: &Mask, b: &Mask) -> Result<(usize, usize)> {
    check_same_shape("jaccard", a.shape, b.shape)?;
    let (mut intersection, mut union) = (0usize, 0usize);
    for (&x, &y) in a.data.iter().zip(&b.data) {
        intersection += usize::from(x && y);
        union += usize::from(x || y);
    }
    Ok((intersection, union))
}

/// |A ∩ B| / |A ∪ B|. Two empty masks agree completely, so their similarity is 1.0 (a model
/// that rightly predicts no desmosomes in a field without any is not penalized); use
/// [`overlap`] to skip such images instead.
pub fn jaccard(a: &Mask, b: &Mask) -> Result<f64> {
    let (intersection, union) = overlap(a, b)?;
    Ok(if union == 0 {
        1.0
    } else {
        intersection as f64 / union as f64
    })
}

/// A pair of instances from two label volumes and their IoU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstanceMatch {
    pub left: u32,
    pub right: u32,
    pub iou: f64,
}

/// Pairs instances of `left` and `right` whose IoU exceeds `min_iou`, best first. With
/// `min_iou` ≥ 0.5 every instance is in at most one pair (two objects cannot both overlap one
/// object by more than half of their union).
pub fn match_instances(left: &Labels, right: &Labels, min_iou: f64) -> Result<Vec<InstanceMatch>> {
    check_same_shape("instance matching", left.shape, right.shape)?;
    let (left_sizes, right_sizes) = (left.sizes(), right.sizes());
    let mut overlaps: HashMap<(u32, u32), usize> = HashMap::new();
    for (&l, &r) in left.data.iter().zip(&right.data) {
        if l != 0 && r != 0 {
            *overlaps.entry((l, r)).or_default() += 1;
        }
    }
    let mut matches: Vec<InstanceMatch> = overlaps
        .into_iter()
        .map(|((l, r), n)| InstanceMatch {
            left: l,
            right: r,
            iou: n as f64 / (left_sizes[l as usize] + right_sizes[r as usize] - n) as f64,
        })
        .filter(|m| m.iou > min_iou)
        .collect();
    matches.sort_by(|a, b| b.iou.total_cmp(&a.iou).then(a.left.cmp(&b.left)));
    Ok(matches)
}
