use askama::Template;
use askama_web::WebTemplate;

use super::PageCtx;

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub page: PageCtx,
    pub username: String,
    pub next: String,
    /// Shown above the form: the generic sign-in failure, or a notice.
    pub error: Option<String>,
    pub notice: Option<String>,
    pub username_error: Option<String>,
    pub password_error: Option<String>,
}
