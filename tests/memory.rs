//! Password hashing on many threads leaves the process about as large as
//! it found it (see `stagecoach::memory`). Its own test binary: the figure
//! is the whole process's, which other tests would move.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::pedantic,
    reason = "test code"
)]

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

#[test]
fn hashing_on_eight_threads_gives_the_memory_back() {
    stagecoach::memory::return_large_blocks();
    // Warm up: the first hash maps libraries and the allocator's arena.
    stagecoach::crypto::password::hash("warm-up-password-1").unwrap();
    let before = resident_kib();
    // Threads that stay alive, each hashing twice, as blocking-pool
    // threads do: with glibc's moving threshold each kept ~19 MiB.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(9));
    let threads: Vec<_> = (0..8)
        .map(|n| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                for round in 0..2 {
                    stagecoach::crypto::password::hash(&format!("password-{n}-{round}-xyz"))
                        .unwrap();
                }
                barrier.wait();
                // Measured while the threads (and their arenas) still live.
                barrier.wait();
            })
        })
        .collect();
    barrier.wait();
    let after = resident_kib();
    barrier.wait();
    for thread in threads {
        thread.join().unwrap();
    }
    let grown_mib = after.saturating_sub(before) / 1024;
    eprintln!("resident memory grew {grown_mib} MiB after 16 hashes on 8 threads");
    assert!(
        grown_mib < 40,
        "hashing on 8 threads kept {grown_mib} MiB (about 19 MiB per thread means large blocks stay in arenas)"
    );
}
