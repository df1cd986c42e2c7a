//! The README's run command, as a newcomer would use it: no DATABASE_URL,
//! a private PostgreSQL in the data directory, stopped on SIGTERM, data kept.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::health::tempdir;
use crate::helpers::new_client;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_serve(data_dir: &Path, port: u16) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stagecoach"))
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env_remove("STAGECOACH_ADMIN_PASSWORD")
        .env("STAGECOACH_DATA_DIR", data_dir)
        .env("STAGECOACH_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting stagecoach serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

async fn wait_until_healthy(port: u16) {
    let client = new_client();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(90) {
        let response = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await;
        if response.is_ok_and(|r| r.status().as_u16() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("stagecoach serve did not become ready");
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("serve did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn login(port: u16, password: &str) -> u16 {
    let client = new_client();
    let base = format!("http://127.0.0.1:{port}");
    let html = client
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = crate::helpers::csrf_token_in(&html);
    client
        .post(format!("{base}/login"))
        .form(&[
            ("username", "admin"),
            ("password", password),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn serve_without_a_database_url_runs_its_own_postgres_stops_it_on_sigterm_and_keeps_the_data()
{
    let data_dir = tempdir("serve");
    let port = free_port();
    let (child, lines) = start_serve(&data_dir, port);
    wait_until_healthy(port).await;
    let output: Vec<String> = lines.try_iter().collect();
    let password = output
        .iter()
        .find_map(|l| l.trim().strip_prefix("password: ").map(str::to_owned))
        .unwrap_or_else(|| panic!("the first start prints the admin password: {output:?}"));
    assert_eq!(login(port, &password).await, 303);

    let key = std::fs::metadata(data_dir.join("secret_key")).expect("a generated secret key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);

    let status = terminate(child);
    assert!(status.success(), "serve exited with {status}");
    assert!(
        !data_dir.join("postgres/postmaster.pid").exists(),
        "the private PostgreSQL was stopped with the app"
    );

    // A second start reuses the cluster and its data: same admin, no new password.
    let (child, lines) = start_serve(&data_dir, port);
    wait_until_healthy(port).await;
    assert_eq!(login(port, &password).await, 303);
    let output: Vec<String> = lines.try_iter().collect();
    assert!(
        !output.iter().any(|l| l.contains("password:")),
        "{output:?}"
    );
    assert!(terminate(child).success());
    let _ = std::fs::remove_dir_all(&data_dir);
}
