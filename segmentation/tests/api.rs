//! Behaviour of the public API on hand-made volumes: configs, errors, Jaccard, splitting,
//! border cells and objects per cell.

use silico_segmentation::filters::{edge_preserving_smooth, Diffusion};
use silico_segmentation::objects::objects_in_cells;
use silico_segmentation::watershed::{split_objects, SplitMarkers};
use silico_segmentation::workflows::{GlobalThreshold, Split, STRUCTURES};
use silico_segmentation::{
    jaccard, segment, CellSegmentation, Labels, Mask, SegmentationConfig, SegmentationError,
    WorkflowConfig,
};

fn ball(shape: [usize; 3], centre: [f64; 3], radius: f64) -> Vec<bool> {
    (0..shape.iter().product())
        .map(|i| {
            let p = [
                i / (shape[1] * shape[2]),
                (i / shape[2]) % shape[1],
                i % shape[2],
            ];
            (0..3)
                .map(|a| (p[a] as f64 - centre[a]).powi(2))
                .sum::<f64>()
                <= radius * radius
        })
        .collect()
}

#[test]
fn config_overrides_keep_the_structure_defaults() {
    let config = SegmentationConfig::from_toml(
        "[dna]\nsplit = { by = \"none\" }\n[golgi]\nthreshold = { method = \"triangle\", scale = 1.1 }\n",
        "test",
    )
    .unwrap();
    let dna = config.workflow("dna").unwrap();
    assert_eq!(dna.split, Split::None);
    let default_dna = WorkflowConfig::for_structure("dna").unwrap();
    assert_eq!(dna.fill_holes, default_dna.fill_holes);
    assert_eq!(dna.normalization, default_dna.normalization);
    assert_eq!(
        config.workflow("golgi").unwrap().threshold,
        GlobalThreshold::Triangle { scale: 1.1 }
    );
    assert_eq!(config.workflows.len(), STRUCTURES.len());
}

#[test]
fn config_typos_are_errors_that_name_them() {
    let unknown_key =
        SegmentationConfig::from_toml("[dna]\nsigma = 1.0\n", "cfg.toml").unwrap_err();
    assert!(unknown_key.to_string().contains("sigma"), "{unknown_key}");
    let unknown_structure = SegmentationConfig::from_toml("[nucleolus]\n", "cfg.toml").unwrap_err();
    assert!(unknown_structure.to_string().contains("nucleolus"));
    assert!(
        unknown_structure.to_string().contains("nucleoli"),
        "lists the known names"
    );
    let err = SegmentationConfig::default()
        .workflow("lysosomes")
        .unwrap_err();
    assert!(matches!(err, SegmentationError::UnknownStructure { .. }));
}

#[test]
fn shape_mismatches_name_both_shapes() {
    let a = Mask::empty([2, 3, 4]);
    let b = Mask::empty([2, 4, 3]);
    let message = jaccard(&a, &b).unwrap_err().to_string();
    assert!(
        message.contains("[2, 3, 4]") && message.contains("[2, 4, 3]"),
        "{message}"
    );
    let err = segment(
        "dna",
        &[0.0; 5],
        [1, 2, 3],
        [1.0; 3],
        &SegmentationConfig::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("needs 6"), "{err}");
}

#[test]
fn jaccard_of_two_empty_masks_is_one() {
    let empty = Mask::empty([2, 2, 2]);
    assert_eq!(jaccard(&empty, &empty).unwrap(), 1.0);
    let mut half = empty.clone();
    half.data[..4].iter_mut().for_each(|v| *v = true);
    let mut quarter = empty.clone();
    quarter.data[..2].iter_mut().for_each(|v| *v = true);
    assert_eq!(jaccard(&half, &quarter).unwrap(), 0.5);
}

