//! Writing outputs so that an interrupted run never leaves a half-written file: files through
//! [`silico_imaging::files`] (temporary sibling, fsync, rename), folders by [`replace_dir`];
//! and one writer per folder, by [`FolderLock`].

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::{
    fs,
    io::{Read, Write},
    os::unix::{fs::MetadataExt, io::AsRawFd},
    path::{Path, PathBuf},
    time::Duration,
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
    path.with_file_name(format!(".{name}{TEMPORARY_MARK}{}", std::process::id()))
}

/// What follows a temporary sibling's name, before the PID of the process writing it.
const TEMPORARY_MARK: &str = ".tmp-";

/// Removes the temporary siblings that [`replace_dir`] of `dir` left when a killed process was
/// writing it (`.<name>.tmp-<pid>`). Call it while holding the folder's [`FolderLock`], so that
/// no live writer has one there.
pub fn remove_stale_temporaries(dir: &Path) {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return;
    };
    let prefix = format!(".{}{TEMPORARY_MARK}", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry.file_name().to_str().is_some_and(|n| {
            n.strip_prefix(&prefix)
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        });
        if stale {
            // Best effort: a leftover that cannot be removed is hidden and never read.
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The lock file of a folder that a process writes.
pub const LOCK_FILE: &str = ".silico.lock";

/// Who holds a [`FolderLock`], as its lock file records it.
#[derive(Serialize, Deserialize)]
struct Holder {
    pid: u32,
    host: String,
    command: String,
}

impl Holder {
    fn this_process() -> Self {
        Self {
            pid: std::process::id(),
            host: host_name(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }
}

fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length, which is what gethostname is given.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if status != 0 {
        return "an unknown host".to_string();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// A folder this process writes, held until the value is dropped: `LOCK_FILE` in it, locked
/// with `flock`, which the kernel releases however the process ends (`kill -9` included), so
/// the lock of a dead process is simply taken over. A second writer is refused with the
/// holder's PID, host and command. Dropping it removes the lock file, and the folder if taking
/// the lock created it and nothing was written.
pub struct FolderLock {
    path: PathBuf,
    /// Folders that taking the lock created, deepest first.
    created: Vec<PathBuf>,
    /// Holds the lock; closed (and so unlocked) after the lock file is removed.
    _file: fs::File,
}

impl FolderLock {
    pub fn acquire(folder: &Path) -> Result<Self> {
        let created: Vec<PathBuf> = folder
            .ancestors()
            .take_while(|dir| !dir.as_os_str().is_empty() && !dir.exists())
            .map(Path::to_path_buf)
            .collect();
        let path = folder.join(LOCK_FILE);
        let file = loop {
            fs::create_dir_all(folder)
                .with_context(|| format!("cannot create {}", folder.display()))?;
            let file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            if !try_lock(&file).with_context(|| format!("cannot lock {}", path.display()))? {
                bail!(
                    "{} is being written by {}; wait for it to end, or choose another --out",
                    folder.display(),
                    describe_holder(&path)
                );
            }
            // A holder that ended between our open and our lock removed the file we opened:
            // the lock must be on the file at `path`.
            let locked = file.metadata()?;
            if fs::metadata(&path).is_ok_and(|m| m.ino() == locked.ino() && m.dev() == locked.dev())
            {
                break file;
            }
        };
        let holder = serde_json::to_string(&Holder::this_process())?;
        file.set_len(0)
            .and_then(|()| (&file).write_all(holder.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self {
            path,
            created,
            _file: file,
        })
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // Removed while still locked, so that no other process locks a file about to vanish.
        let _ = fs::remove_file(&self.path);
        for dir in &self.created {
            if fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

/// Locks `file` exclusively without waiting; `false` when another process holds it.
fn try_lock(file: &fs::File) -> std::io::Result<bool> {
    // SAFETY: flock on a file descriptor this process owns (and keeps open while locked).
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    if error.kind() == std::io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(error)
    }
}

/// The holder of the lock at `path`, in words. The holder writes its record right after
/// locking: a reader that comes in between waits briefly for it.
fn describe_holder(path: &Path) -> String {
    for _ in 0..20 {
        let mut text = String::new();
        let read = fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text));
        if let (Ok(_), Ok(holder)) = (read, serde_json::from_str::<Holder>(&text)) {
            return format!(
                "PID {} on {} ({})",
                holder.pid,
                holder.host,
                holder.command.replace(['\n', '\r'], " ")
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    format!("another process (it holds {})", path.display())
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

    #[test]
    fn killed_writers_temporaries_go_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("checkpoint");
        for leftover in [".checkpoint.tmp-4242", ".checkpoint.tmp-17"] {
            fs::create_dir_all(root.path().join(leftover).join("inner")).unwrap();
        }
        for kept in [
            ".checkpoint.tmp-notes",
            ".other.tmp-17",
            "checkpoint.previous",
        ] {
            fs::create_dir_all(root.path().join(kept)).unwrap();
        }
        remove_stale_temporaries(&dir);
        let mut names: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                ".checkpoint.tmp-notes",
                ".other.tmp-17",
                "checkpoint.previous"
            ]
        );
    }

    #[test]
    fn a_lock_records_its_holder_and_leaves_no_trace() {
        let root = tempfile::tempdir().unwrap();
        let run = root.path().join("run");
        fs::create_dir_all(&run).unwrap();
        fs::write(run.join("losses.csv"), "").unwrap();
        let lock = FolderLock::acquire(&run).unwrap();
        let holder: Holder =
            serde_json::from_str(&fs::read_to_string(run.join(LOCK_FILE)).unwrap()).unwrap();
        assert_eq!(holder.pid, std::process::id());
        drop(lock);
        assert!(!run.join(LOCK_FILE).exists());
        assert!(
            run.join("losses.csv").exists(),
            "a folder that holds files stays"
        );

        let fresh = root.path().join("a/b");
        drop(FolderLock::acquire(&fresh).unwrap());
        assert!(
            !root.path().join("a").exists(),
            "a new folder left empty goes"
        );
    }

    #[test]
    fn a_second_writer_is_refused_naming_the_holder() {
        let root = tempfile::tempdir().unwrap();
        let _held = FolderLock::acquire(root.path()).unwrap();
        // flock locks belong to open files: a second open in this process conflicts as another
        // process's would.
        let refused = FolderLock::acquire(root.path()).err().unwrap().to_string();
        assert!(
            refused.contains(&format!(
                "is being written by PID {} on ",
                std::process::id()
            )),
            "{refused}"
        );
        assert_eq!(refused.lines().count(), 1);
    }
}
