use askama::Template;
use askama_web::WebTemplate;

use super::PageCtx;

/// `/api`: the endpoints, in words and with curl.
#[derive(Template, WebTemplate)]
#[template(path = "api.html")]
pub struct ApiPage {
    pub page: PageCtx,
    /// (method, path, what it does)
    pub endpoints: Vec<(&'static str, &'static str, &'static str)>,
    /// This server's address, for the examples.
    pub base: String,
}
