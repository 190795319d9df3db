//! How the host asks glibc's allocator to behave. Stages run on their own threads at once and
//! each passes batches of tens of megabytes; by default glibc gives every thread its own arena,
//! which keeps its high-water mark after the batches are freed, and raises its mmap threshold
//! after the first large free, so later large buffers come from those arenas too. Together that
//! held 1.5x the memory the stages were using. Two arenas and a fixed 1 MiB mmap threshold (large
//! buffers mapped, and unmapped when freed) keep the resident size near what is live, for a few
//! percent more system time.
//!
//! `MALLOC_ARENA_MAX` and `MALLOC_MMAP_THRESHOLD_` in the environment still win: glibc reads them
//! before `main`, and this leaves a setting alone when its variable is set.

/// Applies the settings above (glibc only; elsewhere nothing to do).
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const ARENAS: libc::c_int = 2;
        const MMAP_THRESHOLD: libc::c_int = 1 << 20;
        // SAFETY: mallopt only changes allocator parameters; it is called before any thread
        // that allocates is started.
        unsafe {
            if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
                libc::mallopt(libc::M_ARENA_MAX, ARENAS);
            }
            if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            }
        }
    }
}
