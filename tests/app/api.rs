//! The JSON API under `/api/v1`: tokens (scope, expiry, revocation, the
//! owner's grants of the moment), every endpoint's answer and refusals, and
//! the error shape.

use diesel::prelude::*;
use serde_json::{Value, json};
use stagecoach::domain::ids::UserId;
use stagecoach::domain::projects::Project;
use stagecoach::domain::tokens::{self, NewToken};

use crate::helpers::{TestApp, fixtures::admin, spawn_app, spawn_app_with};

/// A token for `owner`, made as the admin would make it.
pub fn token(app: &TestApp, owner: UserId, project: &str, roles: &[&str]) -> String {
    tokens::create(
        &mut app.conn(),
        &admin(),
        owner,
        &NewToken {
            name: "ci".into(),
            project: project.into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            ..Default::default()
        },
    )
    .expect("a token")
    .secret
}

/// An API call, its answer checked against the OpenAPI document.
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method.clone(), app.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("an answer");
    answer(method.as_str(), path, response).await
}

/// The status and JSON body (null when empty) of an API answer, after
/// checking both against the OpenAPI document.
async fn answer(method: &str, path: &str, response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let body: Option<Value> = (!text.is_empty())
        .then(|| serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON, not {text}")));
    crate::openapi::check(method, path, status, body.as_ref());
    (status, body.unwrap_or(Value::Null))
}

pub async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    call(app, reqwest::Method::GET, path, token, None).await
}

pub async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, reqwest::Method::POST, path, token, Some(body)).await
}

/// A project whose first environment does not deploy on creation, and a
/// user who deploys and approves everywhere in it.
pub fn world(app: &TestApp) -> (Project, UserId) {
    let (project, pipeline) = app.project("Shop");
    crate::helpers::fixtures::policy(app, &pipeline[0], |p| p.trigger = "manual".into());
    let user = app.create_user("ci-bot", "ci-bot-password-1", false);
    for env in &pipeline {
        app.grant(user.id, env.id, "deployer");
        app.grant(user.id, env.id, "approver");
    }
    (project, user.id)
}

#[tokio::test]
async fn without_a_valid_token_every_endpoint_answers_401_json() {
    let app = spawn_app().await;
    // Signed in: the session cookie counts for nothing under /api.
    app.login_admin().await;
    let response = app.get("/api/v1/projects").await;
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.headers().get("www-authenticate").unwrap(),
        "Bearer"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert!(body["field"].is_null());
    for bad in ["", "stgc_0000", "not-a-token", "stgc_' OR 1=1 --"] {
        let (status, body) = get(&app, "/api/v1/projects", bad).await;
        assert_eq!(status, 401, "{bad:?}");
        assert_eq!(body["error"], "unauthorized");
    }
}

