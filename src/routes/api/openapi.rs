//! `GET /api/v1/openapi.json`: the API described as OpenAPI 3.1, generated
//! from the handlers' own annotations and the answer types they serialize,
//! so the document cannot say one thing while the code does another. A test
//! holds every route of the table to it and every answer to its schema.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, RefOr, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi};

use super::{deployments, projects, releases};
use crate::views::api::Endpoint;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Stagecoach API",
        description = "Drive Stagecoach from CI: create releases, deploy and promote them, \
            follow deployments and decide approvals, under the same access rules as the pages. \
            Authenticate with an API token from your account page: `Authorization: Bearer stgc_…`. \
            Every error is `{\"error\", \"message\", \"field\"}` JSON."
    ),
    paths(
        projects::list,
        projects::show,
        releases::list,
        releases::create,
        releases::show,
        releases::delete,
        releases::block,
        releases::unblock,
        deployments::list,
        deployments::create,
        deployments::show,
        deployments::log,
        deployments::approve,
        deployments::reject,
        deployments::defer,
        deployments::cancel,
        deployments::decide_manual,
        deployments::redeploy,
    ),
    modifiers(&EveryOperation),
    security(("token" = [])),
    tags(
        (name = "projects", description = "Projects and their pipelines"),
        (name = "releases", description = "Releases: list, read, create, delete"),
        (name = "deployments", description = "Deploying, following and cancelling"),
        (name = "approvals", description = "Deciding deployments that wait for approval"),
    )
)]
pub struct ApiDoc;

/// What every operation shares: the token, and the answers any request may
/// get before its handler runs (a bad token, a body over the limit, the
/// database away).
struct EveryOperation;

impl Modify for EveryOperation {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                            "ApiError",
                        ))))
                        .build(),
                )
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            let operations = [
                (false, &mut item.get),
                (true, &mut item.post),
                (false, &mut item.delete),
            ];
            for (takes_body, operation) in operations {
                let Some(operation) = operation else { continue };
                let responses = &mut operation.responses.responses;
                responses.entry("401".to_owned()).or_insert_with(|| {
                    error("No token, or one expired, revoked or unknown").into()
                });
                responses
                    .entry("503".to_owned())
                    .or_insert_with(|| error("The database cannot be reached: try again").into());
                if takes_body {
                    responses
                        .entry("413".to_owned())
                        .or_insert_with(|| error("The body is too large").into());
                }
            }
        }
    }
}

/// The document, built once.
pub fn document() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|err| format!("{{\"error\": \"{err}\"}}"))
    })
}

/// Every API route of the table, in the table's order, in the document's
/// words (one text serves the document and the page).
pub fn endpoints() -> &'static [Endpoint] {
    static LIST: OnceLock<Vec<Endpoint>> = OnceLock::new();
    LIST.get_or_init(|| {
        let doc = ApiDoc::openapi();
        crate::routes::table::all()
            .filter_map(|route| {
                let item = doc.paths.paths.get(route.path)?;
                let operation = match route.method {
                    "GET" => item.get.as_ref(),
                    "POST" => item.post.as_ref(),
                    "DELETE" => item.delete.as_ref(),
                    _ => None,
                }?;
                Some(Endpoint {
                    method: route.method,
                    path: route.path,
                    summary: operation.summary.clone().unwrap_or_default(),
                    description: operation.description.clone().unwrap_or_default(),
                })
            })
            .collect()
    })
}

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

// Path and header parameters, described once for every operation that
// takes them. Never built: the handlers read these from the path.

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "a description of the path, read by the document")]
pub struct ProjectPath {
    /// The project's slug.
    #[param(example = "shop")]
    project: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "a description of the path, read by the document")]
pub struct ReleasePath {
    /// The project's slug.
    #[param(example = "shop")]
    project: String,
    /// The release's version.
    #[param(example = "1.0.0")]
    version: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "a description of the path, read by the document")]
pub struct EnvironmentPath {
    /// The project's slug.
    #[param(example = "shop")]
    project: String,
    /// The environment's slug.
    #[param(example = "development")]
    environment: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "a description of the path, read by the document")]
pub struct DeploymentPath {
    /// The deployment's id.
    #[param(example = 1)]
    id: crate::domain::ids::DeploymentId,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "a description of the path, read by the document")]
pub struct StepPath {
    /// The deployment's id.
    #[param(example = 1)]
    id: crate::domain::ids::DeploymentId,
    /// The step's place in the deployment, from 0.
    #[param(example = 0, minimum = 0)]
    position: i32,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(
    dead_code,
    reason = "a description of the header, read by the document"
)]
pub struct IdempotencyKey {
    /// Any text of 1 to 255 visible ASCII characters, new for each request:
    /// a retry with the same key and body gets the first answer again.
    #[param(rename = "Idempotency-Key", pattern = "^[!-~]{1,255}$")]
    idempotency_key: Option<String>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_api_route_of_the_table_is_described_for_people() {
        let api_routes = crate::routes::table::all()
            .filter(|r| r.path.starts_with("/api/v1/") && r.path != "/api/v1/openapi.json")
            .count();
        let endpoints = super::endpoints();
        assert_eq!(endpoints.len(), api_routes);
        for e in endpoints {
            assert!(
                !e.summary.is_empty(),
                "{} {} has no summary",
                e.method,
                e.path
            );
        }
    }
}
