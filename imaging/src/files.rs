//! Writing files so that a reader never sees half of one: the bytes go to a temporary sibling
//! of the destination, are synced, and the temporary is renamed over the destination. A failed
//! or interrupted write leaves the old file (or none) and removes its temporary.
//!
//! The temporary is a `tempfile` file (`.<name>.<random>.tmp` beside the destination): its name
//! cannot collide with another writer's, and it is deleted on every error path and on a panic,
//! by its destructor. Only a killed process (or a power cut) leaves one behind, as it would any
//! temporary; it is hidden and never read.

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::error::{ImagingError, Result};

/// Writes `bytes` to `path` atomically (temporary sibling, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |out| out.write_all(bytes))
}

/// Writes to `path` atomically what `write` streams into the (buffered) writer it is given.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let name = path.file_name().ok_or_else(|| {
        ImagingError::Invalid(format!("{}: not a file name to write to", path.display()))
    })?;
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // The mode `File::create` uses, so that the umask decides as for any other output file
    // (tempfile's own default, 0600, would hide results from the rest of a lab group).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let failed = |action: &'static str| move |e: io::Error| ImagingError::io(path, action, e);
    let temporary = builder.tempfile_in(folder).map_err(failed("write"))?;
    let mut out = BufWriter::new(temporary);
    write(&mut out).map_err(failed("write"))?;
    let temporary = out
        .into_inner()
        .map_err(|e| failed("write")(e.into_error()))?;
    temporary.as_file().sync_all().map_err(failed("sync"))?;
    temporary
        .persist(path)
        .map_err(|e| failed("rename into place")(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn entries(folder: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_content_and_leaves_only_the_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("x.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(entries(folder.path()), ["x.json"]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_removes_its_temporary_and_names_the_path() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("table.csv");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |out| {
            out.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err()
        .to_string();
        assert_eq!(err, format!("{}: cannot write: disk full", path.display()));
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(entries(folder.path()), ["table.csv"]);
    }

    #[test]
    fn a_missing_folder_is_one_line_naming_the_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("absent/out.tif");
        let err = write_atomic(&path, b"x").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: cannot write: ", path.display())) && !err.contains('\n'),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_file_gets_the_mode_file_create_gives() {
        use std::os::unix::fs::PermissionsExt;
        let folder = tempfile::tempdir().unwrap();
        let plain = folder.path().join("plain");
        fs::File::create(&plain).unwrap();
        let atomic = folder.path().join("atomic");
        write_atomic(&atomic, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&atomic), mode(&plain));
    }
}
