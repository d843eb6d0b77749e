//! The benchmark's HTML report on a small fabricated benchmark (2 models × 2 structures × 2
//! seeds, 6 test images, Jaccard and objects, one failed cell; nothing is trained): its structure
//! in Rust, then the page in headless Chromium (Debian's `chromium`; `scripts/install-chromium`
//! installs it), which must render it with no console message and keeps a screenshot in
//! `target/test-output/bench_report/report.png`.

use silico::bench::{
    html::{write_report, Versions},
    results::{BenchResults, CellResult, Costs, ImageScores, ModelExclusivity},
    Plan,
};
use silico::Registry;
use std::{
    collections::BTreeMap,
    fs::File,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

const CHROMIUM: &str = "/usr/bin/chromium";

const PLAN: &str = r#"# compare "wide" & "deep" nets: is <deep> better?
data = "data"
structures = ["dna", "nucleoli"]
seeds = [0, 1]
overrides = { iterations = 50 }

[models.deep]
generator = { component = "unet3d", depth = 3 }
losses = [{ component = "mse" }]

[models.wide]
generator = { component = "unet3d", depth = 2, mult_chan = 16 }
losses = [{ component = "mse" }, { component = "l1", weight = 0.5 }]

[evaluate]
jaccard = true
objects = ["nucleoli"]
"#;

const FAILURE: &str = "training stopped at iteration 3: loss `mse` is NaN at iteration 3";
const IMAGES: usize = 6;

/// Pearson r of each test image: on dna `deep` beats `wide` on every image; on nucleoli `wide`
/// (one finished seed) is better on average but not on every image.
fn pearson_r(model: &str, structure: &str, seed: u64, image: usize) -> f64 {
    let deep = |base: f64| base + 0.02 * image as f64 + 0.002 * seed as f64;
    match (model, structure) {
        ("deep", "dna") => deep(0.80),
        ("wide", "dna") => deep(0.80) - 0.08 - 0.005 * image as f64,
        ("deep", "nucleoli") => deep(0.60),
        _ => deep(0.601) + [0.03, -0.01, 0.02, -0.015, 0.025, -0.02][image],
    }
}

fn cell(model: &str, structure: &str, seed: u64) -> CellResult {
    let images: Vec<ImageScores> = (0..IMAGES)
        .map(|i| {
            let r = pearson_r(model, structure, seed, i);
            ImageScores {
                image: format!("field_{i:03}"),
                pearson_r: r,
                mse: 2.0 * (1.0 - r),
                ssim: r - 0.1,
                psnr: 20.0 + 10.0 * r,
                jaccard: Some(r - 0.25),
                noise_ceiling: None,
                r_over_noise_ceiling: None,
            }
        })
        .collect();
    let mean = |f: fn(&ImageScores) -> f64| images.iter().map(f).sum::<f64>() / IMAGES as f64;
    let mut metrics = BTreeMap::from([
        ("pearson_r".to_string(), mean(|s| s.pearson_r)),
        ("mse".to_string(), mean(|s| s.mse)),
        ("ssim".to_string(), mean(|s| s.ssim)),
        ("psnr".to_string(), mean(|s| s.psnr)),
        ("jaccard".to_string(), mean(|s| s.jaccard.unwrap())),
    ]);
    if structure == "nucleoli" {
        let (shape, spatial) = if model == "deep" {
            (0.3, 0.12)
        } else {
            (0.55, 0.2)
        };
        metrics.insert("shape_divergence".into(), shape + 0.04 * seed as f64);
        metrics.insert("spatial_kl".into(), spatial + 0.01 * seed as f64);
    }
    let mut parameters = BTreeMap::from([(
        "generator".to_string(),
        if model == "deep" { 1_234_567 } else { 567_890 },
    )]);
    if model == "wide" {
        parameters.insert("discriminator".into(), 2_765_000);
    }
    CellResult {
        model: model.into(),
        structure: structure.into(),
        seed,
        images,
        metrics,
        costs: Costs {
            seconds_per_iteration: 0.05 + 0.01 * seed as f64,
            wall_seconds: 95.0 + 10.0 * seed as f64,
            peak_memory_bytes: (800 + 20 * seed) << 20,
            parameters,
            device: "cpu".into(),
        },
    }
}

fn results() -> BenchResults {
    let mut results = BenchResults::default();
    for model in ["deep", "wide"] {
        for structure in ["dna", "nucleoli"] {
            for seed in [0, 1] {
                if (model, structure, seed) == ("wide", "nucleoli", 1) {
                    results
                        .failed
                        .insert("wide/nucleoli/seed1".into(), FAILURE.into());
                } else {
                    results.cells.push(cell(model, structure, seed));
                }
            }
        }
    }
    // Exclusivity needs all of a seed's structures: wide has only seed 0.
    for (model, seed, overall, dna, nucleoli) in [
        ("deep", 0, 0.62, 0.71, 0.55),
        ("deep", 1, 0.64, 0.73, 0.56),
        ("wide", 0, 0.58, 0.66, 0.5),
    ] {
        results.exclusivity.push(ModelExclusivity {
            model: model.into(),
            seed,
            overall,
            organelle: BTreeMap::from([("dna".into(), dna), ("nucleoli".into(), nucleoli)]),
        });
    }
    results
}

/// The training log of a cell as `silico train` writes it.
fn write_losses(out: &Path, model: &str, structure: &str, seed: u64) {
    let dir = out
        .join("cells")
        .join(model)
        .join(structure)
        .join(format!("seed{seed}"))
        .join("run");
    std::fs::create_dir_all(&dir).unwrap();
    let mut writer = csv::Writer::from_path(dir.join("losses.csv")).unwrap();
    let terms: &[&str] = if model == "deep" {
        &["mse"]
    } else {
        &["mse", "l1"]
    };
    let header: Vec<&str> = std::iter::once("iteration")
        .chain(terms.iter().copied())
        .chain(["seconds"])
        .collect();
    writer.write_record(&header).unwrap();
    for i in 1..=50u64 {
        let decay = (-(i as f64) / (12.0 + 3.0 * seed as f64)).exp();
        let mut row = vec![i.to_string()];
        for (t, _) in terms.iter().enumerate() {
            row.push((0.15 + (1.2 - 0.4 * t as f64) * decay).to_string());
        }
        row.push(format!("{:.3}", 0.05 * i as f64));
        writer.write_record(&row).unwrap();
    }
    writer.flush().unwrap();
}

/// The test's output folder, kept after the test: the fabricated benchmark, its report and the
/// screenshot.
fn output_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-output")
        .join("bench_report")
}

