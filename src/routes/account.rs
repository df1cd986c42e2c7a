//! `/account/password`: change one's own password.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::auth::csrf::CsrfForm;
use crate::auth::{CurrentUser, TypedSession};
use crate::db::{self, DbPool};
use crate::domain::users::{self, ChangePasswordError, PasswordChangeErrors};
use crate::error::AppError;
use crate::views::PageCtx;
use crate::views::account::ChangePasswordPage;

#[derive(Debug, Deserialize)]
pub struct ChangePasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

pub async fn password_form(user: CurrentUser, session: TypedSession) -> ChangePasswordPage {
    ChangePasswordPage {
        page: PageCtx::new(&session, Some(user), "Change password", "account"),
        errors: PasswordChangeErrors::default(),
    }
}

pub async fn change_password(
    req: HttpRequest,
    user: CurrentUser,
    session: TypedSession,
    pool: web::Data<DbPool>,
    CsrfForm(form): CsrfForm<ChangePasswordForm>,
) -> Result<HttpResponse, AppError> {
    let actor = super::actor(&req, &user);
    let user_id = user.id;
    let result = db::run(&pool, move |conn| {
        users::change_password(
            conn,
            &actor,
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
            session.log_out();
            Ok(super::see_other("/login?changed=1"))
        }
        Err(db::RunError::Work(ChangePasswordError::Invalid(errors))) => {
            let page = ChangePasswordPage {
                page: PageCtx::new(&session, Some(user), "Change password", "account"),
                errors,
            };
            super::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(other) => Err(other.into()),
    }
}
