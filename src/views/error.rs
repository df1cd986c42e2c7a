use askama::Template;

use super::PageCtx;

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub page: PageCtx,
    pub status: u16,
    pub message: String,
    pub request_id: String,
}
