//! The OpenAPI document against the code: it describes every API route of
//! the table and nothing else, and every answer an API test receives
//! (`check`, called by `api::call`) matches the document's schema for its
//! operation and status. One test walks every operation through its
//! answers, so no endpoint goes unchecked.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::api::{call, get, post, token, world};
use crate::helpers::{fixtures, spawn_app_with};

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(stagecoach::routes::api::openapi::document()).expect("JSON")
    })
}

/// Every operation of the document, as (method, path template).
pub fn operations() -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    for (template, item) in document()["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                all.insert((method.to_uppercase(), template.clone()));
            }
        }
    }
    all
}

/// The template of the document's path that `path` is an instance of.
fn template_of(path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    document()["paths"]
        .as_object()
        .unwrap()
        .keys()
        .find(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        })
        .cloned()
}

/// Panics unless the answer (`status`, `body`; `None` for an empty body)
/// to `method path` is one the document describes, with a body its schema
/// accepts. Returns the operation it was.
pub fn check(method: &str, path: &str, status: u16, body: Option<&Value>) -> (String, String) {
    let template = template_of(path)
        .unwrap_or_else(|| panic!("{method} {path}: no such path in the OpenAPI document"));
    let operation = &document()["paths"][&template][method.to_lowercase()];
    assert!(
        operation.is_object(),
        "{method} {template}: no such operation in the OpenAPI document"
    );
    let response = &operation["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {template} answered {status}, which the document does not list: {body:?}"
    );
    let schema = &response["content"]["application/json"]["schema"];
    match (schema.is_object(), body) {
        (false, None) => {}
        (false, Some(body)) => {
            panic!("{method} {template} {status}: the document says no body, got {body}")
        }
        (true, None) => panic!("{method} {template} {status}: the document says a JSON body"),
        (true, Some(body)) => {
            // The response's schema, with the document's components beside
            // it so its `#/components/...` references resolve.
            let root = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "components": document()["components"],
                "allOf": [schema],
            });
            let validator = jsonschema::options()
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("{method} {template} {status}: a bad schema: {e}"));
            let errors: Vec<String> = validator
                .iter_errors(body)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{method} {template} {status}: the answer does not match the document:\n{}\n{body:#}",
                errors.join("\n")
            );
        }
    }
    (method.to_owned(), template)
}

#[test]
fn the_document_is_openapi_3_1_and_describes_exactly_the_api_routes_of_the_table() {
    assert_eq!(document()["openapi"], "3.1.0");
    let routes: BTreeSet<(String, String)> = stagecoach::routes::table::SESSIONLESS
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/") && r.path != "/api/v1/openapi.json")
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(operations(), routes);
    // Every operation needs the token, and says what a bad one gets.
    assert_eq!(document()["security"], json!([{"token": []}]));
    assert_eq!(
        document()["components"]["securitySchemes"]["token"]["scheme"],
        "bearer"
    );
    // utoipa keeps one schema per type name: a request and an answer that
    // share a name would describe each other.
    let block = &document()["paths"]["/api/v1/projects/{project}/releases/{version}/block"]["post"];
    let name = block["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    assert_eq!(
        document()["components"]["schemas"][name]["required"],
        json!(["reason"])
    );
    let mut ids = BTreeSet::new();
    for (method, template) in operations() {
        let id = document()["paths"][&template][method.to_lowercase()]["operationId"].clone();
        assert!(
            ids.insert(id.to_string()),
            "{method} {template}: operationId {id} twice"
        );
        let responses = &document()["paths"][&template][method.to_lowercase()]["responses"];
        assert!(responses["401"].is_object(), "{method} {template}");
        assert!(responses["503"].is_object(), "{method} {template}");
    }
}

#[tokio::test]
async fn the_document_is_served_to_anyone_as_json() {
    let app = crate::helpers::spawn_app().await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let served: Value = response.json().await.unwrap();
    assert_eq!(&served, document());
}

