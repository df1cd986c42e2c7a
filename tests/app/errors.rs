use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, test, web};
use stagecoach::error::AppError;
use stagecoach::middleware::requests;

use crate::helpers::spawn_app;

#[tokio::test]
async fn an_unknown_page_gets_a_404_page_that_says_so() {
    let app = spawn_app().await;
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status().as_u16(), 404);
    assert!(
        response
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("Page not found"));
    assert!(html.contains("Go to the dashboard"));
}

#[tokio::test]
async fn an_unknown_static_file_is_a_404() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/static/../Cargo.toml").await.status().as_u16(),
        404
    );
    assert_eq!(app.get("/static/nope.css").await.status().as_u16(), 404);
}

#[tokio::test]
async fn a_form_body_over_the_limit_gets_413_and_changes_nothing() {
    let app = spawn_app().await;
    let token = app.csrf_token_with(&app.client, "/login").await;
    let huge = "x".repeat(200 * 1024);
    let response = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("username", "admin"),
            ("password", huge.as_str()),
            ("csrf_token", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    assert!(response.text().await.unwrap().contains("Request too large"));
    assert_eq!(app.count("SELECT count(*) AS n FROM login_attempts"), 0);
}

async fn failing_handler() -> Result<HttpResponse, AppError> {
    Err(AppError::internal(anyhow::anyhow!(
        "secret detail: connection string postgres://x"
    )))
}

async fn forbidden_handler() -> Result<HttpResponse, AppError> {
    Err(AppError::Forbidden(
        "You need the deployer role on QA.".to_owned(),
    ))
}

#[actix_web::test]
async fn a_server_error_shows_a_request_id_and_no_internals() {
    let service = test::init_service(
        App::new()
            .wrap(from_fn(requests::handle))
            .route("/boom", web::get().to(failing_handler))
            .route("/api/v1/boom", web::get().to(failing_handler)),
    )
    .await;
    let response =
        test::call_service(&service, test::TestRequest::get().uri("/boom").to_request()).await;
    assert_eq!(response.status().as_u16(), 500);
    let request_id = response
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let html = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(html.contains(&request_id), "the page quotes the request id");
    assert!(html.contains("Something went wrong"));
    assert!(!html.contains("secret detail"));

    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/api/v1/boom").to_request(),
    )
    .await;
    assert_eq!(response.status().as_u16(), 500);
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body["error"], "internal");
    assert!(body["field"].is_null());
    assert!(!body.to_string().contains("secret detail"));
}

#[actix_web::test]
async fn a_forbidden_page_names_the_missing_right() {
    let service = test::init_service(
        App::new()
            .wrap(from_fn(requests::handle))
            .route("/deploy", web::get().to(forbidden_handler)),
    )
    .await;
    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/deploy").to_request(),
    )
    .await;
    assert_eq!(response.status().as_u16(), 403);
    let html = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(html.contains("Not allowed"));
    assert!(html.contains("You need the deployer role on QA."));
}
