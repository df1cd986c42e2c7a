//! `/logout`: a POST that ends the session; GET shows a confirmation form.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;

use crate::auth::csrf::{CsrfForm, NoFields};
use crate::auth::{CurrentUser, TypedSession};
use crate::db::{self, DbPool};
use crate::domain::audit::{self, Event};
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::views::PageCtx;

#[derive(Template, WebTemplate)]
#[template(path = "logout.html")]
pub struct LogoutPage {
    page: PageCtx,
}

pub async fn confirm(ctx: Ctx) -> LogoutPage {
    LogoutPage {
        page: ctx.page("Sign out", ""),
    }
}

pub async fn submit(
    req: HttpRequest,
    pool: web::Data<DbPool>,
    session: TypedSession,
    user: Option<CurrentUser>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    if let Some(user) = user {
        let actor = super::actor(&req, &user);
        db::run(&pool, move |conn| {
            audit::record(
                conn,
                &actor,
                Event::new("logout", "user", actor.name.clone()),
            )
        })
        .await?;
    }
    session.log_out();
    Ok(super::see_other("/login?signed_out=1"))
}
