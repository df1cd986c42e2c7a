//! How the process gives memory back.
//!
//! Each sign-in hashes a password with argon2id, which takes a 19 MiB block
//! for a few milliseconds. glibc's malloc raises its mmap threshold to the
//! size of the last large block freed, so from the second hash on those
//! blocks come from the arena of whichever blocking thread ran the hash and
//! stay there: the server grew by about 19 MiB per blocking thread that
//! ever hashed (39 MB to 240 MB after 48 sign-ins in `bench/run`).
//!
//! A fixed threshold keeps every large block mapped on its own, so freeing
//! it returns it to the system at once.

/// Blocks at least this large are mapped on their own and unmapped when
/// freed: argon2's, a large log upload; not the small allocations of a page.
pub const LARGE_BLOCK: usize = 1024 * 1024;

/// Sets the allocator so large blocks go back to the system when freed.
/// Called once at start, before any thread is spawned.
#[allow(unsafe_code)]
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; setting the
        // threshold also turns off its dynamic adjustment.
        let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE_BLOCK as libc::c_int) };
        if set != 1 {
            tracing::warn!("could not set the allocator's mmap threshold");
        }
    }
}
