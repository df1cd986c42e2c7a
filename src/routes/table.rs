//! Every route in one table: its method, path, the gate a request passes
//! before the handler runs, and the handler. `configure` registers the
//! table and the permission test walks it, so a route cannot be added
//! without the test asking every kind of user what it answers.

use actix_web::body::BoxBody;
use actix_web::dev::ServiceRequest;
use actix_web::http::Method;
use actix_web::middleware::{Next, from_fn};
use actix_web::{guard, web};

#[allow(clippy::enum_glob_use, reason = "the table reads as a table")]
use super::gate::{self, Gate, Gate::*, Needs::*};
use super::{
    account, admin, api, approvals, dashboard, deployments, environments, health, login, logout,
    projects, releases, static_files, tokens,
};
use crate::input::limits;

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub gate: Gate,
}

/// Declares a table: the list of rows and the function that registers
/// them, from one text, so the two cannot drift apart. A row may name a
/// body limit for a form longer than the app-wide limit allows.
macro_rules! route_table {
    ($list:ident, $configure:ident;
     $( $method:ident $path:literal $([$limit:expr])? => $handler:path, $gate:expr; )*) => {
        pub const $list: &[Route] = &[
            $( Route { method: stringify!($method), path: $path, gate: $gate } ),*
        ];

        pub fn $configure(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    // The method guard lets a GET and a POST of one path
                    // be two resources with their own gates and limits.
                    web::resource($path)
                        .guard(guard::Method(Method::$method))
                        $( .app_data(web::PayloadConfig::new($limit)) )?
                        .wrap(from_fn(
                            |req: ServiceRequest,
                             next: Next<BoxBody>|
                             -> gate::Checked { gate::check($gate, req, next) },
                        ))
                        .route(web::route().to($handler)),
                );
            )*
        }
    };
}

// Probes and the stylesheet are served outside the session middleware,
// so a browser's cookie on them costs no database read.
route_table! { SESSIONLESS, configure_sessionless;
    GET "/healthz" => health::healthz, Public;
    // The API: tokens, never the session (see `api::caller`).
    GET "/api/v1/openapi.json" => api::openapi::serve, Public;
    GET "/api/v1/projects" => api::projects::list, Token;
    GET "/api/v1/projects/{project}" => api::projects::show, Token;
    GET "/api/v1/projects/{project}/releases" => api::releases::list, Token;
    POST "/api/v1/projects/{project}/releases" [limits::RELEASE_FORM] => api::releases::create, Token;
    GET "/api/v1/projects/{project}/releases/{version}" => api::releases::show, Token;
    DELETE "/api/v1/projects/{project}/releases/{version}" => api::releases::delete, Token;
    POST "/api/v1/projects/{project}/releases/{version}/block" => api::releases::block, Token;
    POST "/api/v1/projects/{project}/releases/{version}/unblock" => api::releases::unblock, Token;
    GET "/api/v1/projects/{project}/environments/{environment}/deployments" => api::deployments::list, Token;
    POST "/api/v1/projects/{project}/releases/{version}/deployments" => api::deployments::create, Token;
    GET "/api/v1/deployments/{id}" => api::deployments::show, Token;
    GET "/api/v1/deployments/{id}/log" => api::deployments::log, Token;
    POST "/api/v1/deployments/{id}/approve" => api::deployments::approve, Token;
    POST "/api/v1/deployments/{id}/reject" => api::deployments::reject, Token;
    POST "/api/v1/deployments/{id}/defer" => api::deployments::defer, Token;
    POST "/api/v1/deployments/{id}/cancel" => api::deployments::cancel, Token;
    POST "/api/v1/deployments/{id}/steps/{position}/decide" => api::deployments::decide_manual, Token;
    POST "/api/v1/deployments/{id}/redeploy" => api::deployments::redeploy, Token;
    GET "/readyz" => health::readyz, Public;
    GET "/static/{file}" => static_files::serve, Public;
}

