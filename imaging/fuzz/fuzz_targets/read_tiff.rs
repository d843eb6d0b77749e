//! Any byte string given to the TIFF reader must produce a volume or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Well under libFuzzer's 2 GB RSS limit: a file that would decode to more is refused.
    silico_imaging::set_memory_budget(Some(256 << 20));
    if let Ok((volume, _)) =
        silico_imaging::tiff::read_tiff_bytes(data, std::path::Path::new("fuzz.tif"))
    {
        assert_eq!(volume.data.len(), volume.shape.iter().product::<usize>());
    }
});
