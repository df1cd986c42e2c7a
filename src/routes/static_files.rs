//! Stylesheet, script and icon, compiled into the binary from `static/` so
//! the server runs from any directory. Cached by browsers, revalidated by ETag.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use crate::error::AppError;

struct StaticFile {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const FILES: &[StaticFile] = &[
    StaticFile {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/app.css"),
    },
    StaticFile {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/app.js"),
    },
    StaticFile {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../static/favicon.svg"),
    },
];

fn etags() -> &'static Vec<String> {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        FILES
            .iter()
            .map(|f| format!("\"{}\"", &hex::encode(Sha256::digest(f.body))[..16]))
            .collect()
    })
}

pub async fn serve(req: HttpRequest, file: web::Path<String>) -> Result<HttpResponse, AppError> {
    let index = FILES
        .iter()
        .position(|f| f.name == file.as_str())
        .ok_or(AppError::NotFound)?;
    let etag = &etags()[index];
    let cache = (header::CACHE_CONTROL, "public, max-age=3600");
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if matches {
        return Ok(HttpResponse::NotModified()
            .insert_header(cache)
            .insert_header((header::ETAG, etag.as_str()))
            .finish());
    }
    let file = &FILES[index];
    Ok(HttpResponse::Ok()
        .content_type(file.content_type)
        .insert_header(cache)
        .insert_header((header::ETAG, etag.as_str()))
        .body(file.body))
}
