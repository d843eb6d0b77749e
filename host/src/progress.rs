//! The progress bar that long commands draw on stderr (hidden under `--quiet` or when
//! stderr is not a terminal, as the caller decides).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` steps, `start` of them done, each step counted as one `unit` ("" for
/// bare counts); a step's message shows after the estimate.
pub(crate) fn progress_bar(visible: bool, start: u64, total: u64, unit: &str) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total).with_position(start);
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:30}} {{pos}}/{{len}}{unit}  {{per_sec}}  ETA {{eta}}  {{msg}}"
        ))
        .expect("a valid progress template"),
    );
    bar
}
