//! Real headless Chromium driven through chromedriver (WebDriver).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use tokio::process::{Child, Command};

use crate::helpers::{ADMIN_PASSWORD, spawn_app};

pub struct Browser {
    pub client: Client,
    _driver: Child,
    profile: PathBuf,
}

impl Browser {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned()),
        )
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting chromedriver (install Debian's chromium-driver)");
        let profile = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("chrome-{}", stagecoach::auth::random::token_hex(4)));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-quic", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut last_error = None;
        for _ in 0..50 {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        _driver: driver,
                        profile,
                    };
                }
                Err(err) => last_error = Some(err),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("could not start a browser session: {last_error:?}");
    }

    /// Saves a screenshot under `target/screenshots/`.
    pub async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

#[tokio::test]
async fn a_user_signs_in_through_the_form_and_lands_on_the_dashboard() {
    let app = spawn_app().await;
    stagecoach::domain::demo::seed(&mut app.conn()).unwrap();
    let browser = Browser::start().await;
    let c = &browser.client;

    c.goto(&app.url("/")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    browser.screenshot("login").await;

    // A wrong password: the message shows, the username stays.
    c.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("admin")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("wrong password!")
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = c
        .wait()
        .for_element(Locator::Id("login-error"))
        .await
        .unwrap();
    assert!(error.text().await.unwrap().contains("did not work"));
    let kept = c
        .find(Locator::Id("username"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("admin"));
    browser.screenshot("login-failed").await;

    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(ADMIN_PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css(".pipeline"))
        .await
        .unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    let body = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Storefront"));
    assert!(body.contains("Production"));
    let header = c
        .find(Locator::Css(".usermenu"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(header.contains("Administrator"));
    browser.screenshot("dashboard").await;

    // Sign out through the header's form.
    c.find(Locator::Css(".usermenu button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("username")).await.unwrap();
    let notice = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(notice.contains("You are signed out."));
    browser.close().await;
}