#[test]
fn touching_balls_split_into_two_objects() {
    let shape = [16, 16, 28];
    let a = ball(shape, [8.0, 8.0, 8.0], 5.0);
    let b = ball(shape, [8.0, 8.0, 17.0], 5.0);
    let mask = Mask::new(shape, a.iter().zip(&b).map(|(x, y)| *x || *y).collect()).unwrap();
    let labels = split_objects(
        &mask,
        &vec![0.0; mask.data.len()],
        [1.0; 3],
        SplitMarkers::Distance { h_um: 1.0 },
    )
    .unwrap();
    assert_eq!(labels.max_label(), 2);
    // Each ball keeps nearly all of itself; the cut is a thin watershed line, which the
    // first-come order on the distance map's ties may push a voxel to either side.
    let sizes = labels.sizes();
    assert!(
        sizes[1] + sizes[2] + 60 >= mask.count(),
        "{sizes:?} of {}",
        mask.count()
    );
    assert!(
        sizes[1].abs_diff(sizes[2]) <= mask.count() / 20,
        "{sizes:?}"
    );
}

#[test]
fn edge_preserving_smoothing_flattens_noise_but_keeps_a_step() {
    let shape = [6, 12, 24];
    let noise: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|i| ((i * 7919) % 13) as f32 / 13.0 - 0.5)
        .collect();
    let image: Vec<f32> = noise
        .iter()
        .enumerate()
        .map(|(i, n)| 0.1 * n + if i % 24 >= 12 { 10.0 } else { 0.0 })
        .collect();
    let smoothed = edge_preserving_smooth(&image, shape, Diffusion::default());
    let spread = |v: &[f32], side: usize| {
        let values: Vec<f32> = v
            .iter()
            .enumerate()
            .filter(|(i, _)| (i % 24 >= 12) as usize == side)
            .map(|(_, &x)| x)
            .collect();
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        (
            mean,
            values.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / values.len() as f32,
        )
    };
    let (low_before, var_before) = spread(&image, 0);
    let (low_after, var_after) = spread(&smoothed, 0);
    let (high_after, _) = spread(&smoothed, 1);
    assert!(
        var_after < 0.5 * var_before,
        "noise reduced: {var_before} -> {var_after}"
    );
    assert!(
        (low_after - low_before).abs() < 0.05 && high_after - low_after > 9.8,
        "the step survives"
    );
}

#[test]
fn border_cells_go_with_their_nuclei_and_objects() {
    // Three cells side by side along x; the outer two touch the x border.
    let shape = [4, 6, 12];
    let cells: Vec<u32> = (0..shape.iter().product::<usize>())
        .map(|i| {
            let (y, x) = ((i / 12) % 6, i % 12);
            if y == 0 || y == 5 {
                0
            } else {
                1 + (x / 4) as u32
            }
        })
        .collect();
    let nuclei: Vec<u16> = (0..cells.len())
        .map(|i| {
            let (z, y, x) = (i / 72, (i / 12) % 6, i % 12);
            u16::from((1..3).contains(&z) && (2..4).contains(&y) && x % 4 == 1)
                * (1 + (x / 4) as u16)
        })
        .collect();
    let segmentation = CellSegmentation::from_labels(
        Labels::new(shape, cells).unwrap(),
        &Labels::from_u16(shape, &nuclei).unwrap(),
    )
    .unwrap();
    let inner = segmentation.without_border_cells();
    assert_eq!(
        inner.count(),
        1,
        "y = 0 and y = 5 are background, so only x-border cells go"
    );
    assert!(inner.nuclei.data.iter().all(|&n| n == 0 || n == 1));
    assert_eq!(inner.nuclei.foreground().count(), 4);

    // One object inside the middle cell, one mostly in a dropped border cell.
    let mut objects = vec![0u32; inner.cells.data.len()];
    for (i, o) in objects.iter_mut().enumerate() {
        let (z, y, x) = (i / 72, (i / 12) % 6, i % 12);
        if z == 1 && y == 3 && (5..7).contains(&x) {
            *o = 1;
        }
        if z == 2 && y == 2 && (2..5).contains(&x) {
            *o = 2;
        }
    }
    let found = objects_in_cells(
        &Labels::new(shape, objects).unwrap(),
        &inner.cells,
        [0.5, 0.25, 0.25],
    )
    .unwrap();
    assert_eq!(found.len(), 1);
    let object = &found[0];
    assert_eq!((object.label, object.cell, object.voxels), (1, 1, 2));
    assert_eq!(object.centroid_um, [0.75, 0.875, 1.5]);
    assert_eq!(object.bbox.min, [1, 3, 5]);
    assert_eq!(object.crop.shape, [1, 1, 2]);
}