/// Writes the fabricated benchmark's report once; returns its folder.
fn report() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let out = output_dir();
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(out.join("data")).unwrap();
        for structure in ["dna", "nucleoli"] {
            std::fs::write(
                out.join("data").join(format!("{structure}.csv")),
                "path_signal,path_target,split\n",
            )
            .unwrap();
        }
        std::fs::write(out.join("plan.toml"), PLAN).unwrap();
        let registry = Registry::parse("[plugins]\n", &out.join("registry.toml")).unwrap();
        let plan = Plan::load(&out.join("plan.toml"), None, &registry).unwrap();
        for model in ["deep", "wide"] {
            for structure in ["dna", "nucleoli"] {
                for seed in [0, 1] {
                    // One cell without a log (the failed one has its first rows).
                    if (model, structure, seed) != ("wide", "dna", 1) {
                        write_losses(&out, model, structure, seed);
                    }
                }
            }
        }
        let versions = Versions {
            silico: "0.3.0".into(),
            torch: "2.13.0".into(),
            libraries: vec![
                ("unet3d".into(), "0.3.0".into()),
                ("losses".into(), "0.3.0".into()),
            ],
            device: "cpu (2 threads)".into(),
        };
        write_report(&out, &plan, &results(), &versions).unwrap();
        out
    })
}

fn html() -> String {
    std::fs::read_to_string(report().join("report.html")).unwrap()
}

