//! Classic segmentation of fluorescence volumes, after the Allen Cell & Structure Segmenter
//! (AllenCell/aics-segmentation), as Sun et al. (2022) used it to compare predicted and real
//! images: structure workflows ([`workflows`]), cell and nucleus instances ([`cells`]), objects
//! per cell ([`objects`]) and the image-wise Jaccard similarity of Figure 3 ([`jaccard`](mod@jaccard)).
//!
//! Volumes are single-channel (Z, Y, X) arrays in row-major order, as one channel of a
//! [`silico_imaging::Volume`]; masks are [`Mask`] and instance labels [`Labels`].

pub mod cells;
pub mod error;
pub mod filters;
pub mod jaccard;
pub mod label;
pub mod morphology;
pub mod normalize;
pub mod objects;
pub mod threshold;
pub mod volume;
pub mod watershed;
pub mod workflows;

pub use cells::{segment_cells, CellConfig, CellSegmentation};
pub use error::{Result, SegmentationError};
pub use jaccard::jaccard;
pub use objects::{objects_in_cells, CellObject};
pub use volume::{Labels, Mask};
pub use workflows::{segment, segment_objects, segment_volume, SegmentationConfig, WorkflowConfig};
