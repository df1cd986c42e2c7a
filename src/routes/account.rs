//! `/account/password`: change one's own password.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Deserialize;

use crate::auth::csrf::CsrfForm;
use crate::db::{self};
use crate::domain::users::{self, ChangePasswordError, PasswordChangeErrors};
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::views::account::ChangePasswordPage;

#[allow(clippy::struct_field_names, reason = "the form's own field names")]
#[derive(Debug, Deserialize)]
pub struct ChangePasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

pub async fn password_form(ctx: Ctx) -> ChangePasswordPage {
    ChangePasswordPage {
        page: ctx.page("Change password", "account"),
        errors: PasswordChangeErrors::default(),
    }
}

pub async fn change_password(
    ctx: Ctx,
    CsrfForm(form): CsrfForm<ChangePasswordForm>,
) -> Result<HttpResponse, AppError> {
    let user_id = ctx.user.id;
    let result = ctx
        .run(move |conn, actor| {
            users::change_password(
                conn,
                actor,
                user_id,
                &form.current_password,
                &form.new_password,
                &form.confirm_password,
            )
        })
        .await;
    match result {
        Ok(()) => {
            // The database already ended every session of this user; this
            // removes the cookie too.
            ctx.session.log_out();
            Ok(super::see_other("/login?changed=1"))
        }
        Err(db::RunError::Work(ChangePasswordError::Invalid(errors))) => {
            let page = ChangePasswordPage {
                page: ctx.page("Change password", "account"),
                errors,
            };
            super::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(other) => Err(other.into()),
    }
}
