//! Generates a synthetic dataset and reports the time per field:
//! `cargo run --release -p silico-imaging --example synth -- OUT_DIR [FIELDS] [PRESET|RECIPE.toml] [SEED]`.

use std::path::Path;
use std::time::Instant;

use silico_imaging::synth::{generate, generate_field, Recipe, SynthOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .get(1)
        .ok_or("usage: synth OUT_DIR [FIELDS] [PRESET|RECIPE.toml] [SEED]")?;
    let fields: usize = args.get(2).map_or(Ok(2), |s| s.parse())?;
    let recipe = match args.get(3).map(String::as_str) {
        None => Recipe::default(),
        Some(p) if p.ends_with(".toml") => Recipe::from_file(Path::new(p))?,
        Some(name) => Recipe::preset(name)?,
    };
    let seed: u64 = args.get(4).map_or(Ok(1), |s| s.parse())?;
    let started = Instant::now();
    let _ = generate_field(&recipe, seed, 0);
    println!(
        "one {:?} field in memory on one thread: {:.2} s",
        recipe.shape,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let summary = generate(
        &recipe,
        Path::new(out),
        fields,
        seed,
        SynthOptions::default(),
    )?;
    println!(
        "{summary}\ntotal with files: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
