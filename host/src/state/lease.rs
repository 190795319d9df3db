//! Which runs still have a live host: a run's process holds an `flock` on
//! `<state>/runs/<run_id>/.lease` for as long as the run goes. A run the store says is `running`
//! with nobody holding its lease was abandoned (the host was killed, or the machine stopped);
//! the next `host run` on the store marks it failed, so it doesn't stay `running` forever.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// What a stage that was running or waiting when its run was abandoned is marked with.
pub const ABANDONED: &str = "abandoned: the host running it stopped before the run finished";

/// The lease on one run, held until dropped or the process ends.
#[derive(Debug)]
pub struct RunLease {
    file: File,
}

impl RunLease {
    /// Takes the lease on run `run_id` of the store in `state_dir`.
    pub fn take(state_dir: &Path, run_id: &str) -> io::Result<Self> {
        Self::lock(state_dir, run_id, false)
    }

    /// Takes a shared hold on run `run_id`'s lease: what a run reusing that run's artifacts
    /// (`--resume`, `--only`) holds while it may read them, so that retention, which takes the
    /// lease itself before deleting them, leaves them alone. Shared holds don't exclude one
    /// another, and a run with only shared holds is not [live](is_live). Fails with
    /// [`io::ErrorKind::WouldBlock`] while the run is running or being pruned.
    pub fn share(state_dir: &Path, run_id: &str) -> io::Result<Self> {
        Self::lock(state_dir, run_id, true)
    }

    fn lock(state_dir: &Path, run_id: &str, shared: bool) -> io::Result<Self> {
        let path = lease_path(state_dir, run_id);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = File::options().create(true).truncate(false).write(true).open(&path)?;
        match if shared { file.try_lock_shared() } else { file.try_lock() } {
            Ok(()) => Ok(RunLease { file }),
            Err(TryLockError::WouldBlock) => {
                let why = if shared { " (the run is running, or being pruned)" } else { "" };
                Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("{} is held by another process{why}", path.display()),
                ))
            }
            Err(TryLockError::Error(error)) => Err(error),
        }
    }
}

impl Drop for RunLease {
    fn drop(&mut self) {
        // Explicitly: a child forked meanwhile would keep a closed descriptor's lock alive.
        let _ = self.file.unlock();
    }
}

fn lease_path(state_dir: &Path, run_id: &str) -> PathBuf {
    state_dir.join("runs").join(run_id).join(".lease")
}

/// Whether a live process holds run `run_id`'s lease. A run without a lease file (one recorded
/// by a host from before leases, or whose directory was removed) has no live host either.
pub fn is_live(state_dir: &Path, run_id: &str) -> bool {
    match File::open(lease_path(state_dir, run_id)) {
        Ok(file) => matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock)),
        Err(_) => false,
    }
}
