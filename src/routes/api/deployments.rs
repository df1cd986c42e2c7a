//! Deployments through the API: request one of a release (as the release
//! page's form does), read one, and approve, reject, defer or cancel it
//! (as its page's buttons do), under the same checks.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::changes::DeploymentChanges;
use super::model::{
    self, ApprovalBody, DecisionAnswer, DeploymentBody, DeploymentDetail, DeploymentList,
    DeploymentRow, LogBody, Named, StepBody,
};
use super::{ApiCtx, ApiError};
use crate::domain::access::{self, Action};
use crate::domain::approvals::{self, Decided, Decision};
use crate::domain::audit::Actor;
use crate::domain::deployments::{self, Cause, DeployError, DeployInput};
use crate::domain::ids::DeploymentId;
use crate::routes::context::open_release;
use crate::routes::releases::find_target;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeployment {
    /// The environment's slug.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    environment: String,
    /// The label it is known by there (default: the release's version).
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._+-]{0,64}$")]
    version_label: String,
    #[serde(default)]
    comment: String,
    /// Start no earlier than this (RFC 3339).
    #[serde(default)]
    not_before: Option<DateTime<Utc>>,
    /// Keep promoting after each success, up to this environment's slug.
    #[serde(default)]
    target_environment: Option<String>,
}

/// The deployment as the API shows it.
fn body_of(
    conn: &mut PgConnection,
    actor: &Actor,
    id: DeploymentId,
) -> Result<DeploymentBody, ApiError> {
    let loaded = crate::routes::deployments::open(conn, actor, id)?;
    Ok(model::deployment(
        &loaded.deployment,
        &Named {
            project: &loaded.project.slug,
            environment: &loaded.environment,
            version: &loaded.version,
            label: &loaded.label,
            requested_by: loaded.requested_by.as_deref(),
        },
    ))
}

/// The release's facts and its readiness checklist in one environment, as
/// its page reads them: what a refusal and a deployment's answer show.
fn readiness_in(
    conn: &mut PgConnection,
    actor: &Actor,
    slug: &str,
    version: &str,
    environment_id: crate::domain::ids::EnvironmentId,
) -> Result<
    (
        crate::domain::release_view::ReleaseFacts,
        Vec<model::ReadinessCheck>,
    ),
    ApiError,
> {
    let (_, pipeline, access, release) = open_release(conn, actor, slug, version)?;
    let facts = crate::domain::release_view::facts(conn, release.id)?;
    let timeline = crate::domain::releases::timeline(conn, &release, &pipeline, &facts)?;
    let checks =
        crate::domain::readiness::for_release(&release, &pipeline, &timeline, &access, &facts);
    let readiness = timeline
        .iter()
        .zip(checks)
        .find(|(stage, _)| stage.environment.id == environment_id)
        .map(|(_, checks)| checks.into_iter().map(Into::into).collect())
        .unwrap_or_default();
    Ok((facts, readiness))
}

