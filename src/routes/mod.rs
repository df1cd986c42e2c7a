//! Every route of the application, in one list. Handlers extract, authorise,
//! call one domain function through `db::run`, and render or redirect.

pub mod account;
pub mod admin;
pub mod approvals;
pub mod context;
pub mod dashboard;
pub mod deployments;
pub mod environments;
pub mod health;
pub mod login;
pub mod logout;
pub mod projects;
pub mod releases;
pub mod static_files;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, guard, web};
use askama::Template;

use crate::auth::CurrentUser;
use crate::domain::audit::Actor;
use crate::error::AppError;
use crate::input::limits;

/// Routes that never look at the session: probes and the stylesheet are
/// served outside the session middleware, so a browser's cookie on them
/// costs no database read.
pub fn configure_sessionless(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/static/{file}", web::get().to(static_files::serve));
}

/// Every other route, behind the session middleware.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login::form))
        .route("/login", web::post().to(login::submit))
        .route("/logout", web::get().to(logout::confirm))
        .route("/logout", web::post().to(logout::submit))
        .route("/", web::get().to(dashboard::show))
        .route("/account/password", web::get().to(account::password_form))
        .route(
            "/account/password",
            web::post().to(account::change_password),
        )
        .route("/projects/{project}", web::get().to(projects::show))
        .route(
            "/projects/{project}/releases",
            web::get().to(releases::list),
        )
        .route(
            "/projects/{project}/releases/new",
            web::get().to(releases::new_form),
        )
        .service(post_with_limit(
            "/projects/{project}/releases/new",
            limits::RELEASE_FORM,
            releases::create,
        ))
        .route(
            "/projects/{project}/releases/{version}",
            web::get().to(releases::show),
        )
        .route(
            "/projects/{project}/releases/{version}/deploy",
            web::post().to(releases::deploy),
        )
        .route(
            "/projects/{project}/releases/{version}/delete",
            web::get().to(releases::confirm_delete),
        )
        .route(
            "/projects/{project}/releases/{version}/delete",
            web::post().to(releases::delete),
        )
        .route(
            "/projects/{project}/environments/{environment}",
            web::get().to(environments::show),
        )
        .route("/deployments/{id}", web::get().to(deployments::show))
        .route(
            "/deployments/{id}/log.json",
            web::get().to(deployments::log_json),
        )
        .route(
            "/deployments/{id}/log.txt",
            web::get().to(deployments::log_text),
        )
        .route(
            "/deployments/{id}/cancel",
            web::post().to(deployments::cancel),
        )
        .route(
            "/deployments/{id}/approve",
            web::post().to(approvals::approve),
        )
        .route(
            "/deployments/{id}/reject",
            web::post().to(approvals::reject),
        )
        .route("/deployments/{id}/defer", web::post().to(approvals::defer))
        .route("/approvals", web::get().to(approvals::inbox))
        .route(
            "/deployments/{id}/override",
            web::post().to(approvals::request_override),
        )
        .route(
            "/deployments/{id}/override/confirm",
            web::post().to(approvals::confirm_override),
        )
        .route(
            "/admin/projects/{project}/freezes",
            web::get().to(admin::freezes::show),
        )
        .route(
            "/admin/projects/{project}/freezes",
            web::post().to(admin::freezes::add),
        )
        .route(
            "/admin/projects/{project}/freezes/{freeze}/remove",
            web::post().to(admin::freezes::remove),
        )
        .route(
            "/admin/projects/{project}/retention",
            web::get().to(admin::retention::show),
        )
        .route(
            "/admin/projects/{project}/retention",
            web::post().to(admin::retention::save),
        )
        .route("/admin", web::get().to(admin::index))
        .route(
            "/admin/projects/{project}/environments/{environment}/settings",
            web::get().to(admin::environment::show),
        )
        .route(
            "/admin/projects/{project}/environments/{environment}/policy",
            web::post().to(admin::environment::policy),
        )
        .service(post_with_limit(
            "/admin/projects/{project}/environments/{environment}/steps",
            limits::STEP_FORM,
            admin::environment::add_step,
        ))
        .service(post_with_limit(
            "/admin/projects/{project}/environments/{environment}/steps/{step}",
            limits::STEP_FORM,
            admin::environment::update_step,
        ))
        .route(
            "/admin/projects/{project}/environments/{environment}/steps/{step}/move",
            web::post().to(admin::environment::move_step),
        )
        .route(
            "/admin/projects/{project}/environments/{environment}/steps/{step}/remove",
            web::post().to(admin::environment::remove_step),
        )
        .service(post_with_limit(
            "/admin/projects/{project}/environments/{environment}/variables",
            limits::VARIABLE_FORM,
            admin::environment::set_variable,
        ))
        .route(
            "/admin/projects/{project}/environments/{environment}/variables/{variable}/remove",
            web::post().to(admin::environment::remove_variable),
        )
        .route("/admin/projects", web::get().to(admin::projects::list))
        .route(
            "/admin/projects",
            web::post().to(admin::projects::create_project),
        )
        .route(
            "/admin/projects/{project}",
            web::get().to(admin::projects::pipeline),
        )
        .route(
            "/admin/projects/{project}/access",
            web::get().to(admin::access::show),
        )
        .route(
            "/admin/projects/{project}/access",
            web::post().to(admin::access::add),
        )
        .route(
            "/admin/projects/{project}/access/{grant}/remove",
            web::post().to(admin::access::remove),
        )
        .route("/admin/users", web::get().to(admin::users::list))
        .route("/admin/users", web::post().to(admin::users::create))
        .route("/admin/users/{user}", web::get().to(admin::users::show))
        .route(
            "/admin/users/{user}/disable",
            web::post().to(admin::users::disable),
        )
        .route(
            "/admin/users/{user}/enable",
            web::post().to(admin::users::enable),
        )
        .route(
            "/admin/users/{user}/admin",
            web::post().to(admin::users::set_admin),
        )
        .route(
            "/admin/users/{user}/password",
            web::post().to(admin::users::reset_password),
        )
        .route(
            "/admin/users/{user}/sessions/end",
            web::post().to(admin::users::end_sessions),
        )
        .route("/admin/teams", web::get().to(admin::teams::list))
        .route("/admin/teams", web::post().to(admin::teams::create))
        .route("/admin/teams/{team}", web::get().to(admin::teams::show))
        .route(
            "/admin/teams/{team}/rename",
            web::post().to(admin::teams::rename),
        )
        .route(
            "/admin/teams/{team}/delete",
            web::post().to(admin::teams::delete),
        )
        .route(
            "/admin/teams/{team}/members",
            web::post().to(admin::teams::add_member),
        )
        .route(
            "/admin/teams/{team}/members/{user}/remove",
            web::post().to(admin::teams::remove_member),
        )
        .route("/admin/audit", web::get().to(admin::audit::show))
        .route("/admin/audit.csv", web::get().to(admin::audit::csv))
        .route(
            "/admin/projects/{project}/environments",
            web::post().to(admin::projects::add_environment),
        )
        .route(
            "/admin/projects/{project}/environments/{environment}",
            web::post().to(admin::projects::update_environment),
        )
        .route(
            "/admin/projects/{project}/environments/{environment}/move",
            web::post().to(admin::projects::move_environment),
        )
        .route(
            "/admin/projects/{project}/environments/{environment}/remove",
            web::post().to(admin::projects::remove_environment),
        );
}

/// A POST route whose form may be longer than the app-wide body limit
/// allows; its own limit follows from its fields' documented limits.
fn post_with_limit<F, Args>(path: &str, limit: usize, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    // The guard lets a GET of the same path reach its own resource.
    web::resource(path)
        .guard(guard::Post())
        .app_data(web::PayloadConfig::new(limit))
        .route(web::post().to(handler))
}

/// Anything no route matched.
pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}

/// The client's address for the audit: the TCP peer's, or what a trusted
/// proxy says it forwarded for (see `auth::site`).
pub fn client_addr(req: &HttpRequest) -> Option<String> {
    crate::auth::site::Site::of(req).client_addr(req)
}

/// The signed-in user as the domain sees them: for access checks and audit.
pub fn actor(req: &HttpRequest, user: &CurrentUser) -> Actor {
    Actor::user(
        user.id,
        user.username.clone(),
        user.is_admin,
        client_addr(req),
    )
}

/// 303 See Other, the answer to a successful form POST.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Renders a page with a status other than 200 (e.g. 422 for a form with errors).
pub fn render_with_status(
    page: &impl Template,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let html = page.render().map_err(AppError::internal)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}
