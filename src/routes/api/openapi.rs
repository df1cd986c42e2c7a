//! `GET /api/v1/openapi.json`: the API described as OpenAPI 3.1, generated
//! from the handlers' own annotations and the answer types they serialize,
//! so the document cannot say one thing while the code does another. A test
//! holds every route of the table to it and every answer to its schema.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::link::LinkBuilder;
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
    modifiers(&EveryOperation, &Links),
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

/// How an answer leads on: the release made is read, deployed, blocked;
/// the deployment requested is read, followed, approved, cancelled. For
/// people reading the document, and for clients (and schemathesis's
/// stateful phase) that walk from one call to the next.
struct Links;

/// A parameter of a linked operation and the runtime expression it takes.
type LinkParameter = (&'static str, &'static str);
/// A link: its name, the operation it leads to, that operation's path
/// parameters.
type LinkTo = (&'static str, &'static str, &'static [LinkParameter]);
/// Operation, answer status, and the links it gets.
type LinkRow = (&'static str, &'static str, &'static [LinkTo]);

const RELEASE_FROM_BODY: &[LinkParameter] = &[
    ("project", "$request.path.project"),
    ("version", "$response.body#/version"),
];
const DEPLOYMENT_FROM_BODY: &[LinkParameter] = &[("id", "$response.body#/id")];
const RELEASE_LINKS: &[LinkTo] = &[
    ("read", "getRelease", RELEASE_FROM_BODY),
    ("deploy", "createDeployment", RELEASE_FROM_BODY),
    ("block", "blockRelease", RELEASE_FROM_BODY),
    ("delete", "deleteRelease", RELEASE_FROM_BODY),
];
const DEPLOYMENT_LINKS: &[LinkTo] = &[
    ("read", "getDeployment", DEPLOYMENT_FROM_BODY),
    ("log", "getDeploymentLog", DEPLOYMENT_FROM_BODY),
    ("approve", "approveDeployment", DEPLOYMENT_FROM_BODY),
    ("reject", "rejectDeployment", DEPLOYMENT_FROM_BODY),
    ("defer", "deferDeployment", DEPLOYMENT_FROM_BODY),
    ("cancel", "cancelDeployment", DEPLOYMENT_FROM_BODY),
    ("redeploy", "redeployDeployment", DEPLOYMENT_FROM_BODY),
];
const LINKS: &[LinkRow] = &[
    ("createRelease", "201", RELEASE_LINKS),
    ("createRelease", "200", RELEASE_LINKS),
    ("getRelease", "200", RELEASE_LINKS),
    ("createDeployment", "201", DEPLOYMENT_LINKS),
    ("getDeployment", "200", DEPLOYMENT_LINKS),
    ("redeployDeployment", "201", DEPLOYMENT_LINKS),
    ("cancelDeployment", "200", DEPLOYMENT_LINKS),
];

impl Modify for Links {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post, &mut item.delete]
                .into_iter()
                .flatten()
            {
                let id = operation.operation_id.as_deref().unwrap_or_default();
                for (_, status, links) in LINKS.iter().filter(|(op, _, _)| *op == id) {
                    let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status)
                    else {
                        continue;
                    };
                    for (name, target, parameters) in *links {
                        let link = parameters
                            .iter()
                            .fold(LinkBuilder::new().operation_id(*target), |b, (n, v)| {
                                b.parameter(*n, *v)
                            })
                            .build();
                        response.links.insert((*name).to_owned(), RefOr::T(link));
                    }
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
    use serde_json::Value;

    /// The fields of a schema: its properties, and those of the schemas it
    /// is made of (a flattened body is an `allOf`).
    fn fields(doc: &Value, schema: &Value) -> Vec<String> {
        let schema = match schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
            Some(name) => &doc["components"]["schemas"][name],
            None => schema,
        };
        let mut found: Vec<String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        for part in schema["allOf"].as_array().into_iter().flatten() {
            found.extend(fields(doc, part));
        }
        found
    }

    /// Each link leads to an operation of the document, fills exactly that
    /// operation's path parameters, and takes each from a path parameter
    /// of its own operation or a field of its answer's schema.
    #[test]
    fn every_link_leads_to_an_operation_and_fills_its_path_from_what_exists() {
        let doc: Value = serde_json::from_str(super::document()).unwrap();
        let mut operations = std::collections::BTreeMap::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for operation in item.as_object().unwrap().values() {
                if let Some(id) = operation["operationId"].as_str() {
                    operations.insert(id.to_owned(), (path.clone(), operation.clone()));
                }
            }
        }
        let path_params = |path: &str| -> Vec<String> {
            path.split('{')
                .skip(1)
                .map(|p| p.split('}').next().unwrap().to_owned())
                .collect()
        };
        let mut links = 0;
        for (id, (path, operation)) in &operations {
            for (status, response) in operation["responses"].as_object().unwrap() {
                let Some(found) = response["links"].as_object() else {
                    continue;
                };
                let schema = fields(&doc, &response["content"]["application/json"]["schema"]);
                for (name, link) in found {
                    links += 1;
                    let target = link["operationId"].as_str().unwrap();
                    let (target_path, _) = operations
                        .get(target)
                        .unwrap_or_else(|| panic!("{id} {status} {name}: no operation {target}"));
                    let mut given: Vec<String> = link["parameters"]
                        .as_object()
                        .unwrap()
                        .keys()
                        .cloned()
                        .collect();
                    let mut wanted = path_params(target_path);
                    given.sort();
                    wanted.sort();
                    assert_eq!(given, wanted, "{id} {status} {name}");
                    for value in link["parameters"].as_object().unwrap().values() {
                        let value = value.as_str().unwrap();
                        if let Some(field) = value.strip_prefix("$response.body#/") {
                            assert!(
                                schema.contains(&field.to_owned()),
                                "{id} {status} {name}: the answer has no {field}"
                            );
                        } else if let Some(param) = value.strip_prefix("$request.path.") {
                            assert!(
                                path_params(path).iter().any(|p| p == param),
                                "{id} {status} {name}: {path} has no {param}"
                            );
                        } else {
                            panic!("{id} {status} {name}: {value}");
                        }
                    }
                }
            }
        }
        assert!(links >= 20, "{links} links");
    }

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
