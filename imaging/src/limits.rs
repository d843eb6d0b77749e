//! The memory budget image readers check before they allocate.
//!
//! A reader first works out how many bytes what it is about to read decodes to (every page and
//! channel) and refuses, in one line with that size and the budget, anything above it, so a
//! small hostile or careless file (a decompression bomb, a huge declared shape) is an error
//! instead of an allocation failure. The budget is, in order: what [`set_memory_budget`] set,
//! `SILICO_MEMORY_LIMIT` (bytes with an optional K, M, G or T, e.g. `4G`), or half of the memory
//! available (`MemAvailable`, or less under a cgroup v2 limit).

use std::fmt;
use std::path::Path;
use std::sync::RwLock;

use crate::error::{ImagingError, Result};

/// The environment variable that sets the budget.
pub const MEMORY_LIMIT_VARIABLE: &str = "SILICO_MEMORY_LIMIT";

static OVERRIDE: RwLock<Option<u64>> = RwLock::new(None);

/// How many bytes a reader may allocate, and where the number came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryBudget {
    pub bytes: u64,
    /// E.g. "SILICO_MEMORY_LIMIT=4G" or "half of the 15.3 GiB available".
    pub source: String,
}

impl fmt::Display for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", human_bytes(self.bytes), self.source)
    }
}

/// Sets the budget for this process (e.g. from a command-line option), or with `None` returns
/// to `SILICO_MEMORY_LIMIT` and the available memory.
pub fn set_memory_budget(bytes: Option<u64>) {
    *OVERRIDE.write().unwrap_or_else(|e| e.into_inner()) = bytes;
}

/// The budget now in force; fails on an unparsable `SILICO_MEMORY_LIMIT`.
pub fn memory_budget() -> Result<MemoryBudget> {
    if let Some(bytes) = *OVERRIDE.read().unwrap_or_else(|e| e.into_inner()) {
        return Ok(MemoryBudget {
            bytes,
            source: "set by the caller".into(),
        });
    }
    if let Ok(text) = std::env::var(MEMORY_LIMIT_VARIABLE) {
        let bytes = parse_size(&text).map_err(|detail| {
            ImagingError::Invalid(format!("{MEMORY_LIMIT_VARIABLE}: {detail}"))
        })?;
        return Ok(MemoryBudget {
            bytes,
            source: format!("{MEMORY_LIMIT_VARIABLE}={text}"),
        });
    }
    let available = available_memory().ok_or_else(|| {
        ImagingError::Invalid(format!(
            "cannot tell the available memory from /proc/meminfo; set {MEMORY_LIMIT_VARIABLE} (e.g. 4G)"
        ))
    })?;
    Ok(MemoryBudget {
        bytes: available / 2,
        source: format!(
            "half of the {} available; set {MEMORY_LIMIT_VARIABLE} to change it",
            human_bytes(available)
        ),
    })
}

/// Refuses reading `path` when `needed` bytes (described by `what`, e.g. "300 pages of
/// 4096x4096 uint32") exceed the budget.
pub(crate) fn check_fits(path: &Path, needed: u64, what: impl FnOnce() -> String) -> Result<()> {
    let budget = memory_budget()?;
    if needed > budget.bytes {
        return Err(ImagingError::TooLarge {
            path: path.to_path_buf(),
            detail: format!(
                "decodes to {} ({}), above the memory budget of {budget}",
                human_bytes(needed),
                what()
            ),
        });
    }
    Ok(())
}

/// Bytes as "1.5 GiB", "12.0 MiB" or "512 B".
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Parses a size such as `4G`, `512M`, `1.5GiB` or `1000000` (bytes); K, M, G, T are powers of
/// 1024.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale: u64 = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}`: expected bytes with an optional K, M, G or T"
            ))
        }
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: expected a number such as 4G"))?;
    let bytes = value * scale as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("`{text}`: must be at least one byte"));
    }
    Ok(bytes as u64)
}

/// `MemAvailable`, or less where a cgroup v2 limit (a Slurm job, a container) leaves less.
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let available = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()?
        .checked_mul(1024)?;
    Some(cgroup_headroom().map_or(available, |room| room.min(available)))
}

/// What is left under this process's cgroup v2 memory limit, if it has one.
fn cgroup_headroom() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let relative = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = Path::new("/sys/fs/cgroup").join(relative.trim_start_matches('/'));
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some(read("memory.max")?.saturating_sub(read("memory.current")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("4X").unwrap_err().contains("K, M, G or T"));
        assert!(parse_size("1.2.3G")
            .unwrap_err()
            .contains("a number such as 4G"));
        assert!(parse_size("0").unwrap_err().contains("at least one byte"));
        assert!(parse_size("-1G").is_err());
    }

    #[test]
    fn bytes_print_in_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(64 << 20), "64.0 MiB");
        assert_eq!(human_bytes(19 * (1 << 30) + (1 << 29)), "19.5 GiB");
    }

    #[test]
    fn the_machine_has_a_budget() {
        let budget = available_memory().expect("/proc/meminfo");
        assert!(budget > 0);
    }
}
