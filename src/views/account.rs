use askama::Template;
use askama_web::WebTemplate;

use super::PageCtx;
use crate::domain::users::PasswordChangeErrors;

#[derive(Template, WebTemplate)]
#[template(path = "account/password.html")]
pub struct ChangePasswordPage {
    pub page: PageCtx,
    pub errors: PasswordChangeErrors,
}
