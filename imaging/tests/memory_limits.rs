//! Readers refuse, before allocating, what decodes to more than the memory budget: a TIFF
//! decompression bomb of any page count in well under a second with little memory, a stack
//! whose pages together exceed the budget, and an OME-Zarr image larger than it.
//!
//! The budget is process-wide, so these tests run one at a time (and alone in this binary, so
//! that the peak-memory readings are theirs).

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flate2::write::ZlibEncoder;
use flate2::Compression;
use silico_imaging::tiff::{read_volume, write_volume};
use silico_imaging::zarr::{write_volume as write_zarr, OmeZarrWriteOptions};
use silico_imaging::{memory_budget, read_image, set_memory_budget, Volume};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// zlib-deflated zeros: `bytes` of them, compressed a MiB at a time (never all in memory).
fn deflated_zeros(bytes: usize) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
    let block = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len());
        encoder.write_all(&block[..n]).unwrap();
        left -= n;
    }
    encoder.finish().unwrap()
}

/// A little-endian classic TIFF of `pages` deflated `width`x`height` uint32 pages, each one
/// strip; page p's strip is `strips[strip_of(p)]`.
fn tiff_with_strips(
    width: u32,
    height: u32,
    strips: &[Vec<u8>],
    pages: usize,
    strip_of: impl Fn(usize) -> usize,
) -> Vec<u8> {
    const ENTRIES: u16 = 10;
    let ifd_len = 2 + 12 * ENTRIES as usize + 4;
    let mut file = b"II\x2a\x00".to_vec();
    let first_ifd = 8u32;
    file.extend(first_ifd.to_le_bytes());
    let strips_at = first_ifd as usize + pages * ifd_len;
    let mut strip_offsets = Vec::new();
    let mut at = strips_at;
    for strip in strips {
        strip_offsets.push(at as u32);
        at += strip.len();
    }
    for page in 0..pages {
        let strip = strip_of(page);
        file.extend(ENTRIES.to_le_bytes());
        let mut entry = |tag: u16, kind: u16, value: u32| {
            file.extend(tag.to_le_bytes());
            file.extend(kind.to_le_bytes());
            file.extend(1u32.to_le_bytes());
            file.extend(value.to_le_bytes());
        };
        let (short, long) = (3, 4);
        entry(256, long, width); // ImageWidth
        entry(257, long, height); // ImageLength
        entry(258, short, 32); // BitsPerSample
        entry(259, short, 8); // Compression: deflate
        entry(262, short, 1); // PhotometricInterpretation: black is zero
        entry(273, long, strip_offsets[strip]); // StripOffsets
        entry(277, short, 1); // SamplesPerPixel
        entry(278, long, height); // RowsPerStrip
        entry(279, long, strips[strip].len() as u32); // StripByteCounts
        entry(339, short, 1); // SampleFormat: unsigned
        let next = if page + 1 < pages {
            (first_ifd as usize + (page + 1) * ifd_len) as u32
        } else {
            0
        };
        file.extend(next.to_le_bytes());
    }
    assert_eq!(file.len(), strips_at);
    for strip in strips {
        file.extend(strip);
    }
    file
}

/// The process's peak resident memory so far, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    kib * 1024
}

/// Runs `read` and returns its result, the time it took and how far it raised the peak RSS.
fn measured<T>(read: impl FnOnce() -> T) -> (T, Duration, u64) {
    let before = peak_rss();
    let start = Instant::now();
    let result = read();
    let elapsed = start.elapsed();
    (result, elapsed, peak_rss().saturating_sub(before))
}

const PAGE: u32 = 4096; // 4096 x 4096 uint32: 64 MiB a page.

