//! Names that become folder or file names (structures, models, `--predictions NAME=` labels):
//! checked wherever they enter, including from a checkpoint, so that none can reach outside the
//! folder it is joined to.

use anyhow::{bail, Result};

/// What a name may hold, for the error message.
const ALLOWED: &str = "letters, digits, '-', '_', '.' (not first)";

/// Refuses `name` unless it is one plain folder name: not empty, only letters, digits, `-`, `_`
/// and `.`, and not starting with `.` (so neither `.`, `..` nor a hidden folder). `kind` says
/// what the name is (`structure`, `model`, ...) in the one-line error.
pub fn check_name(kind: &str, name: &str) -> Result<()> {
    let plain = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() || name.starts_with('.') || !plain {
        bail!(
            "{kind} `{}`: a name, not a path: {ALLOWED}",
            name.escape_debug()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn plain_names_pass() {
        for name in [
            "nucleoli",
            "unet-tiny",
            "cell_membrane",
            "v2.1",
            "Golgi3",
            "核",
        ] {
            check_name("structure", name).unwrap();
        }
    }

    #[test]
    fn paths_and_odd_characters_are_refused_in_one_line() {
        for name in [
            "", ".", "..", "../x", "a/b", "/abs", "a\\b", ".hidden", "a\0b", "a\nb", "a b", "x:y",
        ] {
            let message = check_name("structure", name).unwrap_err().to_string();
            assert!(
                message.starts_with("structure `") && message.contains("a name, not a path"),
                "{name:?}: {message}"
            );
            assert_eq!(message.lines().count(), 1, "{name:?}: {message}");
        }
        assert_eq!(
            check_name("structure", "../x").unwrap_err().to_string(),
            "structure `../x`: a name, not a path: letters, digits, '-', '_', '.' (not first)"
        );
    }
}
