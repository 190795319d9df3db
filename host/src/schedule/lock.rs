//! One scheduler per state directory: `host schedule` holds an `flock` on
//! `<state>/scheduler.lock` (with its pid written in it) for as long as it runs; a second one
//! on the same directory is refused, naming the holder.

use std::fs::{self, File, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock on a state directory's scheduling, held until dropped or the process ends.
#[derive(Debug)]
pub struct SchedulerLock {
    file: File,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerLockError {
    #[error(
        "another scheduler (pid {pid}) already runs on this state directory: it holds {}; stop it first",
        path.display()
    )]
    Held { path: PathBuf, pid: String },
    #[error("cannot take the scheduler lock {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl SchedulerLock {
    /// Takes the lock of `state_dir` (created if missing).
    pub fn acquire(state_dir: &Path) -> Result<Self, SchedulerLockError> {
        let path = state_dir.join("scheduler.lock");
        let io = |source| SchedulerLockError::Io { path: path.clone(), source };
        fs::create_dir_all(state_dir).map_err(io)?;
        let mut file = File::options().create(true).truncate(false).read(true).write(true).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim().chars().filter(char::is_ascii_digit).take(10).collect::<String>();
                let pid = if pid.is_empty() { "unknown".to_owned() } else { pid };
                return Err(SchedulerLockError::Held { path, pid });
            }
            Err(TryLockError::Error(error)) => return Err(io(error)),
        }
        file.set_len(0).and_then(|()| file.rewind()).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(SchedulerLock { file })
    }
}

impl Drop for SchedulerLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}