#[test]
fn a_decompression_bomb_of_any_page_count_is_refused_at_once_with_little_memory() {
    let _serial = serial();
    // The default budget, whatever this machine has: a bomb must not depend on it.
    set_memory_budget(None);
    let dir = common::scratch("bomb");
    let strip = deflated_zeros((PAGE * PAGE * 4) as usize);
    assert!(strip.len() < 100_000, "{} bytes", strip.len());
    for pages in [2, 300, 20_000] {
        let path = dir.join(format!("bomb-{pages}.tif"));
        std::fs::write(
            &path,
            tiff_with_strips(PAGE, PAGE, std::slice::from_ref(&strip), pages, |_| 0),
        )
        .unwrap();
        let (result, elapsed, rss) = measured(|| read_volume(&path).map(|_| ()));
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains(&format!("bomb-{pages}.tif"))
                && err.contains("page 1 reuses the image data of page 0")
                && err.contains("decompression bomb"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        eprintln!("{pages} pages: refused in {elapsed:?}, peak RSS rose {rss} bytes");
        assert!(
            elapsed < Duration::from_secs(1),
            "{pages} pages: {elapsed:?}"
        );
        assert!(rss < 100 << 20, "{pages} pages: peak RSS rose {rss} bytes");
    }
}

#[test]
fn a_strip_that_inflates_past_its_page_decodes_only_the_page() {
    let _serial = serial();
    set_memory_budget(None);
    let dir = common::scratch("long-strip");
    // 64 MiB of zeros behind a 16 x 16 page: only the page's 1 KiB is inflated.
    let strip = deflated_zeros(64 << 20);
    let path = dir.join("long-strip.tif");
    std::fs::write(&path, tiff_with_strips(16, 16, &[strip], 1, |_| 0)).unwrap();
    let (volume, elapsed, rss) = measured(|| read_volume(&path).unwrap());
    assert_eq!(volume.shape, [1, 1, 16, 16]);
    assert!(volume.data.iter().all(|&v| v == 0.0));
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert!(rss < 100 << 20, "peak RSS rose {rss} bytes");
}

#[test]
fn pages_that_together_exceed_the_budget_are_refused_before_decoding() {
    let _serial = serial();
    let dir = common::scratch("over-budget");
    // Three pages of 64 MiB, each with a strip of its own: no bomb, just too much.
    let strip = deflated_zeros((PAGE * PAGE * 4) as usize);
    let path = dir.join("big.tif");
    std::fs::write(
        &path,
        tiff_with_strips(PAGE, PAGE, &[strip.clone(), strip.clone(), strip], 3, |p| p),
    )
    .unwrap();
    set_memory_budget(Some(100 << 20));
    let (result, elapsed, rss) = measured(|| read_volume(&path).map(|_| ()));
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("big.tif: too large to read: decodes to")
            && err.contains("its first 2 page(s) of 4096x4096")
            && err.contains("above the memory budget of 100.0 MiB"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert!(rss < 100 << 20, "peak RSS rose {rss} bytes");

    // With room for them the same file reads.
    set_memory_budget(Some(1 << 30));
    let volume = read_volume(&path).unwrap();
    assert_eq!(volume.shape, [1, 3, 4096, 4096]);
    set_memory_budget(None);
}

#[test]
fn an_ome_zarr_image_over_the_budget_is_refused_in_one_line() {
    let _serial = serial();
    set_memory_budget(None);
    let dir = common::scratch("zarr-budget");
    let store = dir.join("small.ome.zarr");
    let volume = Volume::from_data(vec![1.0; 2 * 4 * 16 * 16], [2, 4, 16, 16], [1.0; 3]).unwrap();
    write_zarr(&store, &volume, &OmeZarrWriteOptions::default()).unwrap();
    set_memory_budget(Some(4 << 10));
    let err = read_image(&store).map(|_| ()).unwrap_err().to_string();
    set_memory_budget(None);
    assert!(
        err.contains("small.ome.zarr")
            && err.contains("too large to read: decodes to 8.0 KiB")
            && err.contains("2 channel(s) of 4x16x16")
            && err.contains("above the memory budget of 4.0 KiB"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(read_image(&store).unwrap().data, volume.data);
}

#[test]
fn the_budget_comes_from_the_caller_then_the_environment_then_the_machine() {
    let _serial = serial();
    set_memory_budget(None);
    let machine = memory_budget().unwrap();
    assert!(
        machine.bytes > 0 && machine.source.contains("half of the"),
        "{machine}"
    );
    // Tests in this binary run one at a time, so no thread reads the environment meanwhile.
    std::env::set_var("SILICO_MEMORY_LIMIT", "4G");
    let from_env = memory_budget().unwrap();
    assert_eq!(from_env.bytes, 4 << 30);
    assert_eq!(from_env.to_string(), "4.0 GiB (SILICO_MEMORY_LIMIT=4G)");
    set_memory_budget(Some(1 << 20));
    assert_eq!(memory_budget().unwrap().bytes, 1 << 20);
    set_memory_budget(None);
    std::env::set_var("SILICO_MEMORY_LIMIT", "lots");
    let err = memory_budget().unwrap_err().to_string();
    std::env::remove_var("SILICO_MEMORY_LIMIT");
    assert_eq!(
        err,
        "SILICO_MEMORY_LIMIT: `lots`: expected bytes with an optional K, M, G or T"
    );
    // A file that cannot be checked against the budget is not read.
    let dir = common::scratch("budget-source");
    let path = dir.join("x.tif");
    write_volume(&path, &Volume::zeros([1, 1, 4, 4], [1.0; 3])).unwrap();
    std::env::set_var("SILICO_MEMORY_LIMIT", "4X");
    let err = read_volume(&path).map(|_| ()).unwrap_err().to_string();
    std::env::remove_var("SILICO_MEMORY_LIMIT");
    assert!(err.contains("K, M, G or T"), "{err}");
    assert!(read_volume(Path::new(&path)).is_ok());
}
