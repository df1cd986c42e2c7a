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
        let profile = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "chrome-{}",
            stagecoach::crypto::random::token_hex(4)
        ));
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

    /// Saves a screenshot of the whole page under `target/screenshots/`.
    pub async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(900)
            .clamp(600, 4000) as u32;
        let _ = self.client.set_window_size(1280, height + 120).await;
        let png = self.client.screenshot().await.expect("screenshot");
        let _ = self.client.set_window_size(1280, 900).await;
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

/// Signs in through the form.
async fn sign_in(c: &Client, app: &crate::helpers::TestApp, username: &str, password: &str) {
    c.goto(&app.url("/login")).await.unwrap();
    c.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(username)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css(".usermenu"))
        .await
        .unwrap();
}

/// Reloads until the page shows `css` (the worker runs in the background).
async fn reload_until(c: &Client, css: &str) -> fantoccini::elements::Element {
    for _ in 0..100 {
        if let Ok(element) = c.find(Locator::Css(css)).await {
            return element;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.refresh().await.unwrap();
    }
    panic!("{css} never appeared");
}

#[tokio::test]
async fn a_release_is_created_promoted_to_production_and_loses_its_delete_button() {
    let app = spawn_app().await;
    let (project, _) = app.project("Storefront");
    for version in ["2.3.0", "2.3.1"] {
        app.release(&project, version);
    }
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &app, "admin", ADMIN_PASSWORD).await;

    // A failed validation keeps what was typed.
    c.goto(&app.url("/projects/storefront/releases/new"))
        .await
        .unwrap();
    c.find(Locator::Id("version"))
        .await
        .unwrap()
        .send_keys("2.4.0-rc.1")
        .await
        .unwrap();
    c.find(Locator::Id("description"))
        .await
        .unwrap()
        .send_keys("New checkout flow.")
        .await
        .unwrap();
    c.find(Locator::Id("artifacts[0].name"))
        .await
        .unwrap()
        .send_keys("storefront-web")
        .await
        .unwrap();
    c.find(Locator::Id("artifacts[0].reference"))
        .await
        .unwrap()
        .send_keys("web:2.4.0-rc.1")
        .await
        .unwrap();
    c.find(Locator::Css("button.button-primary[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let summary = c
        .wait()
        .for_element(Locator::Css(".error-summary"))
        .await
        .unwrap();
    assert!(summary.text().await.unwrap().contains("Enter a title."));
    let kept = c
        .find(Locator::Id("version"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("2.4.0-rc.1"));
    let kept = c
        .find(Locator::Id("artifacts[0].name"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("storefront-web"));
    browser.screenshot("release-form-errors").await;

    c.find(Locator::Id("title"))
        .await
        .unwrap()
        .send_keys("One-page checkout")
        .await
        .unwrap();
    c.find(Locator::Css("button.button-primary[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css(".lineage"))
        .await
        .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/releases/2.4.0-rc.1")
    );

    // While it is only in Development, it can be deleted.
    reload_until(c, "#stage-qa .deploy-form").await;
    assert!(c.find(Locator::Id("delete-release")).await.is_ok());

    for env in ["qa", "staging", "production"] {
        // A fresh page: the last one's success message must not stand in
        // for this deploy's (the form may already be there, with workers
        // this quick, so reload_until would not reload).
        c.refresh().await.unwrap();
        let form = reload_until(c, &format!("#stage-{env} .deploy-form")).await;
        if env == "production" {
            let label = c
                .find(Locator::Id("version_label-production"))
                .await
                .unwrap();
            label.clear().await.unwrap();
            label.send_keys("2.4.0").await.unwrap();
        }
        c.find(Locator::Id(&format!("comment-{env}")))
            .await
            .unwrap()
            .send_keys("Looks good")
            .await
            .unwrap();
        form.find(Locator::Css("button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.wait()
            .for_element(Locator::Css(".flash-success"))
            .await
            .unwrap();
        if env == "qa" {
            // Promoted: the delete button is gone, and the page says why.
            let why = c
                .find(Locator::Id("delete-blocked"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(why.contains("Deployed to QA"), "{why}");
            assert!(c.find(Locator::Id("delete-release")).await.is_err());
        }
    }
    reload_until(c, ".lineage-node.live:last-child").await;
    let lineage = c
        .find(Locator::Css(".lineage"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(lineage.contains("2.4.0-rc.1") && lineage.contains("2.4.0"));
    browser.screenshot("release-page").await;

    c.goto(&app.url("/")).await.unwrap();
    let pipeline = c
        .find(Locator::Css(".pipeline"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(pipeline.contains("2.4.0"), "{pipeline}");
    browser.screenshot("dashboard-after-promotion").await;

    c.goto(&app.url("/projects/storefront/releases"))
        .await
        .unwrap();
    browser.screenshot("release-list").await;
    c.goto(&app.url("/projects/storefront/environments/production"))
        .await
        .unwrap();
    let live = c
        .find(Locator::Css(".live-label"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(live, "2.4.0");
    browser.screenshot("environment-page").await;
    c.goto(&app.url("/projects/storefront")).await.unwrap();
    browser.screenshot("project-page").await;
    c.goto(&app.url("/admin/projects/storefront"))
        .await
        .unwrap();
    browser.screenshot("admin-pipeline").await;
    browser.close().await;
}

/// Picks the option whose text contains `text` in the select `id`.
async fn choose(c: &Client, id: &str, text: &str) {
    let select = c.find(Locator::Id(id)).await.unwrap();
    for option in select.find_all(Locator::Css("option")).await.unwrap() {
        if option.text().await.unwrap().contains(text) {
            option.click().await.unwrap();
            return;
        }
    }
    panic!("no option {text} in {id}");
}

#[tokio::test]
async fn an_admin_gives_a_team_deployer_on_qa_and_its_member_promotes_to_qa_but_not_staging() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Storefront");
    let release = app.release(&project, "1.4.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &app, "admin", ADMIN_PASSWORD).await;

    c.goto(&app.url("/admin/users")).await.unwrap();
    c.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("sam")
        .await
        .unwrap();
    c.find(Locator::Id("display_name"))
        .await
        .unwrap()
        .send_keys("Sam Rivera")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("sam-password-123")
        .await
        .unwrap();
    c.find(Locator::Css(
        "form[action='/admin/users'] button[type=submit]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();
    c.goto(&app.url("/admin/users")).await.unwrap();
    browser.screenshot("admin-users").await;

    c.goto(&app.url("/admin/teams")).await.unwrap();
    c.find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("QA crew")
        .await
        .unwrap();
    c.find(Locator::Css(
        "form[action='/admin/teams'] button[type=submit]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();
    c.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("sam")
        .await
        .unwrap();
    c.find(Locator::Css("form[action$='/members'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css(".member-row"))
        .await
        .unwrap();
    browser.screenshot("admin-team").await;

    c.goto(&app.url("/admin/projects/storefront/access"))
        .await
        .unwrap();
    choose(c, "holder", "Team: QA crew").await;
    choose(c, "role", "deployer").await;
    choose(c, "environment", "QA").await;
    c.find(Locator::Css("form[action$='/access'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css(".holder-team"))
        .await
        .unwrap();
    browser.screenshot("admin-access").await;
    c.goto(&app.url("/admin/audit")).await.unwrap();
    browser.screenshot("admin-audit").await;

    // Sign out; the team member signs in.
    c.find(Locator::Css(".usermenu button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("username")).await.unwrap();
    sign_in(c, &app, "sam", "sam-password-123").await;
    c.goto(&app.url("/projects/storefront/releases/1.4.0"))
        .await
        .unwrap();
    let form = c
        .find(Locator::Css("#stage-qa .deploy-form"))
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();
    let why = reload_until(c, "#stage-staging .why-not")
        .await
        .text()
        .await
        .unwrap();
    for _ in 0..50 {
        if c.find(Locator::Css("#stage-staging .why-not"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("deployer role")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.refresh().await.unwrap();
    }
    let why_now = c
        .find(Locator::Css("#stage-staging .why-not"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(why_now, "Needs the deployer role on Staging.", "was: {why}");
    assert!(
        c.find(Locator::Css("#stage-staging .deploy-form"))
            .await
            .is_err()
    );
    assert!(
        c.find(Locator::Css(".mainnav a[href='/admin/projects']"))
            .await
            .is_err(),
        "no admin link for sam"
    );
    browser.screenshot("team-member-release-page").await;
    browser.close().await;
}

#[tokio::test]
async fn a_running_deployment_log_grows_on_its_page_without_reloading() {
    let app = spawn_app().await;
    let go = crate::health::tempdir("live-log").join("go");
    let (project, pipeline) = app.project("Storefront");
    stagecoach::domain::steps::add(
        &mut app.conn(),
        &crate::helpers::fixtures::admin(),
        &pipeline[0],
        &stagecoach::domain::steps::StepInput {
            kind: "script".into(),
            name: "Roll out web".into(),
            // Waits for the test to open the page, so the lines arrive while
            // it watches, however slow the machine.
            script: format!(
                "echo \"rolling out $STAGECOACH_RELEASE_VERSION\"\nfor i in $(seq 1 600); do [ -f {go} ] && break; sleep 0.1; done\nfor i in $(seq 1 12); do echo \"instance $i of 12 healthy\"; sleep 0.35; done\necho 'smoke test passed' >&2",
                go = go.display()
            ),
            url: String::new(),
            timeout_seconds: "60".into(),
        },
    )
    .unwrap();
    let release = app.release(&project, "2.5.0");
    app.wait_for(release.id, pipeline[0].id, "running").await;
    let go_file = go.clone();
    let deployment: i64 = app.count(&format!(
        "SELECT id AS n FROM deployments WHERE release_id = {}",
        release.id
    ));
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &app, "admin", ADMIN_PASSWORD).await;
    c.goto(&app.url(&format!("/deployments/{deployment}")))
        .await
        .unwrap();
    let url_before = c.current_url().await.unwrap();
    std::fs::write(&go_file, "go").unwrap();
    let lines = |c: &Client| {
        let c = c.clone();
        async move {
            c.find_all(Locator::Css("#log .log-line"))
                .await
                .unwrap()
                .len()
        }
    };
    let first = lines(c).await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let later = lines(c).await;
    assert!(
        later > first,
        "the log grew from {first} to {later} lines without a reload"
    );
    // No navigation happened: the script appended the lines.
    assert_eq!(c.current_url().await.unwrap(), url_before);
    browser.screenshot("deployment-running").await;
    // When it ends, the page settles on the final state.
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#deployment-status[data-status='succeeded']"))
        .await
        .unwrap();
    let log = c
        .find(Locator::Id("log"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains("instance 12 of 12 healthy") && log.contains("smoke test passed"));
    browser.screenshot("deployment-page").await;
    browser.close().await;
}

#[tokio::test]
async fn a_team_lead_approves_a_production_deployment_from_the_inbox_and_it_runs() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Storefront");
    let mut input = stagecoach::domain::environments::PolicyInput::of(&pipeline[3]);
    input.required_approvals = "1".into();
    stagecoach::domain::environments::set_policy(
        &mut app.conn(),
        &crate::helpers::fixtures::admin(),
        &pipeline[3],
        &input,
    )
    .unwrap();
    let dev = app.create_user("rita", "rita-password-12", false);
    let lead = app.create_user("leo", "leo-password-123", false);
    for env in &pipeline {
        app.grant(dev.id, env.id, "deployer");
    }
    app.grant(lead.id, pipeline[3].id, "approver");
    let release = app.release(&project, "3.0.0");
    for env in &pipeline[..3] {
        if env.id != pipeline[0].id {
            stagecoach::domain::deployments::request(
                &mut app.conn(),
                &crate::helpers::fixtures::admin(),
                release.id,
                &stagecoach::domain::deployments::DeployInput {
                    environment_id: env.id,
                    ..Default::default()
                },
            )
            .unwrap();
        }
        app.wait_for(release.id, env.id, "succeeded").await;
    }

    let browser = Browser::start().await;
    let c = &browser.client;
    // The requester asks to deploy to Production.
    sign_in(c, &app, "rita", "rita-password-12").await;
    c.goto(&app.url("/projects/storefront/releases/3.0.0"))
        .await
        .unwrap();
    c.find(Locator::Id("comment-production"))
        .await
        .unwrap()
        .send_keys("Black Friday build")
        .await
        .unwrap();
    let form = c
        .find(Locator::Css("#stage-production .deploy-form"))
        .await
        .unwrap();
    form.find(Locator::Css("button.button-primary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = c
        .wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(flash.contains("waits for 1 approval"), "{flash}");
    c.find(Locator::Css(".usermenu button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("username")).await.unwrap();

    // The team lead sees it in the inbox and approves with a comment.
    sign_in(c, &app, "leo", "leo-password-123").await;
    let count = c
        .find(Locator::Css(".mainnav .count"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count, "1");
    c.find(Locator::Css(".mainnav a[href='/approvals']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let item = c
        .wait()
        .for_element(Locator::Css(".inbox-item"))
        .await
        .unwrap();
    let text = item.text().await.unwrap();
    assert!(
        text.contains("3.0.0 to Production")
            && text.contains("Black Friday build")
            && text.contains("Rita")
            || text.contains("rita"),
        "{text}"
    );
    browser.screenshot("approvals-inbox").await;
    item.find(Locator::Css("input[name=comment]"))
        .await
        .unwrap()
        .send_keys("Approved for the sale")
        .await
        .unwrap();
    item.find(Locator::Css("button.button-primary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = c
        .wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(flash.contains("queued"), "{flash}");
    app.wait_for(release.id, pipeline[3].id, "succeeded").await;
    let deployment: i64 = app.count(&format!(
        "SELECT id AS n FROM deployments WHERE environment_id = {}",
        pipeline[3].id
    ));
    c.goto(&app.url(&format!("/deployments/{deployment}")))
        .await
        .unwrap();
    let approvals = c
        .find(Locator::Id("approvals"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(approvals.contains("Approved for the sale"));
    browser.screenshot("approved-deployment").await;
    browser.close().await;
}

#[tokio::test]
async fn deploy_as_far_as_offers_only_what_the_user_may_reach_and_logs_stay_with_their_environment()
{
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Shop");
    let release = app.release(&project, "4.0.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    // Deployer on Development and QA, no role on Staging or Production.
    let user = app.create_user("petra", "petra-password-1", false);
    app.grant(user.id, pipeline[0].id, "deployer");
    app.grant(user.id, pipeline[1].id, "deployer");
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &app, "petra", "petra-password-1").await;
    c.goto(&app.url("/projects/shop/releases/4.0.0"))
        .await
        .unwrap();
    c.find(Locator::Css(
        "form.deploy-form:has(#target-qa) .more-options summary",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let select = c.find(Locator::Id("target-qa")).await.unwrap();
    let mut offered = Vec::new();
    for option in select.find_all(Locator::Css("option")).await.unwrap() {
        offered.push(option.text().await.unwrap());
    }
    assert_eq!(
        offered,
        vec!["only to QA"],
        "Staging needs a role petra lacks"
    );
    browser.screenshot("deploy-as-far-as-offers").await;
    c.find(Locator::Css(
        "form.deploy-form:has(#target-qa) button[type=submit]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap();
    app.wait_for(release.id, pipeline[1].id, "succeeded").await;

    // A Staging deployment by someone else: petra sees it, not its log.
    stagecoach::domain::deployments::request(
        &mut app.conn(),
        &crate::helpers::fixtures::admin(),
        release.id,
        &stagecoach::domain::deployments::DeployInput {
            environment_id: pipeline[2].id,
            ..Default::default()
        },
    )
    .unwrap();
    app.wait_for(release.id, pipeline[2].id, "succeeded").await;
    let id = app.count(&format!(
        "SELECT id AS n FROM deployments WHERE environment_id = {}",
        pipeline[2].id
    ));
    c.goto(&app.url(&format!("/deployments/{id}")))
        .await
        .unwrap();
    let note = c.find(Locator::Id("log-hidden")).await.unwrap();
    assert!(
        note.text()
            .await
            .unwrap()
            .contains("with a role on Staging")
    );
    assert!(c.find(Locator::Id("log")).await.is_err());
    browser.screenshot("deployment-log-hidden").await;
    browser.close().await;
}

#[tokio::test]
async fn a_user_makes_an_api_token_in_the_browser_uses_it_and_revokes_it() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Storefront");
    let user = app.create_user("casey", "casey-password-123", false);
    app.grant(user.id, pipeline[0].id, "deployer");
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &app, "casey", "casey-password-123").await;

    // From the account menu to the tokens tab.
    c.find(Locator::Css(".usermenu a.user"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::LinkText("API tokens"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("GitHub Actions")
        .await
        .unwrap();
    choose(c, "project", "Storefront").await;
    c.find(Locator::Css("input[name=roles][value=deployer]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css(
        "form[action='/account/tokens'] button[type=submit]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let secret = c
        .wait()
        .for_element(Locator::Id("issued-secret"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .expect("a value");
    assert!(secret.starts_with("stgc_"));
    browser.screenshot("account-token-created").await;
    let row = c
        .find(Locator::Css(".table tbody tr"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(row.contains("project storefront, deployer only"), "{row}");

    // The token works for what it may do.
    let api = reqwest::Client::new();
    let answer = api
        .get(app.url(&format!("/api/v1/projects/{}", project.slug)))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);

    // Revoking asks first (the page's confirm), then it stops working.
    c.find(Locator::Css("form[action$='/revoke'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    if c.accept_alert().await.is_err() {
        // No dialog: the form was sent straight away.
    }
    reload_until(c, ".badge-disabled").await;
    assert!(c.source().await.unwrap().contains("revoked"));
    assert!(
        c.find(Locator::Id("issued-secret")).await.is_err(),
        "shown once only"
    );
    browser.screenshot("account-token-revoked").await;
    // The page the tokens page points to lists every endpoint.
    c.find(Locator::LinkText("the API"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let docs = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(docs.contains("/api/v1/deployments/{id}/log"), "{docs}");
    browser.screenshot("api-docs").await;
    let answer = api
        .get(app.url("/api/v1/projects"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    browser.close().await;
}

#[tokio::test]
async fn an_admin_subscribes_a_url_to_release_events_and_sees_the_delivery() {
    let app = spawn_app().await;
    let (project, _) = app.project("Storefront");
    // A receiver that answers 200 to everything.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\nthank you",
            );
        }
    });
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &app, "admin", ADMIN_PASSWORD).await;
    c.goto(&app.url(&format!("/admin/projects/{}", project.slug)))
        .await
        .unwrap();
    c.find(Locator::LinkText("Webhooks"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Id("url"))
        .await
        .unwrap()
        .send_keys(&url)
        .await
        .unwrap();
    c.find(Locator::Css("input[name=events][value='release.created']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css(
        "form[action$='/webhooks'] button[type=submit]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let secret = c
        .wait()
        .for_element(Locator::Css("input[aria-label='Signing secret']"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(secret.starts_with("whsec_"), "{secret}");
    app.release(&project, "1.0.0");
    reload_until(c, ".badge-active").await;
    let page = c.source().await.unwrap();
    assert!(
        page.contains("release.created") && page.contains("thank you"),
        "{page}"
    );
    browser.screenshot("admin-webhook-deliveries").await;
    browser.close().await;
}

#[tokio::test]
async fn a_deployer_blocks_a_release_from_its_page_and_unblocks_it() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Storefront");
    let user = app.create_user("casey", "casey-password-123", false);
    app.grant(user.id, pipeline[0].id, "deployer");
    app.grant(user.id, pipeline[1].id, "deployer");
    let release = app.release(&project, "2.4.0");
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &app, "casey", "casey-password-123").await;
    c.goto(&app.url("/projects/storefront/releases/2.4.0"))
        .await
        .unwrap();
    assert!(c.source().await.unwrap().contains("Promote to QA"));
    c.find(Locator::Id("block-reason"))
        .await
        .unwrap()
        .send_keys("Checkout fails for saved cards")
        .await
        .unwrap();
    c.find(Locator::Id("block-release"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let banner = reload_until(c, "#release-blocked")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        banner.contains("Checkout fails for saved cards"),
        "{banner}"
    );
    let page = c.source().await.unwrap();
    assert!(!page.contains("Promote to QA"), "nothing new is offered");
    assert!(page.contains("Blocked by casey"), "{page}");
    browser.screenshot("release-blocked").await;

    c.find(Locator::Id("unblock-release"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("block-release"))
        .await
        .unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("Promote to QA"));
    assert!(!page.contains("id=\"release-blocked\""));
    browser.close().await;
}

#[tokio::test]
async fn a_deployer_rolls_an_environment_back_to_the_last_good_release() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Storefront");
    let user = app.create_user("casey", "casey-password-123", false);
    app.grant(user.id, pipeline[0].id, "deployer");
    let old = app.release(&project, "2.3.0");
    app.wait_for(old.id, pipeline[0].id, "succeeded").await;
    let new = app.release(&project, "2.4.0");
    app.wait_for(new.id, pipeline[0].id, "succeeded").await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &app, "casey", "casey-password-123").await;
    c.goto(&app.url("/projects/storefront/environments/development"))
        .await
        .unwrap();
    c.find(Locator::Id("rollback"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = c
        .wait()
        .for_element(Locator::Css(".flash-success"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        flash.contains("Rolling back Development to 2.3.0"),
        "{flash}"
    );
    app.wait_for(old.id, pipeline[0].id, "succeeded").await;
    c.refresh().await.unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("badge-rollback"), "the history marks it");
    browser.screenshot("environment-rolled-back").await;
    browser.close().await;
}

#[tokio::test]
async fn a_promoter_sees_what_a_promotion_changes_before_promoting() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Storefront");
    let user = app.create_user("casey", "casey-password-123", false);
    for env in &pipeline[..2] {
        app.grant(user.id, env.id, "deployer");
    }
    let old = app.release(&project, "2.3.0");
    app.wait_for(old.id, pipeline[0].id, "succeeded").await;
    stagecoach::domain::deployments::request(
        &mut app.conn(),
        &crate::helpers::fixtures::admin(),
        old.id,
        &stagecoach::domain::deployments::DeployInput {
            environment_id: pipeline[1].id,
            ..Default::default()
        },
    )
    .unwrap();
    app.wait_for(old.id, pipeline[1].id, "succeeded").await;
    let new = app.release(&project, "2.4.0");
    app.wait_for(new.id, pipeline[0].id, "succeeded").await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &app, "casey", "casey-password-123").await;
    c.goto(&app.url("/projects/storefront/releases/2.4.0"))
        .await
        .unwrap();
    c.find(Locator::LinkText("What changes in QA"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notes = c
        .wait()
        .for_element(Locator::Id("changes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        notes.contains("Going out to QA") && notes.contains("2.4.0"),
        "{notes}"
    );
    browser.screenshot("release-what-changes").await;
    browser.close().await;
}

#[tokio::test]
async fn an_approver_proceeds_at_a_manual_step_from_the_deployment_page() {
    let app = spawn_app().await;
    let (project, pipeline) = app.project("Storefront");
    stagecoach::domain::steps::add(
        &mut app.conn(),
        &crate::helpers::fixtures::admin(),
        &pipeline[0],
        &stagecoach::domain::steps::StepInput {
            kind: "manual".into(),
            name: "Check the dashboards".into(),
            script: "Confirm error rates are flat in Grafana.".into(),
            url: String::new(),
            timeout_seconds: "300".into(),
        },
    )
    .unwrap();
    let lead = app.create_user("lead", "lead-password-123", false);
    app.grant(lead.id, pipeline[0].id, "approver");
    let release = app.release(&project, "2.4.0");
    app.wait_for(release.id, pipeline[0].id, "running").await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &app, "lead", "lead-password-123").await;
    c.goto(&app.url("/approvals")).await.unwrap();
    reload_until(c, "#manual-waiting a")
        .await
        .click()
        .await
        .unwrap();
    let step = reload_until(c, "#manual-step-0")
        .await
        .text()
        .await
        .unwrap();
    assert!(step.contains("Confirm error rates are flat"), "{step}");
    browser.screenshot("deployment-manual-step").await;
    c.find(Locator::Id("manual-note-0"))
        .await
        .unwrap()
        .send_keys("flat for 10 minutes")
        .await
        .unwrap();
    c.find(Locator::Id("manual-proceed"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    c.refresh().await.unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("proceeded by lead"), "{page}");
    browser.close().await;
}

#[tokio::test]
async fn an_admin_adds_a_health_check_and_a_failing_app_fails_verification_with_its_evidence() {
    let app = spawn_app().await;
    let under_test = crate::verification::AppUnderTest::start(&[]);
    let (project, pipeline) = app.project("Storefront");
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &app, "admin", ADMIN_PASSWORD).await;
    let settings = "/admin/projects/storefront/environments/development/settings";
    c.goto(&app.url(settings)).await.unwrap();
    // A mistake first: the form comes back with the error beside its field.
    for (id, text) in [("check-name", "Health"), ("check-url", "${APP/failing")] {
        c.find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }
    c.find(Locator::Css("#check-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = c
        .wait()
        .for_element(Locator::Css("#check-form .has-error .field-error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("no closing }"), "{error}");
    let url = c.find(Locator::Id("check-url")).await.unwrap();
    assert_eq!(
        url.prop("value").await.unwrap().as_deref(),
        Some("${APP/failing")
    );
    url.clear().await.unwrap();
    url.send_keys(&format!("{}/failing", under_test.base))
        .await
        .unwrap();
    for (id, value) in [("check-interval", "1"), ("check-within", "2")] {
        let field = c.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }
    c.find(Locator::Css("#check-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let listed = c
        .wait()
        .for_element(Locator::Id("checks"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains("every 1 s for up to 2 s"), "{listed}");
    browser.screenshot("admin-environment-checks").await;

    let release = app.release(&project, "2.4.0");
    app.wait_for(release.id, pipeline[0].id, "failed").await;
    let id = app.count("SELECT max(id) AS n FROM deployments");
    c.goto(&app.url(&format!("/deployments/{id}")))
        .await
        .unwrap();
    let page = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Verification failed: check “Health” still failed after 2 s: HTTP 503"),
        "{page}"
    );
    assert!(page.contains("✘ Health: HTTP 503, expected 200"), "{page}");
    browser.screenshot("deployment-verification-failed").await;
    c.goto(&app.url("/projects/storefront/releases/2.4.0"))
        .await
        .unwrap();
    let banner = c
        .find(Locator::Id("release-blocked"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(banner.contains("Stagecoach"), "{banner}");
    browser.screenshot("release-blocked-by-verification").await;
    browser.close().await;
}

/// Script payloads, each marked with `data-xss` so any that became markup
/// is found in the page whatever the Content-Security-Policy blocks.
const XSS: &[&str] = &[
    "<script data-xss>window.__xss = 1</script>",
    "<img data-xss src=x onerror=\"window.__xss = 2\">",
    "\"><svg data-xss onload=\"window.__xss = 3\">",
    "'><b data-xss onmouseover='window.__xss = 4'>x</b>",
    "</textarea></title><i data-xss>",
];

/// XSS payloads in every text field people fill in, shown on every page
/// that shows them, in a real browser: no payload became markup, no
/// script ran, no dialog opened, and each is shown as the text it was.
#[tokio::test]
async fn script_typed_into_any_field_is_shown_as_text_and_never_runs() {
    use stagecoach::domain::{
        approvals, blocks, checks, deployments, projects, releases, steps, teams, tokens, variables,
    };
    let app = spawn_app().await;
    let admin = crate::helpers::fixtures::admin();
    let payload = |i: usize| XSS[i % XSS.len()].to_owned();
    let mut conn = app.conn();
    let project = projects::create(
        &mut conn,
        &admin,
        &projects::ProjectInput {
            name: format!("Shop {}", payload(0)),
            slug: "shop".into(),
            description: payload(1),
        },
    )
    .unwrap();
    let pipeline = stagecoach::domain::environments::list(&mut conn, project.id).unwrap();
    crate::helpers::fixtures::policy(&app, &pipeline[1], |p| p.required_approvals = "1".into());
    steps::add(
        &mut conn,
        &admin,
        &pipeline[0],
        &steps::StepInput {
            kind: "script".into(),
            name: format!("Say {}", payload(2)),
            script: format!("echo '{}'", payload(3).replace('\'', "")),
            url: String::new(),
            timeout_seconds: "30".into(),
        },
    )
    .unwrap();
    checks::add(
        &mut conn,
        &admin,
        &pipeline[0],
        &checks::CheckInput {
            kind: "script".into(),
            name: format!("Check {}", payload(4)),
            script: "true".into(),
            ..checks::CheckInput::blank()
        },
    )
    .unwrap();
    variables::set(
        &mut conn,
        &admin,
        &stagecoach::domain::secrets::SecretBox::from_secret_key(crate::helpers::TEST_SECRET_KEY),
        &pipeline[0],
        &variables::VariableInput {
            name: "GREETING".into(),
            value: payload(0),
            secret: false,
        },
    )
    .unwrap();
    let team = teams::create(&mut conn, &admin, &format!("Crew {}", payload(1))).unwrap();
    let mallory = stagecoach::domain::users::create(
        &mut conn,
        &admin,
        "mallory",
        &format!("Mallory {}", payload(2)),
        "mallory-password-1",
        false,
    )
    .unwrap();
    teams::add_member(&mut conn, &admin, &team, "mallory").unwrap();
    tokens::create(
        &mut conn,
        &admin,
        crate::helpers::fixtures::ADMIN_ID,
        &tokens::NewToken {
            name: format!("ci {}", payload(3)),
            ..Default::default()
        },
    )
    .unwrap();
    let release = releases::create(
        &mut conn,
        &admin,
        &project,
        &releases::ReleaseInput {
            version: "1.0.0".into(),
            title: format!("Checkout {}", payload(4)),
            description: XSS.join("\n"),
            artifacts: vec![releases::ArtifactInput {
                name: format!("web {}", payload(0)),
                reference: format!("registry/web:1.0.0{}", payload(1)),
                url: String::new(),
                sha256: String::new(),
            }],
        },
    )
    .unwrap();
    drop(conn);
    app.wait_for(release.id, pipeline[0].id, "succeeded").await;
    let mut conn = app.conn();
    let waiting = deployments::request(
        &mut conn,
        &admin,
        release.id,
        &deployments::DeployInput {
            environment_id: pipeline[1].id,
            comment: format!("Ship {}", payload(2)),
            ..Default::default()
        },
    )
    .unwrap();
    let newer = releases::create(
        &mut conn,
        &admin,
        &project,
        &releases::ReleaseInput {
            version: "1.1.0".into(),
            title: payload(3),
            ..Default::default()
        },
    )
    .unwrap();
    blocks::block(
        &mut conn,
        &admin,
        newer.id,
        &format!("Broken {}", payload(4)),
    )
    .unwrap();
    approvals::decide(
        &mut conn,
        &crate::helpers::fixtures::person(&mallory),
        waiting.id,
        &approvals::Decision::Approve,
        &payload(0),
    )
    .ok();
    drop(conn);

    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &app, "admin", ADMIN_PASSWORD).await;
    let search = format!(
        "/projects/shop/releases?q={}",
        XSS[1].replace(' ', "+").replace('"', "%22")
    );
    let pages = [
        "/".to_owned(),
        "/projects/shop".to_owned(),
        "/projects/shop/releases".to_owned(),
        search,
        "/projects/shop/releases/1.0.0".to_owned(),
        "/projects/shop/releases/1.1.0".to_owned(),
        "/projects/shop/environments/development".to_owned(),
        "/projects/shop/environments/qa".to_owned(),
        format!("/deployments/{}", waiting.id),
        "/approvals".to_owned(),
        "/admin/audit".to_owned(),
        "/admin/users".to_owned(),
        format!("/admin/users/{}", mallory.id),
        "/admin/teams".to_owned(),
        format!("/admin/teams/{}", team.id),
        "/admin/projects/shop".to_owned(),
        "/admin/projects/shop/environments/development/settings".to_owned(),
        "/admin/projects/shop/access".to_owned(),
        "/admin/tokens".to_owned(),
        "/account/tokens".to_owned(),
        "/projects/shop/compare?from=1.0.0&to=1.1.0".to_owned(),
    ];
    let mut shown = 0;
    for path in &pages {
        c.goto(&app.url(path)).await.unwrap();
        assert!(c.get_alert_text().await.is_err(), "{path}: a dialog opened");
        let found = c
            .execute(
                "return [document.querySelectorAll('[data-xss]').length, \
                         window.__xss === undefined, document.body.innerText]",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(found[0], 0, "{path}: a payload became markup");
        assert_eq!(found[1], true, "{path}: a payload's script ran");
        let text = found[2].as_str().unwrap_or_default();
        assert!(
            !text.contains("Page not found") && !text.contains("Something went wrong"),
            "{path}: {text}"
        );
        shown += XSS.iter().filter(|p| text.contains(*p)).count();
        if path == "/projects/shop/releases/1.0.0" {
            browser.screenshot("xss-release-page").await;
        }
    }
    assert!(
        shown >= 20,
        "the payloads are shown as text ({shown} sightings)"
    );
    browser.close().await;
}
