//! Any text given to the registry parser must produce a registry or a one-line error, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = silico::Registry::parse(text, std::path::Path::new("/fuzz/registry.toml")) {
        assert!(!format!("{error:#}").is_empty());
    }
});
