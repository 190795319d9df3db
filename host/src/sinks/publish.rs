//! The atomic publication protocol of the [module documentation](super): table locks, staging
//! directories, the swap, fsyncs, and the clean-up of what a load that died left behind.
//!
//! Hidden entries are named `.<name>.<kind>-<pid>-<n>`: `staging` for a version being built (or,
//! after an exchange, the previous version being deleted), `old` for a previous version moved
//! aside by the two-rename fallback, `tmp` for a single file being written. Their owner holds an
//! `flock` on them while it lives, so an unlocked one is garbage, whoever left it.

use std::fs::{self, File, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{CWD, RenameFlags, renameat_with};
use rustix::io::Errno;

use super::SinkError;

const STAGING: &str = "staging";
const OLD: &str = "old";
const TMP: &str = "tmp";

/// Tests make a child process exit at a named point of a load, to check what a crash leaves.
#[cfg(test)]
pub(crate) const CRASH_AT_ENV: &str = "HOST_SINKS_CRASH_AT";
/// The exit code of a process stopped at a crash point.
#[cfg(test)]
pub(crate) const CRASH_EXIT_CODE: i32 = 86;

/// Exits the process at once (no destructor runs, as if killed) when the tests ask to crash at
/// `point`.
#[cfg(test)]
pub(crate) fn crash_point(point: &str) {
    if std::env::var_os(CRASH_AT_ENV).is_some_and(|at| at == point) {
        std::process::exit(CRASH_EXIT_CODE);
    }
}

#[cfg(not(test))]
#[inline(always)]
pub(crate) fn crash_point(_point: &str) {}

/// An `flock` held on an open file, released when dropped (or the process dies).
///
/// Released explicitly rather than by closing: a child process forked by another thread
/// shares the open file until it execs, and closing only our descriptor would leave the lock
/// held by the child's copy for that moment.
#[derive(Debug)]
struct Held(File);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// An exclusive lock on `<parent>/.<name>.lock`, held until dropped (or the process dies).
#[derive(Debug)]
pub(crate) struct Lock {
    _file: Held,
}

impl Lock {
    /// Takes the lock, or fails with [`SinkError::Busy`] if another holder has it.
    pub fn acquire(target: &str, parent: &Path, name: &str) -> Result<Self, SinkError> {
        let path = parent.join(format!(".{name}.lock"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(SinkError::io(target, "create the lock file", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(Lock { _file: Held(file) }),
            Err(TryLockError::WouldBlock) => Err(SinkError::Busy { target: target.to_owned(), path }),
            Err(TryLockError::Error(source)) => Err(SinkError::io(target, "lock", &path)(source)),
        }
    }
}

/// The next unique hidden name for `name` and `kind` in this process.
fn hidden(name: &str, kind: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(".{name}.{kind}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Splits a hidden entry's file name into its target name and kind: `.sales.staging-12-0` →
/// `("sales", "staging")`.
fn parse_hidden(file_name: &str) -> Option<(&str, &str)> {
    let is_number = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    let rest = file_name.strip_prefix('.')?;
    let (rest, n) = rest.rsplit_once('-')?;
    let (rest, pid) = rest.rsplit_once('-')?;
    let (name, kind) = rest.rsplit_once('.')?;
    (is_number(n) && is_number(pid) && !name.is_empty() && [STAGING, OLD, TMP].contains(&kind)).then_some((name, kind))
}

/// Opens `path` and tries to lock it: `Some` (holding the lock) if nobody else holds it.
fn try_lock(path: &Path) -> io::Result<Option<File>> {
    let file = File::open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(error)) => Err(error),
    }
}

/// A hidden directory beside a target, where the target's new version is built. Locked while
/// it lives; deleted when dropped unless published.
#[derive(Debug)]
pub(crate) struct Staging {
    target: String,
    dir: PathBuf,
    name: String,
    published: bool,
    _lock: Held,
}

impl Staging {
    /// Creates `<parent>/.<name>.staging-<pid>-<n>`. `target` names what is built, for errors.
    pub fn create(target: &str, parent: &Path, name: &str) -> Result<Self, SinkError> {
        loop {
            let dir = parent.join(hidden(name, STAGING));
            match fs::create_dir(&dir) {
                Ok(()) => {
                    let lock = File::open(&dir).map_err(SinkError::io(target, "open", &dir))?;
                    lock.try_lock().map_err(|error| SinkError::io(target, "lock", &dir)(error.into()))?;
                    let target = target.to_owned();
                    return Ok(Staging { target, dir, name: name.to_owned(), published: false, _lock: Held(lock) });
                }
                // A leftover of an earlier process with the same id.
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(SinkError::io(target, "create the staging directory", &dir)(error)),
            }
        }
    }

    /// The staging directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Makes the staging directory the new version of `destination`: fsyncs everything in it,
    /// swaps it in, fsyncs the parents, then deletes the previous version.
    pub fn publish(mut self, destination: &Path) -> Result<(), SinkError> {
        let target = self.target.clone();
        sync_tree(&target, &self.dir)?;
        crash_point("before_swap");
        let previous = swap(&target, &self.dir, destination, &self.name)?;
        self.published = true;
        sync_parent(&target, destination)?;
        if self.dir.parent() != destination.parent() {
            sync_parent(&target, &self.dir)?;
        }
        crash_point("after_swap");
        if let Some(previous) = previous
            && let Err(error) = fs::remove_dir_all(&previous)
        {
            // The new version is in place; the next load deletes what is left.
            tracing::warn!(target = %target, path = %previous.display(), %error, "cannot delete the previous version");
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Puts the directory `from` at `to`, atomically. Returns where the previous version of `to`
/// now is, if there was one (at `from` after an exchange).
fn swap(target: &str, from: &Path, to: &Path, name: &str) -> Result<Option<PathBuf>, SinkError> {
    let failed = |error: Errno| SinkError::io(target, "publish", to)(error.into());
    // `to` may appear or vanish between two attempts only if someone else writes it.
    for _ in 0..3 {
        match renameat_with(CWD, from, CWD, to, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(Some(from.to_owned())),
            Err(Errno::NOENT) if from.exists() => match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
                Ok(()) => return Ok(None),
                Err(Errno::EXIST) => continue,
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => return swap_by_renames(target, from, to, name),
                Err(error) => return Err(failed(error)),
            },
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => return swap_by_renames(target, from, to, name),
            Err(error) => return Err(failed(error)),
        }
    }
    Err(SinkError::data(
        target,
        format!("{} keeps changing while it is published: is another process writing it?", to.display()),
    ))
}

/// The fallback of [`swap`] where `RENAME_EXCHANGE` is not supported: moves `to` aside to a
/// hidden `old` entry, then `from` to `to`. A crash in between leaves no `to`, and
/// [`clean_leftovers`] puts the `old` entry back.
fn swap_by_renames(target: &str, from: &Path, to: &Path, name: &str) -> Result<Option<PathBuf>, SinkError> {
    let parent = from.parent().unwrap_or(Path::new("."));
    let old = parent.join(hidden(name, OLD));
    let previous = match fs::rename(to, &old) {
        Ok(()) => Some(old),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => return Err(SinkError::io(target, "move aside", to)(error)),
    };
    crash_point("between_renames");
    if let Err(error) = fs::rename(from, to) {
        if let Some(old) = &previous {
            let _ = fs::rename(old, to);
        }
        return Err(SinkError::io(target, "publish", to)(error));
    }
    Ok(previous)
}

/// Deletes the hidden leftovers in `parent` of loads that died, for the names `destination`
/// recognises (returning where that name is published). An `old` version whose destination is
/// missing (a crash between the two renames of the fallback) is put back instead.
pub(crate) fn clean_leftovers(
    target: &str,
    parent: &Path,
    destination: impl Fn(&str) -> Option<PathBuf>,
) -> Result<(), SinkError> {
    let entries = match fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(SinkError::io(target, "list", parent)(error)),
    };
    let mut olds = Vec::new();
    for entry in entries {
        let entry = entry.map_err(SinkError::io(target, "list", parent))?;
        let file_name = entry.file_name();
        let Some((name, kind)) = file_name.to_str().and_then(parse_hidden) else { continue };
        let Some(destination) = destination(name) else { continue };
        let path = entry.path();
        if kind == OLD {
            olds.push((destination, path));
            continue;
        }
        let removed = match try_lock(&path) {
            Ok(Some(_lock)) if kind == TMP => fs::remove_file(&path),
            Ok(Some(_lock)) => fs::remove_dir_all(&path),
            // Being written by a live process, or gone already.
            Ok(None) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
        };
        match removed {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(SinkError::io(target, "delete the leftover", &path)(error)),
        }
    }
    olds.sort();
    for (destination, old) in olds {
        if destination.exists() {
            fs::remove_dir_all(&old).map_err(SinkError::io(target, "delete the leftover", &old))?;
        } else {
            let path = destination.display();
            tracing::warn!(target = %target, %path, "putting back the previous version after a crash");
            fs::rename(&old, &destination).map_err(SinkError::io(target, "put back", &destination))?;
            sync_parent(target, &destination)?;
        }
    }
    Ok(())
}

/// fsyncs `dir` and everything in it (files are fsynced by their writers, but hard links and
/// entries need their directories fsynced).
fn sync_tree(target: &str, dir: &Path) -> Result<(), SinkError> {
    for entry in fs::read_dir(dir).map_err(SinkError::io(target, "list", dir))? {
        let entry = entry.map_err(SinkError::io(target, "list", dir))?;
        if entry.file_type().map_err(SinkError::io(target, "list", dir))?.is_dir() {
            sync_tree(target, &entry.path())?;
        }
    }
    sync_dir(target, dir)
}

/// fsyncs the directory `dir`, making its entries durable.
pub(crate) fn sync_dir(target: &str, dir: &Path) -> Result<(), SinkError> {
    File::open(dir).and_then(|dir| dir.sync_all()).map_err(SinkError::io(target, "fsync", dir))
}

/// fsyncs the directory holding `path`.
pub(crate) fn sync_parent(target: &str, path: &Path) -> Result<(), SinkError> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(target, parent),
        _ => sync_dir(target, Path::new(".")),
    }
}

/// Replaces the file at `path` with `bytes` atomically: written to a hidden temporary file
/// beside it, fsynced, renamed over it, and the directory fsynced. Leftover temporary files of
/// writers that died are deleted first.
pub(crate) fn write_file_atomically(target: &str, path: &Path, bytes: &[u8]) -> Result<(), SinkError> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Some(file_name) = path.file_name().and_then(|name| name.to_str()) else {
        return Err(SinkError::data(target, format!("{} has no UTF-8 file name", path.display())));
    };
    fs::create_dir_all(parent).map_err(SinkError::io(target, "create the directory", parent))?;
    clean_leftovers(target, parent, |name| (name == file_name).then(|| path.to_owned()))?;
    let temporary = parent.join(hidden(file_name, TMP));
    let written = (|| {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&temporary)?;
        file.try_lock().map_err(io::Error::from)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(SinkError::io(target, "write", &temporary)(error));
    }
    crash_point("before_rename");
    if let Err(error) = fs::rename(&temporary, path) {
        let _ = fs::remove_file(&temporary);
        return Err(SinkError::io(target, "replace", path)(error));
    }
    sync_dir(target, parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::test_util::{Scratch, tree};

    #[test]
    fn hidden_names_parse_back() {
        let name = hidden("orders.run_id=r1", STAGING);
        assert_eq!(parse_hidden(&name), Some(("orders.run_id=r1", STAGING)));
        assert_eq!(parse_hidden(".sales.old-1-2"), Some(("sales", OLD)));
        for other in
            [".sales.lock", "sales", ".sales.staging-1", ".sales.staging-x-1", ".staging-1-2", ".sales.new-1-2"]
        {
            assert_eq!(parse_hidden(other), None, "{other}");
        }
    }

    #[test]
    fn a_second_lock_on_the_same_name_is_busy() {
        let scratch = Scratch::new("lock");
        let lock = Lock::acquire("t", scratch.path(), "sales").unwrap();
        let busy = Lock::acquire("warehouse table sales", scratch.path(), "sales").unwrap_err();
        assert!(matches!(busy, SinkError::Busy { .. }));
        assert!(busy.to_string().starts_with("warehouse table sales: another load is in progress (the lock "));
        drop(lock);
        Lock::acquire("t", scratch.path(), "sales").unwrap();
    }

    #[test]
    fn publish_swaps_and_deletes_the_previous_version() {
        let scratch = Scratch::new("publish");
        let destination = scratch.path().join("t");
        for version in ["one", "two"] {
            let staging = Staging::create("t", scratch.path(), "t").unwrap();
            fs::write(staging.path().join(version), version).unwrap();
            staging.publish(&destination).unwrap();
            assert_eq!(tree(scratch.path()), [format!("t/{version}")]);
        }
        // Dropped without publishing: deleted.
        let staging = Staging::create("t", scratch.path(), "t").unwrap();
        fs::write(staging.path().join("three"), "three").unwrap();
        drop(staging);
        assert_eq!(tree(scratch.path()), ["t/two"]);
    }

    #[test]
    fn the_rename_fallback_is_recovered_after_a_crash_between_its_renames() {
        let scratch = Scratch::new("fallback");
        let destination = scratch.path().join("t");
        fs::create_dir(&destination).unwrap();
        fs::write(destination.join("one"), "").unwrap();
        // A complete fallback swap.
        let staging = Staging::create("t", scratch.path(), "t").unwrap();
        fs::write(staging.path().join("two"), "").unwrap();
        let previous = swap_by_renames("t", staging.path(), &destination, "t").unwrap().unwrap();
        assert!(parse_hidden(previous.file_name().unwrap().to_str().unwrap()) == Some(("t", OLD)));
        assert_eq!(tree(&destination), ["two"]);
        // As if the process died right after moving the destination aside: the next clean-up
        // puts it back; and an `old` leftover beside a present destination is deleted.
        fs::rename(&destination, scratch.path().join(".t.old-1-1")).unwrap();
        clean_leftovers("t", scratch.path(), |name| (name == "t").then(|| destination.clone())).unwrap();
        assert_eq!(tree(&destination), ["two"]);
        clean_leftovers("t", scratch.path(), |name| (name == "t").then(|| destination.clone())).unwrap();
        assert!(!previous.exists());
        drop(staging);
        assert_eq!(tree(scratch.path()), ["t/two"]);
    }

    #[test]
    fn clean_up_spares_locked_entries_and_other_names() {
        let scratch = Scratch::new("clean");
        let live = Staging::create("t", scratch.path(), "t").unwrap();
        fs::create_dir_all(scratch.path().join(".t.staging-1-1/part")).unwrap();
        fs::write(scratch.path().join(".t.staging-1-1/part/f"), "").unwrap();
        fs::write(scratch.path().join(".t.tmp-1-2"), "").unwrap();
        fs::create_dir(scratch.path().join(".u.staging-1-3")).unwrap();
        clean_leftovers("t", scratch.path(), |name| (name == "t").then(|| scratch.path().join("t"))).unwrap();
        let live_name = live.path().file_name().unwrap().to_str().unwrap().to_owned();
        let mut expected = vec![".u.staging-1-3".to_owned(), live_name];
        expected.sort();
        let mut left: Vec<String> = fs::read_dir(scratch.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, expected);
    }

    #[test]
    fn files_are_replaced_atomically() {
        let scratch = Scratch::new("file");
        let path = scratch.path().join("reports/r.csv");
        write_file_atomically("t", &path, b"one").unwrap();
        fs::write(scratch.path().join("reports/.r.csv.tmp-1-1"), "half").unwrap();
        write_file_atomically("t", &path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(tree(scratch.path()), ["reports/r.csv"]);
    }
}
