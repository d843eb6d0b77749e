//! `silico bench`: benchmarks of plugin combinations. A [`plan::Plan`] names models,
//! structures and seeds on one dataset; each (model, structure, seed) is a cell, an ordinary
//! run folder under `OUT/cells/<model>/<structure>/seed<k>/` that is trained, predicts its test
//! images and is evaluated ([`cell`]); then each model's cross-structure exclusivity, and the
//! results and the report over everything finished ([`results`]). Cells are independent: the
//! local executor runs them as child processes, several at once, and the Slurm executor as one
//! job array. [`speed`] times a training step, as `scripts/bench` compares with PyTorch.
//!
//! ```text
//! OUT/plan.toml                          the plan as last run
//! OUT/cells/<model>/<structure>/seed<k>/ cell.json (its definition), run/ (silico train),
//!                                        predictions/, jaccard/, objects/, result.json or
//!                                        failure.txt, log.txt
//! OUT/models/<model>/seed<k>/exclusivity/
//! OUT/results.csv, results.json, report.html
//! ```

pub mod cell;
pub mod html;
pub mod local;
pub mod plan;
pub mod results;
pub mod runner;
pub mod slurm;
pub mod speed;
pub mod summary;

pub use plan::{Cell, Plan};
pub use results::BenchResults;
