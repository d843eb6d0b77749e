//! The default workflows on synthetic fields (`silico_imaging::synth`, generated in memory)
//! against the generator's ground truth. Thresholds are what the defaults reach on these seeds
//! with some margin (see `examples/synthetic_jaccard.rs` for the full table).

use silico_imaging::synth::{generate_field, Field, Recipe, Structure};
use silico_segmentation::jaccard::match_instances;
use silico_segmentation::objects::{count_per_cell, objects_in_cells};
use silico_segmentation::{
    jaccard, segment, segment_cells, segment_objects, CellConfig, Labels, Mask, SegmentationConfig,
};

fn fields(count: usize) -> Vec<Field> {
    (0..count)
        .map(|i| generate_field(&Recipe::default(), 2022, i))
        .collect()
}

fn channel(field: &Field, s: Structure) -> &[f32] {
    &field.fluorescence[s as usize]
}

#[test]
fn nucleoli_golgi_and_nuclei_overlap_the_ground_truth() {
    let config = SegmentationConfig::default();
    for field in fields(2) {
        let (shape, voxel) = (field.shape, field.voxel_um);
        for (structure, floor) in [(Structure::Nucleoli, 0.8), (Structure::Golgi, 0.72)] {
            let mask = segment(
                structure.name(),
                channel(&field, structure),
                shape,
                voxel,
                &config,
            )
            .unwrap();
            let truth = Mask::from_u8(shape, &field.semantic[structure as usize]).unwrap();
            let score = jaccard(&mask, &truth).unwrap();
            assert!(
                score >= floor,
                "{}: Jaccard {score:.3} < {floor}",
                structure.name()
            );
        }
        let dna = segment(
            "dna",
            channel(&field, Structure::Dna),
            shape,
            voxel,
            &config,
        )
        .unwrap();
        let nuclei = Labels::from_u16(shape, &field.nuclei).unwrap().foreground();
        let score = jaccard(&dna, &nuclei).unwrap();
        assert!(score >= 0.82, "nuclei: Jaccard {score:.3} < 0.82");
    }
}

#[test]
fn cells_and_their_nucleoli_are_recovered() {
    let config = SegmentationConfig::default();
    let (mut complete, mut recovered, mut matched, mut exact) = (0, 0, 0, 0);
    for field in fields(4) {
        let (shape, voxel) = (field.shape, field.voxel_um);
        let cells = segment_cells(
            channel(&field, Structure::CellMembrane),
            channel(&field, Structure::Dna),
            shape,
            voxel,
            &config,
            &CellConfig::default(),
        )
        .unwrap();
        // Every kept cell is away from the x/y border, and every nucleus sits in its cell.
        let [_, ny, nx] = shape;
        for (i, &c) in cells.cells.data.iter().enumerate() {
            let (y, x) = ((i / nx) % ny, i % nx);
            assert!(c == 0 || (y > 0 && x > 0 && y + 1 < ny && x + 1 < nx));
            let n = cells.nuclei.data[i];
            assert!(n == 0 || n == c, "nucleus {n} outside its cell ({c})");
        }

        let truth = Labels::from_u16(shape, &field.cells).unwrap();
        let matches = match_instances(&cells.cells, &truth, 0.5).unwrap();
        for id in 1..=field.cell_complete.len() as u32 {
            if field.cell_complete[id as usize - 1] {
                complete += 1;
                recovered += usize::from(matches.iter().any(|m| m.right == id));
            }
        }

        let nucleoli = segment_objects(
            "nucleoli",
            channel(&field, Structure::Nucleoli),
            shape,
            voxel,
            &config,
        )
        .unwrap();
        let objects = objects_in_cells(&nucleoli, &cells.cells, voxel).unwrap();
        for object in &objects {
            assert_eq!(object.crop.count(), object.voxels);
            assert_eq!(object.crop.shape, object.bbox.shape());
        }
        let per_cell = count_per_cell(&objects, &cells.cells);
        for m in &matches {
            let expected = field
                .nucleolus_parent
                .iter()
                .filter(|&&p| u32::from(p) == m.right)
                .count();
            let found = per_cell[m.left as usize];
            matched += 1;
            exact += usize::from(found == expected);
            assert!(
                found.abs_diff(expected) <= 1,
                "cell {}: {found} nucleoli, truth {expected}",
                m.right
            );
        }
    }
    assert!(complete >= 8, "the seeds give {complete} complete cells");
    assert_eq!(
        recovered, complete,
        "complete cells recovered with IoU > 0.5"
    );
    assert!(
        4 * exact >= 3 * matched,
        "nucleoli counts exact in {exact} of {matched} cells"
    );
}
