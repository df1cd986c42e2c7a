//! Idle workers start a queued deployment when it is queued, not at their
//! next poll: the database announces it and the workers listen.

use std::time::{Duration, Instant};

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn an_idle_worker_starts_a_queued_deployment_long_before_its_next_poll() {
    // A poll every 5 s: only the announcement can explain a quick start.
    let app = spawn_app_with(|s| s.worker.poll_interval = Duration::from_secs(5)).await;
    let (project, pipeline) = app.project("Shop");
    // Let the worker settle into its wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut took = Vec::new();
    for n in 0..5 {
        let started = Instant::now();
        let release = app.release(&project, &format!("1.{n}.0"));
        app.wait_for(release.id, pipeline[0].id, "succeeded").await;
        took.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    took.sort();
    let median = took[took.len() / 2];
    println!("queued to succeeded, no steps: median {median:?}, all {took:?}");
    assert!(
        took.iter().all(|t| *t < Duration::from_secs(2)),
        "every deployment started well before the 5 s poll: {took:?}"
    );
}
