//! Writing outputs so that an interrupted run never leaves a half-written file: files through
//! [`silico_imaging::files`] (temporary sibling, fsync, rename), folders by [`replace_dir`].

use anyhow::{Context, Result};
use std::{
    fs,
    path::{Path, PathBuf},
};

/// Writes `bytes` to `path` atomically: [`silico_imaging::files::write_atomic`], as an
/// `anyhow` result.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(silico_imaging::files::write_atomic(path, bytes)?)
}

fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Replaces the folder `dir` by one that `fill` writes, atomically: `fill` writes into a
/// temporary sibling, which then takes `dir`'s place. A crash leaves either the old folder (at
/// `dir`, or at [`previous`]) or the new one, never a mix.
pub fn replace_dir(dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let temporary = temporary_sibling(dir);
    let old = previous(dir);
    let _ = fs::remove_dir_all(&temporary);
    fs::create_dir_all(&temporary)
        .with_context(|| format!("cannot create {}", temporary.display()))?;
    if let Err(e) = fill(&temporary) {
        let _ = fs::remove_dir_all(&temporary);
        return Err(e);
    }
    let _ = fs::remove_dir_all(&old);
    if dir.exists() {
        fs::rename(dir, &old).with_context(|| format!("cannot move {} aside", dir.display()))?;
    }
    fs::rename(&temporary, dir).with_context(|| format!("cannot write {}", dir.display()))?;
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

/// Where [`replace_dir`] keeps the previous folder while it swaps in the new one.
pub fn previous(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!("{name}.previous"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_dir_swaps_whole_folders_and_keeps_the_old_on_failure() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("checkpoint");
        replace_dir(&dir, |d| Ok(fs::write(d.join("a"), "1")?)).unwrap();
        replace_dir(&dir, |d| Ok(fs::write(d.join("b"), "2")?)).unwrap();
        assert!(!dir.join("a").exists() && dir.join("b").exists());
        let err = replace_dir(&dir, |_| anyhow::bail!("disk full")).unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(fs::read_to_string(dir.join("b")).unwrap(), "2");
        let leftovers: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec!["checkpoint"]);
    }
}
