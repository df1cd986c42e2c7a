//! `/api`: the API's endpoints for people, listed from the route table (so
//! the page cannot miss one) with what each does, and curl examples.

use actix_web::HttpRequest;

use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::views::api::ApiPage;

/// What an endpoint does, in words.
fn what(method: &str, path: &str) -> &'static str {
    match (method, path.trim_start_matches("/api/v1")) {
        ("GET", "/projects") => {
            "The projects the token may see, each pipeline with what is live where."
        }
        ("GET", "/projects/{project}") => {
            "One project: its environments in order, what is live and what ran last in each."
        }
        ("GET", "/projects/{project}/releases") => {
            "Releases newest first; q= searches, env= keeps those that succeeded there, before= pages (see next and Link)."
        }
        ("POST", "/projects/{project}/releases") => {
            "Creates a release: {\"version\", \"title\", \"description\", \"artifacts\": [{\"name\", \"reference\", \"url\", \"sha256\"}]}. 201; the same release again 200; other content 409."
        }
        ("GET", "/projects/{project}/releases/{version}") => {
            "A release: artifacts, and per environment its label, deployments, whether it is live and the readiness checklist."
        }
        ("DELETE", "/projects/{project}/releases/{version}") => {
            "Deletes a release that never left its first environment (204)."
        }
        ("POST", "/projects/{project}/releases/{version}/deployments") => {
            "Deploys: {\"environment\", \"version_label\", \"comment\", \"not_before\", \"target_environment\"}. 201; refused by a rule: 409 with the checklist."
        }
        ("GET", "/projects/{project}/environments/{environment}/deployments") => {
            "An environment's deployments, newest first, with a cursor."
        }
        ("GET", "/deployments/{id}") => {
            "A deployment and its state; ?wait=N (at most 60) answers when the state changes."
        }
        ("GET", "/deployments/{id}/log") => {
            "Its log from ?offset= (bytes); ask again from next_offset until complete."
        }
        ("POST", "/deployments/{id}/approve") => "Approves (as an approver there): {\"comment\"}.",
        ("POST", "/deployments/{id}/reject") => "Rejects: {\"comment\"}.",
        ("POST", "/deployments/{id}/defer") => {
            "Approves to start no earlier than {\"until\"} (RFC 3339)."
        }
        ("POST", "/deployments/{id}/cancel") => {
            "Cancels a deployment that waits, is queued or runs."
        }
        ("POST", "/deployments/{id}/redeploy") => {
            "Deploys the same release to the same environment again (201)."
        }
        _ => "",
    }
}

pub async fn show(ctx: Ctx, req: HttpRequest) -> Result<ApiPage, AppError> {
    let endpoints = crate::routes::table::all()
        .filter(|route| route.path.starts_with("/api/v1/"))
        .map(|route| (route.method, route.path, what(route.method, route.path)))
        .collect();
    // The connection info borrows the request's extensions: read it and
    // let go before the page frame takes its messages from them.
    let base = {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    Ok(ApiPage {
        page: ctx.page("API", "account"),
        endpoints,
        base,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_api_route_is_described() {
        for route in crate::routes::table::all().filter(|r| r.path.starts_with("/api/v1/")) {
            assert!(
                !super::what(route.method, route.path).is_empty(),
                "{} {} has no description on /api",
                route.method,
                route.path
            );
        }
    }
}