route_table! { SESSIONED, configure;
    GET "/login" => login::form, Public;
    POST "/login" => login::submit, Public;
    GET "/logout" => logout::confirm, SignedIn;
    POST "/logout" => logout::submit, Public;
    GET "/" => dashboard::show, SignedIn;
    GET "/account/password" => account::password_form, SignedIn;
    POST "/account/password" => account::change_password, SignedIn;
    GET "/account/tokens" => tokens::mine, SignedIn;
    GET "/api" => api::docs::show, SignedIn;
    POST "/account/tokens" => tokens::create_mine, SignedIn;
    POST "/account/tokens/{token}/revoke" => tokens::revoke_mine, SignedIn;
    GET "/approvals" => approvals::inbox, SignedIn;

    GET "/projects/{project}" => projects::show, Project(View);
    GET "/projects/{project}/releases" => releases::list, Project(View);
    GET "/projects/{project}/compare" => releases::compare, Project(View);
    GET "/projects/{project}/releases/new" => releases::new_form, Project(Act);
    POST "/projects/{project}/releases/new" [limits::RELEASE_FORM] => releases::create, Project(Act);
    GET "/projects/{project}/releases/{version}" => releases::show, Project(View);
    POST "/projects/{project}/releases/{version}/deploy" => releases::deploy, Project(Act);
    POST "/projects/{project}/releases/{version}/block" => releases::block, Project(Act);
    POST "/projects/{project}/releases/{version}/unblock" => releases::unblock, Project(Act);
    GET "/projects/{project}/releases/{version}/delete" => releases::confirm_delete, Project(Act);
    POST "/projects/{project}/releases/{version}/delete" => releases::delete, Project(Act);
    GET "/projects/{project}/environments/{environment}" => environments::show, Project(View);
    POST "/projects/{project}/environments/{environment}/rollback" => environments::rollback, Project(Act);

    GET "/deployments/{id}" => deployments::show, Project(View);
    GET "/deployments/{id}/log.json" => deployments::log_json, Project(View);
    GET "/deployments/{id}/log.txt" => deployments::log_text, Project(View);
    POST "/deployments/{id}/cancel" => deployments::cancel, Project(Act);
    POST "/deployments/{id}/steps/{position}/decide" => deployments::decide_manual, Project(Act);
    POST "/deployments/{id}/approve" => approvals::approve, Project(Act);
    POST "/deployments/{id}/reject" => approvals::reject, Project(Act);
    POST "/deployments/{id}/defer" => approvals::defer, Project(Act);
    POST "/deployments/{id}/override" => approvals::request_override, Project(Act);
    POST "/deployments/{id}/override/confirm" => approvals::confirm_override, Project(Act);

    GET "/admin" => admin::index, Admin("open the admin console");
    GET "/admin/projects" => admin::projects::list, Admin("manage projects");
    POST "/admin/projects" => admin::projects::create_project, Admin("manage projects");
    GET "/admin/projects/{project}" => admin::projects::pipeline, Admin("manage projects");
    POST "/admin/projects/{project}/environments" => admin::projects::add_environment, Admin("manage projects");
    POST "/admin/projects/{project}/environments/{environment}" => admin::projects::update_environment, Admin("manage projects");
    POST "/admin/projects/{project}/environments/{environment}/move" => admin::projects::move_environment, Admin("manage projects");
    POST "/admin/projects/{project}/environments/{environment}/remove" => admin::projects::remove_environment, Admin("manage projects");
    GET "/admin/projects/{project}/environments/{environment}/settings" => admin::environment::show, Admin("manage environments");
    POST "/admin/projects/{project}/environments/{environment}/policy" => admin::environment::policy, Admin("manage environments");
    POST "/admin/projects/{project}/environments/{environment}/steps" [limits::STEP_FORM] => admin::environment::add_step, Admin("manage environments");
    POST "/admin/projects/{project}/environments/{environment}/steps/{step}" [limits::STEP_FORM] => admin::environment::update_step, Admin("manage environments");
    POST "/admin/projects/{project}/environments/{environment}/steps/{step}/move" => admin::environment::move_step, Admin("manage environments");
    POST "/admin/projects/{project}/environments/{environment}/steps/{step}/remove" => admin::environment::remove_step, Admin("manage environments");
    POST "/admin/projects/{project}/environments/{environment}/checks" [limits::STEP_FORM] => admin::environment::add_check, Admin("manage environments");
    POST "/admin/projects/{project}/environments/{environment}/checks/{check}/remove" => admin::environment::remove_check, Admin("manage environments");
    POST "/admin/projects/{project}/environments/{environment}/variables" [limits::VARIABLE_FORM] => admin::environment::set_variable, Admin("manage environments");
    POST "/admin/projects/{project}/environments/{environment}/variables/{variable}/remove" => admin::environment::remove_variable, Admin("manage environments");
    GET "/admin/projects/{project}/access" => admin::access::show, Admin("manage access");
    POST "/admin/projects/{project}/access" => admin::access::add, Admin("manage access");
    POST "/admin/projects/{project}/access/{grant}/remove" => admin::access::remove, Admin("manage access");
    GET "/admin/projects/{project}/freezes" => admin::freezes::show, Admin("manage freezes");
    POST "/admin/projects/{project}/freezes" => admin::freezes::add, Admin("manage freezes");
    POST "/admin/projects/{project}/freezes/{freeze}/remove" => admin::freezes::remove, Admin("manage freezes");
    GET "/admin/projects/{project}/webhooks" => admin::webhooks::show, Admin("manage webhooks");
    POST "/admin/projects/{project}/webhooks" => admin::webhooks::add, Admin("manage webhooks");
    GET "/admin/projects/{project}/webhooks/{webhook}" => admin::webhooks::deliveries, Admin("manage webhooks");
    POST "/admin/projects/{project}/webhooks/{webhook}/remove" => admin::webhooks::remove, Admin("manage webhooks");
    POST "/admin/projects/{project}/webhooks/{webhook}/deliveries/{delivery}/redeliver" => admin::webhooks::redeliver, Admin("manage webhooks");
    GET "/admin/projects/{project}/retention" => admin::retention::show, Admin("manage retention");
    POST "/admin/projects/{project}/retention" => admin::retention::save, Admin("manage retention");
    GET "/admin/users" => admin::users::list, Admin("manage users");
    POST "/admin/users" => admin::users::create, Admin("manage users");
    GET "/admin/users/{user}" => admin::users::show, Admin("manage users");
    POST "/admin/users/{user}/disable" => admin::users::disable, Admin("manage users");
    POST "/admin/users/{user}/enable" => admin::users::enable, Admin("manage users");
    POST "/admin/users/{user}/admin" => admin::users::set_admin, Admin("manage users");
    POST "/admin/users/{user}/password" => admin::users::reset_password, Admin("manage users");
    POST "/admin/users/{user}/sessions/end" => admin::users::end_sessions, Admin("manage users");
    POST "/admin/users/{user}/tokens" => tokens::create_for_service, Admin("manage users");
    POST "/admin/users/{user}/tokens/{token}/revoke" => tokens::revoke_for_service, Admin("manage users");
    GET "/admin/tokens" => tokens::everyone, Admin("manage API tokens");
    POST "/admin/tokens/settings" => tokens::set_lifetime, Admin("manage API tokens");
    POST "/admin/tokens/{token}/revoke" => tokens::revoke_any, Admin("manage API tokens");
    GET "/admin/teams" => admin::teams::list, Admin("manage teams");
    POST "/admin/teams" => admin::teams::create, Admin("manage teams");
    GET "/admin/teams/{team}" => admin::teams::show, Admin("manage teams");
    POST "/admin/teams/{team}/rename" => admin::teams::rename, Admin("manage teams");
    POST "/admin/teams/{team}/delete" => admin::teams::delete, Admin("manage teams");
    POST "/admin/teams/{team}/members" => admin::teams::add_member, Admin("manage teams");
    POST "/admin/teams/{team}/members/{user}/remove" => admin::teams::remove_member, Admin("manage teams");
    GET "/admin/audit" => admin::audit::show, Admin("read the audit log");
    GET "/admin/audit.csv" => admin::audit::csv, Admin("read the audit log");
}

/// Every route, sessionless ones first.
pub fn all() -> impl Iterator<Item = &'static Route> {
    SESSIONLESS.iter().chain(SESSIONED)
}