#[tokio::test]
async fn a_token_lists_projects_and_shows_a_pipeline_with_what_is_live() {
    let app = spawn_app().await;
    let (project, user) = world(&app);
    let (_other, _) = app.project("Hidden");
    let secret = token(&app, user, "", &[]);
    assert!(secret.starts_with("stgc_") && secret.len() == 5 + 64);

    let (status, body) = get(&app, "/api/v1/projects", &secret).await;
    assert_eq!(status, 200, "{body}");
    let slugs: Vec<&str> = body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(
        slugs,
        [project.slug.as_str()],
        "only what the owner may see"
    );

    let (status, body) = get(&app, &format!("/api/v1/projects/{}", project.slug), &secret).await;
    assert_eq!(status, 200, "{body}");
    let envs: Vec<&str> = body["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["slug"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["development", "qa", "staging", "production"]);
    assert!(body["environments"][0]["live"].is_null());

    let (status, body) = get(&app, "/api/v1/projects/hidden", &secret).await;
    assert_eq!(status, 404, "a project the owner may not see is not found");
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn ci_creates_a_release_deploys_it_and_reads_the_deployment() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, user) = world(&app);
    let secret = token(&app, user, "", &[]);
    let releases = format!("/api/v1/projects/{}/releases", project.slug);

    let (status, body) = post(
        &app,
        &releases,
        &secret,
        json!({
            "version": "2.0.0",
            "title": "Checkout",
            "description": "Faster checkout",
            "artifacts": [{"name": "web", "reference": "registry/web:2.0.0", "sha256": "a".repeat(64)}],
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], "2.0.0");
    assert_eq!(body["artifacts"][0]["reference"], "registry/web:2.0.0");
    assert_eq!(body["environments"][0]["environment"], "development");
    assert_eq!(body["links"]["page"], "/projects/shop/releases/2.0.0");

    // The same release again (a CI rerun) answers 200 with it, making
    // nothing; the same version with other content is a conflict.
    let same = json!({
        "version": "2.0.0",
        "title": "Checkout",
        "description": "Faster checkout",
        "artifacts": [{"name": "web", "reference": "registry/web:2.0.0", "sha256": "A".repeat(64)}],
    });
    let (status, body) = post(&app, &releases, &secret, same).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], "2.0.0");
    let (status, body) = post(
        &app,
        &releases,
        &secret,
        json!({"version": "2.0.0", "title": "Something else"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "conflict");
    assert_eq!(body["field"], "version");

    // A body that is not valid: 422 with every field's message.
    let (status, body) = post(
        &app,
        &releases,
        &secret,
        json!({"version": "not a version!", "title": "x"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "invalid");
    assert_eq!(body["field"], "version");
    // Malformed JSON, an unknown field, a missing one: 400, nothing made.
    for bad in [
        json!({"title": "no version"}),
        json!({"version": "2.1.0", "colour": "red"}),
    ] {
        let (status, body) = post(&app, &releases, &secret, bad).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "bad_request");
    }
    let response = reqwest::Client::new()
        .post(app.url(&releases))
        .bearer_auth(&secret)
        .header("content-type", "application/json")
        .body("{\"version\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(app.count("SELECT count(*) AS n FROM releases"), 1);

    // Deploy it to Development.
    let (status, body) = post(
        &app,
        &format!("{releases}/2.0.0/deployments"),
        &secret,
        json!({"environment": "development", "comment": "from CI"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["state"], "queued");
    assert_eq!(body["environment"], "development");
    assert_eq!(body["requested_by"], "ci-bot");
    let id = body["id"].as_i64().unwrap();

    let (status, body) = get(&app, &format!("/api/v1/deployments/{id}"), &secret).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], id);
    assert_eq!(body["comment"], "from CI");

    // Promoting before it succeeded is refused by the rules: 409 with the
    // checklist that says why.
    let (status, body) = post(
        &app,
        &format!("{releases}/2.0.0/deployments"),
        &secret,
        json!({"environment": "qa"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "refused");
    let readiness = body["readiness"].as_array().expect("a checklist");
    assert!(
        readiness
            .iter()
            .any(|c| c["state"] == "unmet" && c["text"].as_str().unwrap().contains("Development")),
        "{body}"
    );

    // Cancel it.
    let (status, body) = post(
        &app,
        &format!("/api/v1/deployments/{id}/cancel"),
        &secret,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "cancelled");
    // Every change is audited under the token's owner.
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_events a JOIN users u ON u.id = a.actor_id \
             WHERE u.username = 'ci-bot' AND a.action IN ('release.created', 'deployment.requested', 'deployment.cancelled')"
        ),
        3
    );
    // ... naming the token, on the audit page and in its CSV.
    let token_id = app.count("SELECT max(id) AS n FROM api_tokens");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_events WHERE token_id = {token_id}"
        )),
        3
    );
    app.login_admin().await;
    let page = app.get_html("/admin/audit?action=release.created").await;
    assert!(page.contains(&format!("API token #{token_id}")), "{page}");
    let csv = app
        .get_html("/admin/audit.csv?action=release.created")
        .await;
    assert!(
        csv.lines().next().unwrap().ends_with(",api_token")
            && csv
                .lines()
                .nth(1)
                .unwrap()
                .ends_with(&format!(",\"{token_id}\"")),
        "{csv}"
    );
}