/// A deployment with what surrounds it: its steps, the decisions on it,
/// who may still approve, whether a freeze or a closed window holds its
/// environment, and the readiness checklist of its release there.
fn detail_of(
    conn: &mut PgConnection,
    actor: &Actor,
    id: DeploymentId,
) -> Result<DeploymentDetail, ApiError> {
    let loaded = crate::routes::deployments::open(conn, actor, id)?;
    let around = crate::domain::deployment_view::surroundings(conn, id, loaded.environment.id)?;
    let (facts, readiness) = readiness_in(
        conn,
        actor,
        &loaded.project.slug,
        &loaded.version,
        loaded.environment.id,
    )?;
    let may_still_approve: Vec<String> =
        if loaded.deployment.status == crate::domain::states::DeploymentStatus::AwaitingApproval {
            facts
                .now(loaded.environment.id)
                .map(|now| {
                    now.approvers
                        .iter()
                        .filter(|a| !now.decided.iter().any(|d| d.id == a.id))
                        .filter(|a| {
                            loaded.environment.allow_self_approval
                                || Some(a.id) != loaded.deployment.requested_by
                        })
                        .map(|a| a.name.clone())
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
    Ok(DeploymentDetail {
        deployment: model::deployment(
            &loaded.deployment,
            &Named {
                project: &loaded.project.slug,
                environment: &loaded.environment,
                version: &loaded.version,
                label: &loaded.label,
                requested_by: loaded.requested_by.as_deref(),
            },
        ),
        steps: around.steps.iter().map(StepBody::from).collect(),
        approvals: around.approvals.iter().map(ApprovalBody::from).collect(),
        may_still_approve,
        freeze: around.freeze.map(|f| f.reason),
        window_open: !around.window_closed,
        readiness,
    })
}

/// Deploys a release
///
/// To an environment of its project, as the release page's form does;
/// with `target_environment`, it keeps promoting after each success up to
/// there. A rule that refuses it (a closed window, a freeze, a missing
/// right, an earlier environment not passed) answers 409 with the
/// readiness checklist that says why and when it could go. While the
/// release is already queued or running there, another request answers
/// 409; once that deployment has finished, a request without an
/// `Idempotency-Key` is a new deployment (attempt 2), so send one to make
/// retries safe.
#[utoipa::path(post, path = "/api/v1/projects/{project}/releases/{version}/deployments", operation_id = "createDeployment", tag = "deployments",
    params(super::openapi::ReleasePath, super::openapi::IdempotencyKey),
    request_body = NewDeployment,
    responses(
        (status = 201, description = "Requested: waiting for approval, or queued", body = DeploymentBody),
        (status = 400, description = "The body is not JSON of this shape, or the key is not valid", body = ApiError),
        (status = 403, description = "The token may not deploy there", body = ApiError),
        (status = 404, description = "No such project or release, or the token may not see it", body = ApiError),
        (status = 409, description = "A rule refused it; `readiness` says why", body = ApiError),
        (status = 422, description = "A field is not valid, or the key was used for another body", body = ApiError),
    ))]
pub async fn create(
    ctx: ApiCtx,
    req: actix_web::HttpRequest,
    path: web::Path<(String, String)>,
    raw: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (slug, version) = path.into_inner();
    let body: NewDeployment = super::once::parse(&raw)?;
    super::once::once(&ctx, &req, &raw, move |conn, actor| {
        let (project, pipeline, held, release) = open_release(conn, actor, &slug, &version)?;
        let target = find_target(&pipeline, &body.environment, "environment")
            .map_err(|errors| ApiError::invalid(&errors))?
            .clone();
        let target_environment_id = match body.target_environment.as_deref() {
            None | Some("") => None,
            Some(slug) => Some(
                find_target(&pipeline, slug, "target_environment")
                    .map_err(|errors| ApiError::invalid(&errors))?
                    .id,
            ),
        };
        let deploy = Action::Deploy {
            environment_id: target.id,
            environment: &target.name,
        };
        access::enforce(conn, actor, project.id, held, deploy)?;
        let input = DeployInput {
            environment_id: target.id,
            version_label: body.version_label,
            comment: body.comment,
            not_before: body.not_before,
            target_environment_id,
            cause: Cause::Person,
            rollback: false,
            // Retries are told apart by their idempotency key.
            seen: None,
        };
        match deployments::request(conn, actor, release.id, &input) {
            Ok(deployment) => {
                super::stored(StatusCode::CREATED, &body_of(conn, actor, deployment.id)?)
            }
            Err(DeployError::Refused(message)) => {
                // Say why, with the checklist the release page shows.
                let (_, readiness) =
                    readiness_in(conn, actor, &project.slug, &release.version, target.id)?;
                Err(ApiError::new(StatusCode::CONFLICT, "refused", message)
                    .with_field("environment")
                    .with_readiness(readiness))
            }
            Err(other) => Err(other.into()),
        }
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShowQuery {
    /// Seconds to hold the request until the state changes (at most 60;
    /// more is read as 60).
    #[serde(default)]
    wait: u64,
}

/// A deployment
///
/// Its state, steps, approvals (and who may still approve) and the
/// readiness checklist. With `?wait=N` the answer comes when its state
/// changes or after N seconds, whichever is first (at once if it has
/// finished): a CI job follows a deployment with one open request.
#[utoipa::path(get, path = "/api/v1/deployments/{id}", operation_id = "getDeployment", tag = "deployments",
    params(super::openapi::DeploymentPath, ShowQuery),
    responses(
        (status = 200, description = "The deployment", body = DeploymentDetail),
        (status = 400, description = "A query parameter is not valid", body = ApiError),
        (status = 404, description = "No such deployment, or the token may not see it", body = ApiError),
    ))]
pub async fn show(
    ctx: ApiCtx,
    path: web::Path<DeploymentId>,
    query: web::Query<ShowQuery>,
    changes: web::Data<DeploymentChanges>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let wait = std::time::Duration::from_secs(query.wait).min(super::changes::MAX_WAIT);
    let first = ctx
        .run(move |conn, actor| detail_of(conn, actor, id))
        .await?;
    let state = first.deployment.state;
    if wait.is_zero() || !first.deployment.active {
        return Ok(HttpResponse::Ok().json(first));
    }
    let mut waiting = changes.into_inner().wait_on(id, state.as_str());
    let until = tokio::time::Instant::now() + wait;
    while waiting.changed(until).await {
        let now = ctx
            .run(move |conn, actor| detail_of(conn, actor, id))
            .await?;
        if now.deployment.state != state {
            return Ok(HttpResponse::Ok().json(now));
        }
    }
    // Time is up: where it stands now.
    let now = ctx
        .run(move |conn, actor| detail_of(conn, actor, id))
        .await?;
    Ok(HttpResponse::Ok().json(now))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    #[serde(default)]
    comment: String,
    /// For a deferral: start no earlier than this (RFC 3339).
    #[serde(default)]
    until: Option<DateTime<Utc>>,
}

async fn decide(
    ctx: ApiCtx,
    id: DeploymentId,
    body: &[u8],
    kind: &'static str,
) -> Result<HttpResponse, ApiError> {
    let body: DecisionBody = super::optional_json(body)?;
    let answer = ctx
        .run(move |conn, actor| -> Result<_, ApiError> {
            crate::routes::approvals::open_as_approver(conn, actor, id)?;
            let decision = match (kind, body.until) {
                ("approve", _) => Decision::Approve,
                ("reject", _) => Decision::Reject,
                (_, Some(until)) => Decision::Defer(until),
                (_, None) => {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid",
                        "To defer, give `until`: a date and time (RFC 3339).",
                    )
                    .with_field("until"));
                }
            };
            let decided = approvals::decide(conn, actor, id, &decision, &body.comment)?;
            let body = body_of(conn, actor, id)?;
            let (approvals, required) = match decided {
                Decided::Counted(n, of) => (Some(n), Some(of)),
                Decided::Queued | Decided::Rejected => (None, None),
            };
            Ok(DecisionAnswer {
                deployment: body,
                approvals,
                required_approvals: required,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Approves a deployment
///
/// As an approver of its environment; enough approvals queue it.
#[utoipa::path(post, path = "/api/v1/deployments/{id}/approve", operation_id = "approveDeployment", tag = "approvals",
    params(super::openapi::DeploymentPath),
    request_body(content = Option<DecisionBody>, description = "May be left out"),
    responses(
        (status = 200, description = "Decided", body = DecisionAnswer),
        (status = 400, description = "The body is not JSON of this shape", body = ApiError),
        (status = 403, description = "The token's owner may not approve there, or asked for it", body = ApiError),
        (status = 404, description = "No such deployment, or the token may not see it", body = ApiError),
        (status = 409, description = "It is not waiting for approval, or was decided by this person already", body = ApiError),
        (status = 422, description = "A field is not valid", body = ApiError),
    ))]
pub async fn approve(
    ctx: ApiCtx,
    path: web::Path<DeploymentId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    decide(ctx, path.into_inner(), &body, "approve").await
}

/// Rejects a deployment
#[utoipa::path(post, path = "/api/v1/deployments/{id}/reject", operation_id = "rejectDeployment", tag = "approvals",
    params(super::openapi::DeploymentPath),
    request_body(content = Option<DecisionBody>, description = "May be left out"),
    responses(
        (status = 200, description = "Decided", body = DecisionAnswer),
        (status = 400, description = "The body is not JSON of this shape", body = ApiError),
        (status = 403, description = "The token's owner may not approve there, or asked for it", body = ApiError),
        (status = 404, description = "No such deployment, or the token may not see it", body = ApiError),
        (status = 409, description = "It is not waiting for approval, or was decided by this person already", body = ApiError),
        (status = 422, description = "A field is not valid", body = ApiError),
    ))]
pub async fn reject(
    ctx: ApiCtx,
    path: web::Path<DeploymentId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    decide(ctx, path.into_inner(), &body, "reject").await
}

/// Approves a deployment to start no earlier than `until`
#[utoipa::path(post, path = "/api/v1/deployments/{id}/defer", operation_id = "deferDeployment", tag = "approvals",
    params(super::openapi::DeploymentPath),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Decided", body = DecisionAnswer),
        (status = 400, description = "The body is not JSON of this shape", body = ApiError),
        (status = 403, description = "The token's owner may not approve there, or asked for it", body = ApiError),
        (status = 404, description = "No such deployment, or the token may not see it", body = ApiError),
        (status = 409, description = "It is not waiting for approval, or was decided by this person already", body = ApiError),
        (status = 422, description = "A field is not valid", body = ApiError),
    ))]
