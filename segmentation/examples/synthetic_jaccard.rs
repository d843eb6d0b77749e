//! Segments synthetic fields (`silico synth`, generated in memory) with the default workflows
//! and compares them with the generator's ground truth: per-structure image-wise Jaccard, cells
//! recovered, and nucleoli per cell.
//!
//! ```text
//! cargo run --release -p silico-segmentation --example synthetic_jaccard -- [fields] [recipe]
//! ```
//! `fields` defaults to 3, `recipe` (a `Recipe::preset` name) to `default`.

use std::time::Instant;

use silico_imaging::synth::{generate_field, Recipe, Structure};
use silico_segmentation::jaccard::match_instances;
use silico_segmentation::objects::{count_per_cell, objects_in_cells};
use silico_segmentation::{
    jaccard, segment_cells, segment_objects, CellConfig, Labels, Mask, SegmentationConfig,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let fields: usize = args.next().map_or(Ok(3), |a| a.parse())?;
    let recipe = Recipe::preset(&args.next().unwrap_or_else(|| "default".into()))?;
    let config = SegmentationConfig::default();
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); Structure::ALL.len()];
    let mut nuclei_scores = Vec::new();
    let (mut complete, mut recovered) = (0usize, 0usize);
    let (mut counted, mut exact, mut within_one) = (0usize, 0usize, 0usize);
    let started = Instant::now();
    for index in 0..fields {
        let field = generate_field(&recipe, 2022, index);
        let (shape, voxel) = (field.shape, field.voxel_um);
        for (k, structure) in Structure::ALL.iter().enumerate() {
            let objects = segment_objects(
                structure.name(),
                &field.fluorescence[k],
                shape,
                voxel,
                &config,
            )?;
            let truth = Mask::from_u8(shape, &field.semantic[k])?;
            scores[k].push(jaccard(&objects.foreground(), &truth)?);
            if *structure == Structure::Dna {
                let nuclei = Labels::from_u16(shape, &field.nuclei)?;
                nuclei_scores.push(jaccard(&objects.foreground(), &nuclei.foreground())?);
            }
        }

        let channel = |s: Structure| field.fluorescence[s as usize].as_slice();
        let cells = segment_cells(
            channel(Structure::CellMembrane),
            channel(Structure::Dna),
            shape,
            voxel,
            &config,
            &CellConfig::default(),
        )?;
        let truth_cells = Labels::from_u16(shape, &field.cells)?;
        let matches = match_instances(&cells.cells, &truth_cells, 0.5)?;
        let complete_ids: Vec<u32> = (1..=field.cell_complete.len() as u32)
            .filter(|&id| field.cell_complete[id as usize - 1])
            .collect();
        complete += complete_ids.len();
        recovered += complete_ids
            .iter()
            .filter(|&&id| matches.iter().any(|m| m.right == id))
            .count();

        let nucleoli = segment_objects(
            "nucleoli",
            channel(Structure::Nucleoli),
            shape,
            voxel,
            &config,
        )?;
        let per_cell = count_per_cell(
            &objects_in_cells(&nucleoli, &cells.cells, voxel)?,
            &cells.cells,
        );
        for m in &matches {
            let truth = field
                .nucleolus_parent
                .iter()
                .filter(|&&p| u32::from(p) == m.right)
                .count();
            let found = per_cell[m.left as usize];
            counted += 1;
            exact += usize::from(found == truth);
            within_one += usize::from(found.abs_diff(truth) <= 1);
        }
        println!(
            "field {index}: {} cells kept, {} of {} complete cells matched (IoU > 0.5)",
            cells.count(),
            complete_ids
                .iter()
                .filter(|&&id| matches.iter().any(|m| m.right == id))
                .count(),
            complete_ids.len()
        );
    }

    println!(
        "\n{} field(s) of {:?} voxels at {:?} µm, {:.1} s\n",
        fields,
        recipe.shape,
        recipe.voxel_um,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<24} {:>8} {:>8} {:>8}",
        "structure", "mean", "min", "max"
    );
    let row = |name: &str, values: &[f64]| {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!("{name:<24} {mean:>8.3} {min:>8.3} {max:>8.3}");
    };
    for (k, structure) in Structure::ALL.iter().enumerate() {
        row(structure.name(), &scores[k]);
    }
    row("dna vs nuclei labels", &nuclei_scores);
    println!(
        "\ncells: {recovered} of {complete} complete ground-truth cells recovered (IoU > 0.5)"
    );
    println!("nucleoli per matched cell: {exact} of {counted} exact, {within_one} within ±1");
    Ok(())
}
