//! Any text given to the benchmark plan parser must produce a plan or an error, never a panic.
//! The plan is read against a fixed registry and a data folder holding two manifests.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silico::{bench::plan::Plan, Registry};
use std::sync::OnceLock;

const REGISTRY: &str = r#"
[plugins]
[models.tiny]
generator = { component = "unet3d", depth = 2 }
losses = [{ component = "mse" }]
train = { iterations = 10, batch = 2 }
"#;

struct Fixture {
    registry: Registry,
    data: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let data = tempfile::tempdir().expect("a temporary folder");
        for structure in ["dna", "nucleoli"] {
            std::fs::write(
                data.path().join(format!("{structure}.csv")),
                "path_signal,path_target\n",
            )
            .expect("a manifest");
        }
        let registry = Registry::parse(REGISTRY, std::path::Path::new("/fuzz/registry.toml"))
            .expect("the fixed registry parses");
        Fixture { registry, data }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fixture = fixture();
    let folder = fixture.data.path();
    if let Ok(plan) = Plan::parse(
        text,
        &folder.join("plan.toml"),
        folder,
        None,
        &fixture.registry,
    ) {
        assert_eq!(
            plan.cells().len(),
            plan.models.len() * plan.structures.len() * plan.seeds.len()
        );
    }
});