pub async fn defer(
    ctx: ApiCtx,
    path: web::Path<DeploymentId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    decide(ctx, path.into_inner(), &body, "defer").await
}

/// Cancels a deployment that waits, is queued or runs
#[utoipa::path(post, path = "/api/v1/deployments/{id}/cancel", operation_id = "cancelDeployment", tag = "deployments",
    params(super::openapi::DeploymentPath),
    responses(
        (status = 200, description = "Cancelled", body = DeploymentBody),
        (status = 400, description = "A body was sent that is not `{}`", body = ApiError),
        (status = 403, description = "The token may not deploy there", body = ApiError),
        (status = 404, description = "No such deployment, or the token may not see it", body = ApiError),
        (status = 409, description = "It has finished", body = ApiError),
    ))]
pub async fn cancel(
    ctx: ApiCtx,
    path: web::Path<DeploymentId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let super::NoFields {} = super::optional_json(&body)?;
    let id = path.into_inner();
    let body = ctx
        .run(move |conn, actor| -> Result<_, ApiError> {
            crate::routes::deployments::open_to(
                conn,
                actor,
                id,
                crate::routes::deployments::Needs::Deploy,
            )?;
            deployments::cancel(conn, actor, id)?;
            body_of(conn, actor, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// A person's decision at a manual step.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualDecisionRequest {
    /// `true`: go on; `false`: abort the deployment here.
    proceed: bool,
    /// Why, for the log and the audit.
    #[serde(default)]
    #[schema(max_length = 2000)]
    note: String,
}

/// Proceeds or aborts at a manual step that waits for a person
///
/// As an approver of its environment; the decision, who made it and when
/// go into the log and the audit. A step is decided once.
#[utoipa::path(post, path = "/api/v1/deployments/{id}/steps/{position}/decide", operation_id = "decideManualStep", tag = "approvals",
    params(super::openapi::StepPath),
    request_body = ManualDecisionRequest,
    responses(
        (status = 200, description = "Decided: the deployment goes on or stops", body = DeploymentBody),
        (status = 400, description = "The body is not JSON of this shape", body = ApiError),
        (status = 403, description = "The token's owner is not an approver there", body = ApiError),
        (status = 404, description = "No such deployment, or the token may not see it", body = ApiError),
        (status = 409, description = "No manual step waits there, or it was decided already", body = ApiError),
        (status = 422, description = "The note is not valid", body = ApiError),
    ))]
pub async fn decide_manual(
    ctx: ApiCtx,
    path: web::Path<(DeploymentId, i32)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, position) = path.into_inner();
    let body: ManualDecisionRequest = super::once::parse(&body)?;
    let answer = ctx
        .run(move |conn, actor| -> Result<_, ApiError> {
            crate::routes::deployments::open_to(
                conn,
                actor,
                id,
                crate::routes::deployments::Needs::Approve,
            )?;
            deployments::manual::decide(conn, actor, id, position, body.proceed, &body.note)?;
            body_of(conn, actor, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The `next` of the page before.
    before: Option<String>,
}

/// An environment's deployments, newest first
///
/// Fifty to a page: `next` in the body and a `Link` header while there is
/// another page.
#[utoipa::path(get, path = "/api/v1/projects/{project}/environments/{environment}/deployments", operation_id = "listDeployments", tag = "deployments",
    params(super::openapi::EnvironmentPath, HistoryQuery),
    responses(
        (status = 200, description = "A page of deployments", body = DeploymentList,
            headers(("Link" = String, description = "The next page, while there is one"))),
        (status = 400, description = "A query parameter is not valid", body = ApiError),
        (status = 404, description = "No such project or environment, or the token may not see it", body = ApiError),
    ))]
pub async fn list(
    ctx: ApiCtx,
    path: web::Path<(String, String)>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let (slug, env_slug) = path.into_inner();
    let before = super::releases::cursor(query.before.as_deref(), "before")?;
    let (project_slug, env_slug, history, next) = ctx
        .run(move |conn, actor| -> Result<_, ApiError> {
            let (project, pipeline, _) = crate::routes::context::open_project(conn, actor, &slug)?;
            let environment = pipeline
                .into_iter()
                .find(|e| e.slug == env_slug)
                .ok_or_else(ApiError::not_found)?;
            let (history, next) = deployments::history(conn, environment.id, before, HISTORY_PAGE)?;
            Ok((project.slug, environment.slug, history, next))
        })
        .await?;
    let next = next.map(|c| c.encode());
    let deployments = history.iter().map(DeploymentRow::from).collect();
    let mut response = HttpResponse::Ok();
    if let Some(next) = &next {
        let path = format!("/api/v1/projects/{project_slug}/environments/{env_slug}/deployments");
        response.insert_header(("Link", super::releases::next_link(&path, &[], next)));
    }
    Ok(response.json(DeploymentList { deployments, next }))
}

/// How many deployments a page of an environment's list holds.
const HISTORY_PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    #[serde(default)]
    comment: String,
}

