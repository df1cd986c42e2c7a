use crate::helpers::spawn_app;

fn assert_security_headers(response: &reqwest::Response) {
    let h = response.headers();
    let csp = h
        .get("content-security-policy")
        .expect("CSP")
        .to_str()
        .unwrap();
    for part in [
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "CSP lacks {part}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(h.get("referrer-policy").unwrap(), "same-origin");
    assert!(h.get("x-request-id").is_some());
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/login",
        "/",
        "/no/such/page",
        "/static/app.css",
        "/healthz",
    ] {
        let response = app.get(path).await;
        assert_security_headers(&response);
    }
    let response = app
        .client
        .post(app.url("/login"))
        .form(&[("a", "b")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_security_headers(&response);
}

#[tokio::test]
async fn pages_are_not_cached_but_static_files_are() {
    let app = spawn_app().await;
    let page = app.get("/login").await;
    assert_eq!(page.headers().get("cache-control").unwrap(), "no-store");
    let css = app.get("/static/app.css").await;
    assert_eq!(css.status().as_u16(), 200);
    assert!(
        css.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(
        css.headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let etag = css
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let again = app
        .client
        .get(app.url("/static/app.css"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);
}

#[tokio::test]
async fn pages_use_no_inline_script() {
    let app = spawn_app().await;
    let html = app.get_html("/login").await;
    assert!(!html.contains("<script>"));
    assert!(!html.contains(" onclick="));
    assert!(html.contains(r#"<script src="/static/app.js" defer></script>"#));
}