#[tokio::test]
async fn approvals_through_the_api_follow_the_same_rules() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    let requester = app.create_user("dev", "dev-password-123", false);
    let approver = app.create_user("lead", "lead-password-123", false);
    let qa = &pipeline[1];
    app.grant(requester.id, qa.id, "deployer");
    app.grant(approver.id, qa.id, "approver");
    crate::helpers::fixtures::policy(&app, qa, |p| {
        p.required_approvals = "1".into();
    });
    let release = app.release(&project, "1.0.0");
    app.succeed_next();
    let waiting = stagecoach::domain::deployments::request(
        &mut app.conn(),
        &crate::helpers::fixtures::person(&requester),
        release.id,
        &stagecoach::domain::deployments::DeployInput {
            environment_id: qa.id,
            ..Default::default()
        },
    );
    let id = match waiting {
        Ok(d) => d.id,
        Err(err) => panic!("requesting: {err}"),
    };
    let requester_token = token(&app, requester.id, "", &[]);
    let approver_token = token(&app, approver.id, "", &[]);

    // The requester may not approve here: 403, nothing recorded.
    let (status, body) = post(
        &app,
        &format!("/api/v1/deployments/{id}/approve"),
        &requester_token,
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "forbidden");
    // What it waits for, as data.
    let (status, body) = get(&app, &format!("/api/v1/deployments/{id}"), &requester_token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "awaiting_approval");
    assert_eq!(body["may_still_approve"], json!(["lead"]));
    assert_eq!(body["window_open"], true);
    assert!(body["freeze"].is_null());
    let readiness = body["readiness"].as_array().unwrap();
    assert!(
        readiness
            .iter()
            .any(|c| c["state"] == "waiting" && c["text"].as_str().unwrap().contains("lead")),
        "{body}"
    );
    // Deferring needs `until`.
    let (status, body) = post(
        &app,
        &format!("/api/v1/deployments/{id}/defer"),
        &approver_token,
        json!({"comment": "later"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "until");
    // The approver approves with a comment; the deployment is queued.
    let (status, body) = post(
        &app,
        &format!("/api/v1/deployments/{id}/approve"),
        &approver_token,
        json!({"comment": "ship it"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deployment"]["state"], "queued");
    let (_, body) = get(&app, &format!("/api/v1/deployments/{id}"), &approver_token).await;
    assert_eq!(body["approvals"][0]["approver"], "lead");
    assert_eq!(body["approvals"][0]["comment"], "ship it");
    assert_eq!(body["may_still_approve"], json!([]));
    // A second decision is refused by the rules.
    let (status, body) = post(
        &app,
        &format!("/api/v1/deployments/{id}/reject"),
        &approver_token,
        json!({}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn a_scoped_token_holds_no_more_than_its_scope_and_its_owner() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, user) = world(&app);
    let (other, other_pipeline) = app.project("Other");
    for env in &other_pipeline {
        app.grant(user, env.id, "deployer");
    }
    app.release(&project, "1.0.0");
    app.release(&other, "1.0.0");

    // Scoped to Shop: Other does not exist for it.
    let shop_only = token(&app, user, &project.slug, &[]);
    let (_, body) = get(&app, "/api/v1/projects", &shop_only).await;
    assert_eq!(body["projects"].as_array().unwrap().len(), 1, "{body}");
    let (status, _) = get(&app, "/api/v1/projects/other/releases/1.0.0", &shop_only).await;
    assert_eq!(status, 404);

    // Deploy only: may deploy, may not approve.
    let deploy_only = token(&app, user, &project.slug, &["deployer"]);
    let (status, body) = post(
        &app,
        "/api/v1/projects/shop/releases/1.0.0/deployments",
        &deploy_only,
        json!({"environment": "development"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    let approve_only = token(&app, user, &project.slug, &["approver"]);
    let (status, body) = post(
        &app,
        &format!("/api/v1/deployments/{id}/cancel"),
        &approve_only,
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "an approver-only token may not cancel: {body}");

    // An admin's scoped token is not an admin: it holds the admin's grants
    // (none) within the scope.
    let admin_scoped = token(
        &app,
        crate::helpers::fixtures::ADMIN_ID,
        &project.slug,
        &["deployer"],
    );
    let (_, body) = get(&app, "/api/v1/projects", &admin_scoped).await;
    assert_eq!(body["projects"].as_array().unwrap().len(), 0, "{body}");
    let admin_all = token(&app, crate::helpers::fixtures::ADMIN_ID, "", &[]);
    let (_, body) = get(&app, "/api/v1/projects", &admin_all).await;
    assert_eq!(body["projects"].as_array().unwrap().len(), 2, "{body}");

    // The owner loses a right: the token loses it at once.
    diesel::delete(
        stagecoach::db::schema::grants::table
            .filter(stagecoach::db::schema::grants::user_id.eq(user)),
    )
    .execute(&mut app.conn())
    .unwrap();
    let (status, _) = get(&app, "/api/v1/projects/shop", &shop_only).await;
    assert_eq!(status, 404);
}

/// "As far as" is asked for with the token's rights: every environment
/// of the chain is checked against the narrowed rights when it is asked
/// for, so a scoped token cannot start a chain its scope would not allow,
/// even for an owner (an admin) whose own rights would carry it.
#[tokio::test]
async fn a_chain_asked_for_with_a_scoped_token_needs_the_scope_all_the_way() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, pipeline) = app.project("Shop");
    crate::helpers::fixtures::policy(&app, &pipeline[0], |p| p.trigger = "manual".into());
    app.release(&project, "1.0.0");
    let admin = crate::helpers::fixtures::ADMIN_ID;
    app.grant(admin, pipeline[0].id, "deployer");
    let chain = json!({"environment": "development", "target_environment": "staging"});
    let path = "/api/v1/projects/shop/releases/1.0.0/deployments";

    let scoped = token(&app, admin, &project.slug, &["deployer"]);
    let (status, body) = post(&app, path, &scoped, chain.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("QA"), "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM deployments"), 0);

    // The admin's own, unscoped token may.
    let whole = token(&app, admin, "", &[]);
    let (status, body) = post(&app, path, &whole, chain).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM deployments"), 1);
}

#[tokio::test]
async fn revoked_expired_and_disabled_tokens_get_401_and_an_audit_event() {
    let app = spawn_app().await;
    let (_, user) = world(&app);
    let secret = token(&app, user, "", &[]);
    let (status, _) = get(&app, "/api/v1/projects", &secret).await;
    assert_eq!(status, 200);
    // Its first use from an address is audited, and recorded on the token.
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'token.used_from_new_address'"
        ),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM api_tokens WHERE last_used_from = '127.0.0.1' AND last_used_at IS NOT NULL"),
        1
    );
    // A second use from the same address within the minute writes nothing.
    let before = app.count("SELECT count(*) AS n FROM audit_events");
    get(&app, "/api/v1/projects", &secret).await;
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events"), before);

    let id = app.count("SELECT max(id) AS n FROM api_tokens");
    tokens::revoke(&mut app.conn(), &admin(), id).unwrap();
    let (status, body) = get(&app, "/api/v1/projects", &secret).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "This token was revoked.");

    let expiring = token(&app, user, "", &[]);
    diesel::sql_query(
        "UPDATE api_tokens SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day' \
         WHERE revoked_at IS NULL",
    )
    .execute(&mut app.conn())
    .unwrap();
    let (status, body) = get(&app, "/api/v1/projects", &expiring).await;
    assert_eq!(status, 401);
    assert!(body["message"].as_str().unwrap().contains("expired"));

    let live = token(&app, user, "", &[]);
    stagecoach::domain::users::set_disabled(&mut app.conn(), &admin(), user, true).unwrap();
    let (status, _) = get(&app, "/api/v1/projects", &live).await;
    assert_eq!(status, 401);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'token.refused'"),
        3
    );
}

#[tokio::test]
async fn no_token_outlives_the_sites_maximum_whatever_path_makes_it() {
    let app = spawn_app().await;
    let (_, user) = world(&app);
    let make = |days: &str| {
        tokens::create(
            &mut app.conn(),
            &admin(),
            user,
            &NewToken {
                name: "ci".into(),
                lifetime_days: days.into(),
                ..Default::default()
            },
        )
    };
    assert!(make("").is_ok(), "the default, 90 days");
    assert!(make("365").is_ok());
    match make("366") {
        Err(stagecoach::domain::rejection::Rejection::Invalid(errors)) => {
            assert!(errors.has("lifetime_days"));
        }
        other => panic!("a year and a day: {other:?}"),
    }
    tokens::set_max_lifetime_days(&mut app.conn(), &admin(), "30").unwrap();
    assert!(make("31").is_err());
    // The database holds the cap even for a raw insert.
    let raw = diesel::sql_query(format!(
        "INSERT INTO api_tokens (user_id, name, prefix, secret_hash, expires_at) \
         VALUES ({user}, 'raw', 'stgc_x', decode(repeat('ab', 32), 'hex'), now() + interval '31 days')"
    ))
    .execute(&mut app.conn());
    let err = raw.expect_err("the trigger refuses");
    assert_eq!(
        stagecoach::db::violated_check(&err),
        Some("api_tokens_max_lifetime")
    );
}

#[tokio::test]
async fn releases_and_deployments_are_listed_newest_first_through_the_cursor() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, user) = world(&app);
    let secret = token(&app, user, "", &[]);
    let count = stagecoach::domain::releases::PAGE_SIZE + 5;
    for n in 0..count {
        app.release(&project, &format!("1.{n}.0"));
    }
    let first = format!("/api/v1/projects/{}/releases", project.slug);
    let response = reqwest::Client::new()
        .get(app.url(&first))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    let link = response
        .headers()
        .get("link")
        .expect("a Link to the next page")
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    let page = body["releases"].as_array().unwrap();
    assert_eq!(page.len() as i64, stagecoach::domain::releases::PAGE_SIZE);
    assert_eq!(
        page[0]["version"],
        format!("1.{}.0", count - 1),
        "newest first"
    );
    assert_eq!(page[0]["environments"][0]["environment"], "development");
    let next = body["next"].as_str().expect("a next cursor");
    assert!(
        link.contains(&format!("before={next}")) && link.ends_with("rel=\"next\""),
        "{link}"
    );
    let (status, body) = get(&app, &format!("{first}?before={next}"), &secret).await;
    assert_eq!(status, 200);
    assert_eq!(body["releases"].as_array().unwrap().len(), 5);
    assert!(body["next"].is_null());
    // Search, and a cursor that is not one.
    let (_, body) = get(&app, &format!("{first}?q=1.3.0"), &secret).await;
    assert_eq!(body["releases"].as_array().unwrap().len(), 1);
    let (status, body) = get(&app, &format!("{first}?before=yesterday"), &secret).await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "before");

    // Deploy one, list Development's deployments, redeploy it.
    let (status, body) = post(
        &app,
        &format!("{first}/1.3.0/deployments"),
        &secret,
        json!({"environment": "development"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    stagecoach::domain::deployments::cancel(
        &mut app.conn(),
        &admin(),
        stagecoach::domain::ids::DeploymentId(id),
    )
    .unwrap();
    let (status, body) = post(
        &app,
        &format!("/api/v1/deployments/{id}/redeploy"),
        &secret,
        json!({"comment": "again"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["attempt"], 2);
    let (status, body) = get(
        &app,
        &format!(
            "/api/v1/projects/{}/environments/development/deployments",
            project.slug
        ),
        &secret,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let states: Vec<&str> = body["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["queued", "cancelled"]);
}

#[tokio::test]
async fn a_release_is_deleted_through_the_api_until_it_is_promoted() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, user) = world(&app);
    let secret = token(&app, user, "", &[]);
    app.release(&project, "1.0.0");
    let path = format!("/api/v1/projects/{}/releases/1.0.0", project.slug);
    let delete = || async {
        reqwest::Client::new()
            .delete(app.url(&path))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(delete().await, 204);
    assert_eq!(app.count("SELECT count(*) AS n FROM releases"), 0);
    assert_eq!(delete().await, 404);
    // A promoted release stays (rule 1): 409 with the reason.
    let pipeline = stagecoach::domain::environments::list(&mut app.conn(), project.id).unwrap();
    let release = app.release(&project, "2.0.0");
    let first = stagecoach::domain::deployments::request(
        &mut app.conn(),
        &admin(),
        release.id,
        &stagecoach::domain::deployments::DeployInput {
            environment_id: pipeline[0].id,
            ..Default::default()
        },
    )
    .unwrap();
    let claimed = app.claim().unwrap();
    assert_eq!(claimed.id, first.id);
    app.finish(
        first.id,
        &stagecoach::domain::deployments::Outcome::Succeeded,
    );
    stagecoach::domain::deployments::request(
        &mut app.conn(),
        &admin(),
        release.id,
        &stagecoach::domain::deployments::DeployInput {
            environment_id: pipeline[1].id,
            ..Default::default()
        },
    )
    .unwrap();
    let (status, body) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/projects/{}/releases/2.0.0", project.slug),
        &secret,
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM releases"), 1);
}

#[tokio::test]
async fn a_long_poll_answers_within_200_ms_of_the_change_and_not_before() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, user) = world(&app);
    let secret = token(&app, user, "", &[]);
    app.release(&project, "1.0.0");
    let (_, body) = post(
        &app,
        "/api/v1/projects/shop/releases/1.0.0/deployments",
        &secret,
        json!({"environment": "development"}),
    )
    .await;
    let id = body["id"].as_i64().unwrap();
    assert_eq!(body["state"], "queued");
    assert_eq!(body["active"], true);

    // Nothing changes: the poll holds for its time, then answers as is.
    let started = std::time::Instant::now();
    let (status, body) = get(&app, &format!("/api/v1/deployments/{id}?wait=1"), &secret).await;
    assert_eq!(status, 200);
    assert_eq!(body["state"], "queued");
    assert!(started.elapsed() >= std::time::Duration::from_millis(950));

    // A change from another path (a worker claims it) answers the poll.
    let poll = {
        let url = app.url(&format!("/api/v1/deployments/{id}?wait=30"));
        let secret = secret.clone();
        tokio::spawn(async move {
            let response = reqwest::Client::new()
                .get(url)
                .bearer_auth(secret)
                .send()
                .await
                .unwrap();
            (
                std::time::Instant::now(),
                response.json::<Value>().await.unwrap(),
            )
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let changed_at = std::time::Instant::now();
    app.claim().expect("the queued deployment");
    let (answered_at, body) = poll.await.unwrap();
    assert_eq!(body["state"], "running");
    let took = answered_at.duration_since(changed_at);
    assert!(
        took < std::time::Duration::from_millis(200),
        "answered {took:?} after the change"
    );

    // A finished deployment answers at once, whatever the wait.
    app.finish(
        stagecoach::domain::ids::DeploymentId(id),
        &stagecoach::domain::deployments::Outcome::Succeeded,
    );
    let started = std::time::Instant::now();
    let (_, body) = get(&app, &format!("/api/v1/deployments/{id}?wait=60"), &secret).await;
    assert_eq!(body["state"], "succeeded");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let (status, body) = get(
        &app,
        &format!("/api/v1/deployments/{id}?wait=soon"),
        &secret,
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_job_follows_the_log_by_byte_offset_until_it_is_complete() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, user) = world(&app);
    let secret = token(&app, user, "", &[]);
    app.release(&project, "1.0.0");
    let (_, body) = post(
        &app,
        "/api/v1/projects/shop/releases/1.0.0/deployments",
        &secret,
        json!({"environment": "development"}),
    )
    .await;
    let id = stagecoach::domain::ids::DeploymentId(body["id"].as_i64().unwrap());
    app.claim().unwrap();
    let append = |lines: &[&str]| {
        let lines: Vec<(Option<i32>, &'static str, String)> = lines
            .iter()
            .map(|l| (None, "stdout", (*l).to_owned()))
            .collect();
        stagecoach::domain::deployments::append_log(&mut app.conn(), id, &lines).unwrap();
    };
    append(&["héllo", "world"]);
    let log = |offset: &str| format!("/api/v1/deployments/{id}/log?offset={offset}");

    let (status, body) = get(&app, &log("0"), &secret).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["text"], "héllo\nworld\n");
    assert_eq!(body["next_offset"], 13, "bytes, not characters");
    assert_eq!(body["complete"], false);
    // From where it stopped: nothing new yet.
    let (_, body) = get(&app, &log("13"), &secret).await;
    assert_eq!(body["text"], "");
    assert_eq!(body["next_offset"], 13);
    // From inside a line, and inside a character: from the next character.
    let (_, body) = get(&app, &log("7"), &secret).await;
    assert_eq!(body["text"], "world\n");
    let (_, body) = get(&app, &log("2"), &secret).await;
    assert_eq!(body["text"], "llo\nworld\n");

    append(&["done"]);
    app.finish(id, &stagecoach::domain::deployments::Outcome::Succeeded);
    let (_, body) = get(&app, &log("13"), &secret).await;
    assert_eq!(body["text"], "done\n");
    assert_eq!(body["next_offset"], 18);
    assert_eq!(body["complete"], true);
    assert_eq!(body["state"], "succeeded");
    // The offsets agree with the size the deployment keeps.
    assert_eq!(
        app.count(&format!(
            "SELECT log_bytes AS n FROM deployments WHERE id = {id}"
        )),
        18
    );
    let (status, body) = get(&app, &log("-1"), &secret).await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "offset");
}

pub async fn post_keyed(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> (u16, Value, bool) {
    let response = reqwest::Client::new()
        .post(app.url(path))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let (status, body) = answer("POST", path, response).await;
    (status, body, replayed)
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_creates_nothing_more() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, user) = world(&app);
    let secret = token(&app, user, "", &[]);
    let releases = format!("/api/v1/projects/{}/releases", project.slug);
    let body = json!({"version": "3.0.0", "title": "Search"});

    let (status, first, replayed) = post_keyed(&app, &releases, &secret, "build-41", &body).await;
    assert_eq!((status, replayed), (201, false), "{first}");
    let (status, again, replayed) = post_keyed(&app, &releases, &secret, "build-41", &body).await;
    assert_eq!((status, replayed), (201, true), "the first answer, again");
    assert_eq!(again, first);
    assert_eq!(app.count("SELECT count(*) AS n FROM releases"), 1);

    // The same key with another body is refused, naming the header.
    let (status, refused, _) = post_keyed(
        &app,
        &releases,
        &secret,
        "build-41",
        &json!({"version": "3.0.1", "title": "Search"}),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"], "idempotency_key_reused");
    assert_eq!(refused["field"], "Idempotency-Key");
    // A key is the token's own: another token's same key is a new request.
    let other = token(&app, user, "", &[]);
    let (status, _, replayed) = post_keyed(
        &app,
        &format!("{releases}/3.0.0/deployments"),
        &other,
        "build-41",
        &json!({"environment": "development"}),
    )
    .await;
    assert_eq!((status, replayed), (201, false));
    // A refused request leaves its key free: once the rule allows, the
    // same key works.
    let deploy = format!("{releases}/3.0.0/deployments");
    let (status, _, _) = post_keyed(
        &app,
        &deploy,
        &secret,
        "deploy-1",
        &json!({"environment": "development"}),
    )
    .await;
    assert_eq!(status, 409, "already queued there");
    let queued = app.count("SELECT max(id) AS n FROM deployments");
    stagecoach::domain::deployments::cancel(
        &mut app.conn(),
        &admin(),
        stagecoach::domain::ids::DeploymentId(queued),
    )
    .unwrap();
    let (status, _, replayed) = post_keyed(
        &app,
        &deploy,
        &secret,
        "deploy-1",
        &json!({"environment": "development"}),
    )
    .await;
    assert_eq!((status, replayed), (201, false));
    // A key that is not one.
    let (status, body, _) = post_keyed(
        &app,
        &deploy,
        &secret,
        "has space",
        &json!({"environment": "development"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn racing_retries_with_one_key_make_one_release() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, user) = world(&app);
    let secret = token(&app, user, "", &[]);
    let releases = format!("/api/v1/projects/{}/releases", project.slug);
    for round in 0..5 {
        let body = json!({"version": format!("4.{round}.0"), "title": "Race"});
        let key = format!("race-{round}");
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (url, secret, key, body) = (
                    app.url(&releases),
                    secret.clone(),
                    key.clone(),
                    body.clone(),
                );
                tokio::spawn(async move {
                    let response = reqwest::Client::new()
                        .post(url)
                        .bearer_auth(secret)
                        .header("Idempotency-Key", key)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    let status = response.status().as_u16();
                    let replayed = response.headers().contains_key("idempotent-replayed");
                    (status, response.text().await.unwrap(), replayed)
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        let created = answers
            .iter()
            .filter(|(s, _, replayed)| *s == 201 && !replayed)
            .count();
        let replayed = answers
            .iter()
            .filter(|(s, _, replayed)| *s == 201 && *replayed)
            .count();
        assert_eq!(created, 1, "round {round}: {answers:?}");
        assert_eq!(replayed, 7, "round {round}: {answers:?}");
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM releases WHERE version = '4.{round}.0'"
            )),
            1
        );
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'release.created'"),
        5
    );
}

#[tokio::test]
async fn twenty_waiting_clients_cost_the_database_what_one_does() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, user) = world(&app);
    let secret = token(&app, user, "", &[]);
    app.release(&project, "1.0.0");
    let (_, body) = post(
        &app,
        "/api/v1/projects/shop/releases/1.0.0/deployments",
        &secret,
        json!({"environment": "development"}),
    )
    .await;
    let id = body["id"].as_i64().unwrap();
    let Some((_, statements)) = app
        .statements_during(|| async {
            let polls: Vec<_> = (0..20)
                .map(|_| {
                    let url = app.url(&format!("/api/v1/deployments/{id}?wait=2"));
                    let secret = secret.clone();
                    tokio::spawn(async move {
                        reqwest::Client::new()
                            .get(url)
                            .bearer_auth(secret)
                            .send()
                            .await
                            .unwrap()
                            .status()
                    })
                })
                .collect();
            for poll in polls {
                assert_eq!(poll.await.unwrap().as_u16(), 200);
            }
        })
        .await
    else {
        return; // This server does not count statements.
    };
    // One watcher query every 50 ms for about 2 s, whatever the number of
    // waiters; polling per client would be 20 times that.
    let watcher = statements.matching("\"deployments\".\"id\" = ANY");
    assert!(
        (10..=80).contains(&watcher),
        "{watcher} watcher queries for 20 clients over 2 s"
    );
}

#[tokio::test]
async fn an_oversized_body_is_a_413_in_json_and_makes_nothing() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, user) = world(&app);
    let secret = token(&app, user, "", &[]);
    let huge =
        json!({"version": "1.0.0", "title": "x", "description": "d".repeat(2 * 1024 * 1024)});
    let (status, body) = post(
        &app,
        &format!("/api/v1/projects/{}/releases", project.slug),
        &secret,
        huge,
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "too_large");
    assert_eq!(app.count("SELECT count(*) AS n FROM releases"), 0);
}
