//! Any text given to the manifest parser must produce a manifest or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let csv = std::path::Path::new("/fuzz/nucleoli.csv");
    if let Ok(manifest) = silico_imaging::dataset::Manifest::parse(csv, text) {
        assert_eq!(manifest.image_names().len(), manifest.rows.len());
    }
});