/// Deploys the deployment's release to its environment again
#[utoipa::path(post, path = "/api/v1/deployments/{id}/redeploy", operation_id = "redeployDeployment", tag = "deployments",
    params(super::openapi::DeploymentPath),
    request_body(content = Option<CommentBody>, description = "May be left out"),
    responses(
        (status = 201, description = "Requested", body = DeploymentBody),
        (status = 400, description = "The body is not JSON of this shape", body = ApiError),
        (status = 403, description = "The token may not deploy there", body = ApiError),
        (status = 404, description = "No such deployment, or the token may not see it", body = ApiError),
        (status = 409, description = "A rule refused it", body = ApiError),
        (status = 422, description = "A field is not valid", body = ApiError),
    ))]
pub async fn redeploy(
    ctx: ApiCtx,
    path: web::Path<DeploymentId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let body: CommentBody = super::optional_json(&body)?;
    let answer = ctx
        .run(move |conn, actor| -> Result<_, ApiError> {
            let loaded = crate::routes::deployments::open_to(
                conn,
                actor,
                id,
                crate::routes::deployments::Needs::Deploy,
            )?;
            let input = DeployInput {
                environment_id: loaded.environment.id,
                comment: body.comment,
                cause: Cause::Person,
                ..DeployInput::default()
            };
            let deployment =
                deployments::request(conn, actor, loaded.deployment.release_id, &input)?;
            body_of(conn, actor, deployment.id)
        })
        .await?;
    Ok(super::json(StatusCode::CREATED, &answer))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Bytes of the log already read (the `next_offset` of the last answer).
    #[serde(default)]
    #[param(minimum = 0)]
    offset: i64,
}