/// The leaderboard row of a (model, structure), from its `<tr>` to its `</tr>`.
fn row<'a>(html: &'a str, cell: &str) -> &'a str {
    let start = html
        .find(&format!(r#"<tr data-cell="{cell}""#))
        .unwrap_or_else(|| panic!("no leaderboard row for {cell}"));
    let end = start + html[start..].find("</tr>").unwrap();
    &html[start..end]
}

/// The class of a row's value for `metric`.
fn class_of<'a>(row: &'a str, metric: &str) -> &'a str {
    let at = row
        .find(&format!(r#"data-metric="{metric}" class=""#))
        .unwrap_or_else(|| panic!("no {metric} in {row}"));
    let rest = &row[at..];
    let start = rest.find("class=\"").unwrap() + 7;
    let end = start + rest[start..].find('"').unwrap();
    &rest[start..end]
}

const CELLS: [&str; 4] = ["deep/dna", "deep/nucleoli", "wide/dna", "wide/nucleoli"];

#[test]
fn the_leaderboard_has_a_row_per_model_and_structure_with_the_best_marked() {
    let html = html();
    assert_eq!(html.matches("<tr data-cell=").count(), CELLS.len());
    for cell in CELLS {
        row(&html, cell);
    }
    // dna: deep is better on every image, so wide is significantly worse (p = 2/64).
    let (deep, wide) = (row(&html, "deep/dna"), row(&html, "wide/dna"));
    for metric in ["pearson_r", "mse", "ssim", "psnr", "jaccard"] {
        assert_eq!(class_of(deep, metric), "best", "{metric}");
        assert_eq!(class_of(wide, metric), "worse", "{metric}");
    }
    assert!(wide.contains("p = 0.0312 over 6 images"), "{wide}");
    // nucleoli: wide is better on average, deep not significantly worse; exclusivity and the
    // divergences have no per-image scores, so only the best is marked.
    let (deep, wide) = (row(&html, "deep/nucleoli"), row(&html, "wide/nucleoli"));
    assert_eq!(class_of(wide, "pearson_r"), "best");
    assert_eq!(class_of(deep, "pearson_r"), "tied");
    assert_eq!(class_of(deep, "organelle_exclusivity"), "best");
    assert_eq!(class_of(wide, "organelle_exclusivity"), "unmarked");
    assert_eq!(class_of(deep, "shape_divergence"), "best");
    assert_eq!(class_of(deep, "spatial_kl"), "best");
    // Two seeds give mean ± sd, one seed a mean alone; the failed seed shows its reason.
    assert!(deep.contains("± "), "{deep}");
    assert!(wide.contains(r#"<td class="failed">1/2</td>"#), "{wide}");
    let failure = format!(
        r#"<tr class="failure" data-failed="wide/nucleoli/seed1"><td></td><td colspan="13">seed 1 failed: {FAILURE}</td></tr>"#
    );
    assert!(html.contains(&format!("{wide}</tr>{failure}")), "{html}");
    assert_eq!(html.matches("<tr class=\"failure\"").count(), 1);
    // The costs: generator and discriminator counted apart.
    assert!(
        wide.contains(r#"<span title="generator">G</span> 567.9 k · <span title="discriminator">D</span> 2.77 M"#),
        "{wide}"
    );
    assert!(html.contains("Wilcoxon signed-rank") && html.contains("p ≥ 0.05"));
}

#[test]
fn the_page_has_every_section_and_is_self_contained_and_escaped() {
    let html = html();
    assert!(html
        .contains("compare &quot;wide&quot; &amp; &quot;deep&quot; nets: is &lt;deep&gt; better?"));
    assert!(!html.contains("is <deep> better"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("url("));
    assert!(html.matches("href=\"").count() == html.matches("href=\"#").count());
    for model in ["deep", "wide"] {
        assert!(html.contains(&format!(r#"<table class="table-1" data-model="{model}">"#)));
    }
    assert!(html.contains(r#"aria-label="Box plots of the Jaccard index"#));
    assert!(html.contains(r#"aria-label="Shape divergence against spatial divergence"#));
    assert_eq!(html.matches("<figure class=\"curve\"").count(), CELLS.len());
    assert!(html.contains("seed 1: no cells/wide/dna/seed1/run/losses.csv"));
    assert!(html.contains("<title>l1, seed 0</title>"));
    for version in [
        "0.3.0",
        "2.13.0",
        "plugin library unet3d",
        "cpu (2 threads)",
    ] {
        assert!(html.contains(version), "{version}");
    }
}

/// Runs Chromium headless on `page` with a fresh profile and no network use, stderr logged.
fn chromium(page: &Path, args: &[&str]) -> (Output, String) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/install-chromium (installs Debian's chromium package)"
    );
    let profile = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (stdout, stderr) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--enable-logging=stderr", "--v=0"])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::from(File::create(&stdout).unwrap()))
        .stderr(Stdio::from(File::create(&stderr).unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish {} within 90 s", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = Output {
        status,
        stdout: std::fs::read(&stdout).unwrap(),
        stderr: std::fs::read(&stderr).unwrap(),
    };
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .collect::<Vec<_>>()
        .join("\n");
    (output, console)
}

#[test]
fn chromium_renders_the_report_with_no_console_message() {
    // The check can fail: a page with a script error shows up in the log.
    let canary = tempfile::tempdir().unwrap();
    let broken = canary.path().join("broken.html");
    std::fs::write(
        &broken,
        "<!DOCTYPE html><p>x</p><script>undefinedFunction()</script>",
    )
    .unwrap();
    let (_, console) = chromium(&broken, &["--dump-dom"]);
    assert!(
        console.contains("undefinedFunction"),
        "chromium logged no console message for a broken page"
    );

    let page = report().join("report.html");
    let (output, console) = chromium(&page, &["--dump-dom"]);
    assert!(console.is_empty(), "console messages:\n{console}");
    let dom = String::from_utf8_lossy(&output.stdout);
    for cell in CELLS {
        assert!(
            dom.contains(&format!(r#"<tr data-cell="{cell}">"#)),
            "no row for {cell} in the DOM"
        );
    }

    let screenshot = output_dir().join("report.png");
    let (_, console) = chromium(
        &page,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1400,2000",
            "--hide-scrollbars",
        ],
    );
    assert!(console.is_empty(), "console messages:\n{console}");
    let decoder = png::Decoder::new(std::io::BufReader::new(File::open(&screenshot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (1400, 2000));
    // Rendered, not blank: the header is dark, the page light.
    let channels = info.line_size / info.width as usize;
    let luminance = |x: usize, y: usize| pixels[y * info.line_size + x * channels] as u32;
    assert!(luminance(700, 10) < 80 && luminance(5, 1990) > 200);
    println!("screenshot: {}", screenshot.display());
}