/// Walks every operation through the answers a client meets: each call
/// goes through `api::call`, which checks it against the document.
#[tokio::test]
async fn every_endpoint_answers_as_the_document_says() {
    let app = spawn_app_with(|s| s.deployment_workers = 0).await;
    let (project, user) = world(&app);
    let pipeline = stagecoach::domain::environments::list(&mut app.conn(), project.id).unwrap();
    fixtures::policy(&app, &pipeline[1], |p| p.required_approvals = "1".into());
    let lead = app.create_user("lead", "lead-password-123", false);
    app.grant(lead.id, pipeline[1].id, "approver");
    let secret = token(&app, user, "", &[]);
    let lead_token = token(&app, lead.id, "", &[]);
    let viewer = app.create_user("viewer", "viewer-password-1", false);
    app.grant(viewer.id, pipeline[0].id, "viewer");
    let viewer_token = token(&app, viewer.id, "", &[]);
    let mut seen = BTreeSet::new();
    let mut saw = |method: &str, path: &str| {
        seen.insert((method.to_owned(), template_of(path).unwrap()));
    };

    // Projects.
    let (status, _) = get(&app, "/api/v1/projects", &secret).await;
    assert_eq!(status, 200);
    let (status, _) = get(&app, "/api/v1/projects", "stgc_not-a-token").await;
    assert_eq!(status, 401);
    let (status, _) = get(&app, "/api/v1/projects/shop", &secret).await;
    assert_eq!(status, 200);
    let (status, _) = get(&app, "/api/v1/projects/nowhere", &secret).await;
    assert_eq!(status, 404);
    saw("GET", "/api/v1/projects");
    saw("GET", "/api/v1/projects/shop");

    // Releases: create, the same again, a conflict, invalid, unreadable,
    // a bad key, and one the token may not make.
    let releases = "/api/v1/projects/shop/releases";
    let release = json!({"version": "1.0.0", "title": "First",
        "artifacts": [{"name": "web", "reference": "registry/web:1", "sha256": "b".repeat(64)}]});
    for (body, expected) in [
        (release.clone(), 201),
        (release, 200),
        (json!({"version": "1.0.0", "title": "Other"}), 409),
        (json!({"version": "not a version!"}), 422),
        (json!({"version": "1.1.0", "colour": "red"}), 400),
    ] {
        let (status, answer) = post(&app, releases, &secret, body).await;
        assert_eq!(status, expected, "{answer}");
    }
    let (status, _) = post(
        &app,
        releases,
        &viewer_token,
        json!({"version": "1.2.0", "title": "x"}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = crate::api::post_keyed(
        &app,
        releases,
        &secret,
        "",
        &json!({"version": "1.3.0", "title": "x"}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, answer) = post(
        &app,
        releases,
        &secret,
        json!({"version": "2.0.0", "title": "Second"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    saw("POST", releases);
    // Listed a page at a time, read, and refused.
    let (status, page) = get(&app, &format!("{releases}?limit=1"), &secret).await;
    assert_eq!(status, 200);
    assert!(page["next"].is_string(), "{page}");
    let (status, _) = get(&app, &format!("{releases}?before=garbage"), &secret).await;
    assert_eq!(status, 400);
    let (status, _) = get(&app, &format!("{releases}/1.0.0"), &secret).await;
    assert_eq!(status, 200);
    let (status, _) = get(&app, &format!("{releases}/9.9.9"), &secret).await;
    assert_eq!(status, 404);
    saw("GET", releases);
    saw("GET", &format!("{releases}/1.0.0"));

    // Deployments: one to Development, refused further on, invalid.
    let deploy = format!("{releases}/1.0.0/deployments");
    let (status, answer) = post(
        &app,
        &deploy,
        &secret,
        json!({"environment": "development"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let first = answer["id"].as_i64().unwrap();
    let (status, answer) = post(&app, &deploy, &secret, json!({"environment": "qa"})).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["readiness"].is_array());
    let (status, _) = post(&app, &deploy, &secret, json!({"environment": "mars"})).await;
    assert_eq!(status, 422);
    let (status, _) = post(
        &app,
        &deploy,
        &viewer_token,
        json!({"environment": "development"}),
    )
    .await;
    assert_eq!(status, 403);
    saw("POST", &deploy);
    let (status, _) = get(&app, &format!("/api/v1/deployments/{first}"), &secret).await;
    assert_eq!(status, 200);
    let (status, _) = get(&app, "/api/v1/deployments/987654", &secret).await;
    assert_eq!(status, 404);
    let (status, _) = get(
        &app,
        &format!("/api/v1/deployments/{first}/log?offset=0"),
        &secret,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = get(
        &app,
        &format!("/api/v1/deployments/{first}/log?offset=-1"),
        &secret,
    )
    .await;
    assert_eq!(status, 400);
    saw("GET", &format!("/api/v1/deployments/{first}"));
    saw("GET", &format!("/api/v1/deployments/{first}/log"));
    let history = "/api/v1/projects/shop/environments/development/deployments";
    let (status, _) = get(&app, history, &secret).await;
    assert_eq!(status, 200);
    let (status, _) = get(
        &app,
        "/api/v1/projects/shop/environments/mars/deployments",
        &secret,
    )
    .await;
    assert_eq!(status, 404);
    saw("GET", history);

    // It succeeds; QA waits for the lead, who defers (refused without a
    // time), then approves; a second decision is refused.
    let claimed = app.claim().unwrap();
    assert_eq!(claimed.id.0, first);
    app.finish(
        claimed.id,
        &stagecoach::domain::deployments::Outcome::Succeeded,
    );
    let (status, answer) = post(&app, &deploy, &secret, json!({"environment": "qa"})).await;
    assert_eq!(status, 201, "{answer}");
    let waiting = answer["id"].as_i64().unwrap();
    let decide = |what: &str| format!("/api/v1/deployments/{waiting}/{what}");
    let (status, _) = post(&app, &decide("defer"), &lead_token, json!({})).await;
    assert_eq!(status, 422);
    let (status, _) = post(&app, &decide("approve"), &viewer_token, json!({})).await;
    assert_eq!(status, 403);
    let (status, answer) = post(
        &app,
        &decide("approve"),
        &lead_token,
        json!({"comment": "ok"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = post(&app, &decide("reject"), &lead_token, json!({})).await;
    assert_eq!(status, 409);
    let (status, _) = post(
        &app,
        &decide("defer"),
        &lead_token,
        json!({"until": "2030-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, 409);
    for what in ["approve", "reject", "defer"] {
        saw("POST", &decide(what));
    }
    // Cancelled once, then refused.
    let cancel = format!("/api/v1/deployments/{waiting}/cancel");
    let (status, answer) = call(&app, reqwest::Method::POST, &cancel, &secret, None).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = call(&app, reqwest::Method::POST, &cancel, &secret, None).await;
    assert_eq!(status, 409);
    saw("POST", &cancel);
    // A second one to QA is rejected outright; Development is redeployed.
    let (status, answer) = post(&app, &deploy, &secret, json!({"environment": "qa"})).await;
    assert_eq!(status, 201, "{answer}");
    let other = answer["id"].as_i64().unwrap();
    let (status, answer) = post(
        &app,
        &format!("/api/v1/deployments/{other}/reject"),
        &lead_token,
        json!({"comment": "no"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");

    let redeploy = format!("/api/v1/deployments/{first}/redeploy");
    let (status, answer) = call(&app, reqwest::Method::POST, &redeploy, &secret, None).await;
    assert_eq!(status, 201, "{answer}");
    saw("POST", &redeploy);

    // The redeploy runs into a manual step: a viewer may not decide, a
    // bad note and a bad body are refused, the lead proceeds once.
    let redeployed = answer["id"].as_i64().unwrap();
    loop {
        let claimed = app.claim().expect("the redeploy is queued");
        if claimed.id.0 == redeployed {
            break;
        }
        app.finish(
            claimed.id,
            &stagecoach::domain::deployments::Outcome::Succeeded,
        );
    }
    let id = stagecoach::domain::ids::DeploymentId(redeployed);
    stagecoach::domain::deployments::plan_steps(
        &mut app.conn(),
        id,
        &[(
            "Look at the dashboards".to_owned(),
            stagecoach::domain::steps::StepKind::Manual,
            "Error rates flat?".to_owned(),
        )],
    )
    .unwrap();
    stagecoach::domain::deployments::set_step(
        &mut app.conn(),
        id,
        0,
        stagecoach::domain::deployments::StepStatus::Running,
        "",
    )
    .unwrap();
    app.grant(lead.id, pipeline[0].id, "approver");
    let step = format!("/api/v1/deployments/{redeployed}/steps/0/decide");
    let (status, _) = post(&app, &step, &viewer_token, json!({"proceed": true})).await;
    assert_eq!(status, 403);
    let (status, _) = post(&app, &step, &lead_token, json!({"proceed": "yes"})).await;
    assert_eq!(status, 400);
    let (status, _) = post(
        &app,
        &step,
        &lead_token,
        json!({"proceed": true, "note": "bad\u{7}bell"}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, answer) = post(
        &app,
        &step,
        &lead_token,
        json!({"proceed": true, "note": "flat"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = post(&app, &step, &lead_token, json!({"proceed": false})).await;
    assert_eq!(status, 409);
    let (status, _) = post(
        &app,
        &format!("/api/v1/deployments/{redeployed}/steps/5/decide"),
        &lead_token,
        json!({"proceed": true}),
    )
    .await;
    assert_eq!(status, 409);
    saw("POST", &step);

    // Blocked and unblocked, each once; a viewer may not.
    let block = format!("{releases}/1.0.0/block");
    let unblock = format!("{releases}/1.0.0/unblock");
    let (status, answer) = post(&app, &block, &secret, json!({"reason": "flaky"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["block"]["reason"], "flaky");
    let (status, _) = post(&app, &block, &secret, json!({"reason": "again"})).await;
    assert_eq!(status, 409);
    let (status, _) = post(&app, &block, &viewer_token, json!({"reason": "x"})).await;
    assert_eq!(status, 403);
    let (status, _) = post(&app, &block, &secret, json!({})).await;
    assert_eq!(status, 400);
    let (status, answer) = call(&app, reqwest::Method::POST, &unblock, &secret, None).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["block"].is_null());
    let (status, _) = call(&app, reqwest::Method::POST, &unblock, &secret, None).await;
    assert_eq!(status, 409);
    saw("POST", &block);
    saw("POST", &unblock);

    // Deleted while it never left Development; a promoted one stays.
    let (status, _) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("{releases}/2.0.0"),
        &secret,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("{releases}/2.0.0"),
        &secret,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("{releases}/1.0.0"),
        &secret,
        None,
    )
    .await;
    assert_eq!(status, 409);
    saw("DELETE", &format!("{releases}/1.0.0"));

    assert_eq!(seen, operations(), "every operation walked");
}