/// The most bytes of log one answer carries.
const LOG_PIECE: i64 = 256 * 1024;

/// A deployment's log from a byte offset
///
/// So a job can follow it: it asks again from `next_offset` until
/// `complete`.
#[utoipa::path(get, path = "/api/v1/deployments/{id}/log", operation_id = "getDeploymentLog", tag = "deployments",
    params(super::openapi::DeploymentPath, LogQuery),
    responses(
        (status = 200, description = "A piece of the log", body = LogBody),
        (status = 400, description = "A query parameter is not valid", body = ApiError),
        (status = 404, description = "No such deployment, or the token may not see it", body = ApiError),
    ))]
pub async fn log(
    ctx: ApiCtx,
    path: web::Path<DeploymentId>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let offset = query.offset;
    if offset < 0 {
        return Err(
            ApiError::bad_request("The offset is a number of bytes, 0 or more.")
                .with_field("offset"),
        );
    }
    let (loaded, piece) = ctx
        .run(move |conn, actor| -> Result<_, ApiError> {
            let loaded = crate::routes::deployments::open_log(conn, actor, id)?;
            let piece = deployments::log_from(conn, id, offset, LOG_PIECE)?;
            Ok((loaded, piece))
        })
        .await?;
    Ok(HttpResponse::Ok().json(LogBody::new(id, loaded.deployment.status, offset, piece)))
}
