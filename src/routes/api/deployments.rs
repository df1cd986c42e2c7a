//! Deployments through the API: request one of a release (as the release
//! page's form does), read one, and approve, reject, defer or cancel it
//! (as its page's buttons do), under the same checks.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::Deserialize;
use serde_json::json;

use super::changes::DeploymentChanges;
use super::model::{self, DeploymentBody, Named};
use super::{ApiCtx, ApiError};
use crate::domain::access::{self, Action};
use crate::domain::approvals::{self, Decided, Decision};
use crate::domain::audit::Actor;
use crate::domain::deployments::{self, Cause, DeployError, DeployInput};
use crate::domain::ids::DeploymentId;
use crate::routes::context::open_release;
use crate::routes::releases::find_target;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDeployment {
    /// The environment's slug.
    environment: String,
    #[serde(default)]
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
) -> Result<serde_json::Value, ApiError> {
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
    let body = model::deployment(
        &loaded.deployment,
        &Named {
            project: &loaded.project.slug,
            environment: &loaded.environment,
            version: &loaded.version,
            label: &loaded.label,
            requested_by: loaded.requested_by.as_deref(),
        },
    );
    let mut value = serde_json::to_value(&body)
        .map_err(|e| ApiError::from(crate::error::AppError::internal(e)))?;
    value["steps"] = json!(
        around
            .steps
            .iter()
            .map(|s| json!({
                "position": s.position,
                "name": s.name,
                "kind": s.kind.as_str(),
                "state": s.status.as_str(),
                "started_at": s.started_at,
                "finished_at": s.finished_at,
                "detail": s.detail,
            }))
            .collect::<Vec<_>>()
    );
    value["approvals"] = json!(
        around
            .approvals
            .iter()
            .map(|a| json!({
                "approver": a.approver,
                "decision": a.decision.as_str(),
                "comment": a.comment,
                "defer_until": a.defer_until,
                "at": a.at,
            }))
            .collect::<Vec<_>>()
    );
    value["may_still_approve"] = json!(may_still_approve);
    value["freeze"] = json!(around.freeze.map(|f| f.reason));
    value["window_open"] = json!(!around.window_closed);
    value["readiness"] = json!(readiness);
    Ok(value)
}

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
        };
        match deployments::request(conn, actor, release.id, &input) {
            Ok(deployment) => {
                let body = body_of(conn, actor, deployment.id)?;
                let body = serde_json::to_value(body)
                    .map_err(|e| ApiError::from(crate::error::AppError::internal(e)))?;
                Ok((StatusCode::CREATED, body))
            }
            Err(DeployError::Refused(message)) => {
                // Say why, with the checklist the release page shows.
                let (_, readiness) =
                    readiness_in(conn, actor, &project.slug, &release.version, target.id)?;
                Err(ApiError::new(StatusCode::CONFLICT, "refused", message)
                    .with_field("environment")
                    .with_readiness(json!(readiness)))
            }
            Err(other) => Err(other.into()),
        }
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    /// Seconds to hold the request until the state changes (at most 60).
    #[serde(default)]
    wait: u64,
}

/// A deployment; with `?wait=N`, answered when its state changes or after
/// N seconds, whichever comes first (at once if it has finished).
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
    let state = first["state"].as_str().unwrap_or_default().to_owned();
    if wait.is_zero() || first["active"] != json!(true) {
        return Ok(HttpResponse::Ok().json(first));
    }
    let mut waiting = changes.into_inner().wait_on(id, &state);
    let until = tokio::time::Instant::now() + wait;
    while waiting.changed(until).await {
        let now = ctx
            .run(move |conn, actor| detail_of(conn, actor, id))
            .await?;
        if now["state"].as_str() != Some(state.as_str()) {
            return Ok(HttpResponse::Ok().json(now));
        }
    }
    // Time is up: where it stands now.
    let now = ctx
        .run(move |conn, actor| detail_of(conn, actor, id))
        .await?;
    Ok(HttpResponse::Ok().json(now))
}

#[derive(Debug, Default, Deserialize)]
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
            Ok(json!({
                "deployment": body,
                "approvals": approvals,
                "required_approvals": required,
            }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

pub async fn approve(
    ctx: ApiCtx,
    path: web::Path<DeploymentId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    decide(ctx, path.into_inner(), &body, "approve").await
}

pub async fn reject(
    ctx: ApiCtx,
    path: web::Path<DeploymentId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    decide(ctx, path.into_inner(), &body, "reject").await
}

pub async fn defer(
    ctx: ApiCtx,
    path: web::Path<DeploymentId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    decide(ctx, path.into_inner(), &body, "defer").await
}

pub async fn cancel(ctx: ApiCtx, path: web::Path<DeploymentId>) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let body = ctx
        .run(move |conn, actor| -> Result<_, ApiError> {
            let loaded = crate::routes::deployments::open(conn, actor, id)?;
            access::enforce(
                conn,
                actor,
                loaded.project.id,
                loaded.access.clone(),
                Action::Deploy {
                    environment_id: loaded.environment.id,
                    environment: &loaded.environment.name,
                },
            )?;
            deployments::cancel(conn, actor, id)?;
            body_of(conn, actor, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    before: Option<String>,
}

/// An environment's deployments, newest first, keyset-paginated.
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
    let items: Vec<serde_json::Value> = history
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "state": d.status.as_str(),
                "version": d.version,
                "label": d.label,
                "attempt": d.attempt,
                "rollback": d.is_rollback,
                "requested_by": d.requested_by,
                "created_at": d.created_at,
                "finished_at": d.finished_at,
            })
        })
        .collect();
    let mut response = HttpResponse::Ok();
    if let Some(next) = &next {
        let path = format!("/api/v1/projects/{project_slug}/environments/{env_slug}/deployments");
        response.insert_header(("Link", super::releases::next_link(&path, &[], next)));
    }
    Ok(response.json(json!({ "deployments": items, "next": next })))
}

/// How many deployments a page of an environment's list holds.
const HISTORY_PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    #[serde(default)]
    comment: String,
}

/// Deploys the deployment's release to its environment again.
pub async fn redeploy(
    ctx: ApiCtx,
    path: web::Path<DeploymentId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let body: CommentBody = super::optional_json(&body)?;
    let answer = ctx
        .run(move |conn, actor| -> Result<_, ApiError> {
            let loaded = crate::routes::deployments::open(conn, actor, id)?;
            access::enforce(
                conn,
                actor,
                loaded.project.id,
                loaded.access.clone(),
                Action::Deploy {
                    environment_id: loaded.environment.id,
                    environment: &loaded.environment.name,
                },
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Bytes of the log already read (the `next_offset` of the last answer).
    #[serde(default)]
    offset: i64,
}

/// The most bytes of log one answer carries.
const LOG_PIECE: i64 = 256 * 1024;

/// The log from a byte offset, so a job can follow it: it asks again from
/// `next_offset` until `complete`.
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
    let active = loaded.deployment.status.is_active();
    Ok(HttpResponse::Ok().json(json!({
        "id": id,
        "state": loaded.deployment.status.as_str(),
        "offset": offset,
        "next_offset": piece.next_offset,
        "text": piece.text,
        // Finished, and nothing more to read: stop following.
        "complete": !active && !piece.more,
    })))
}
