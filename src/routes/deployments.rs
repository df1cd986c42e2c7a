//! `/deployments/{id}`: one attempt — its steps, its log (followed live by
//! a small script, or by reloading), and cancelling it.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use diesel::PgConnection;
use serde::Deserialize;
use std::fmt::Write as _;

use super::context::open_project;
use crate::auth::csrf::{CsrfForm, NoFields};
use crate::auth::flash::FlashKind;
use crate::domain::access::{self, Action, ProjectAccess, Role};
use crate::domain::audit::Actor;
use crate::domain::deployment_view::{self, Surroundings};
use crate::domain::deployments::{self, DeployError, Deployment};
use crate::domain::environments::Environment;
use crate::domain::ids::DeploymentId;
use crate::domain::projects::Project;
use crate::domain::states::DeploymentStatus;
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::views::deployments::DeploymentPage;

/// Lines the page shows; the rest is in the downloadable log.
const PAGE_LINES: i64 = 5000;
/// Lines one poll of the live log returns at most.
const POLL_LINES: i64 = 2000;

#[derive(Clone)]
pub(crate) struct Loaded {
    pub project: Project,
    pub environment: Environment,
    pub deployment: Deployment,
    pub access: ProjectAccess,
    pub version: String,
    pub label: String,
    pub requested_by: Option<String>,
}

/// The deployment, if the actor may see its project (404 otherwise).
pub(crate) fn open(
    conn: &mut PgConnection,
    actor: &Actor,
    id: DeploymentId,
) -> Result<Loaded, AppError> {
    // The deployment with the names it is shown by, then its project as
    // every project page opens it: two statements.
    let deployment_view::Named {
        deployment,
        version,
        label,
        requested_by,
        project_slug,
    } = deployment_view::named(conn, id)?.ok_or(AppError::NotFound)?;
    let (project, pipeline, access) = open_project(conn, actor, &project_slug)?;
    let environment = pipeline
        .into_iter()
        .find(|e| e.id == deployment.environment_id)
        .ok_or(AppError::NotFound)?;
    Ok(Loaded {
        project,
        environment,
        deployment,
        access,
        version,
        label,
        requested_by,
    })
}

/// The deployment, if the actor may read its log: that needs a role on
/// its environment, since logs carry what scripts and webhooks answered.
/// What a person does to a deployment, by the role it takes there.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Needs {
    /// Cancel, redeploy: the deployer role.
    Deploy,
    /// Decide at a manual step: the approver role.
    Approve,
}

/// Opens the deployment and checks that `actor` may do what `needs` says
/// in its environment (refused and audited as `access::enforce` does).
pub(crate) fn open_to(
    conn: &mut PgConnection,
    actor: &Actor,
    id: DeploymentId,
    needs: Needs,
) -> Result<Loaded, AppError> {
    let loaded = open(conn, actor, id)?;
    let (environment_id, environment) = (loaded.environment.id, loaded.environment.name.as_str());
    let action = match needs {
        Needs::Deploy => Action::Deploy {
            environment_id,
            environment,
        },
        Needs::Approve => Action::Approve {
            environment_id,
            environment,
        },
    };
    access::enforce(
        conn,
        actor,
        loaded.project.id,
        loaded.access.clone(),
        action,
    )?;
    Ok(loaded)
}

pub(crate) fn open_log(
    conn: &mut PgConnection,
    actor: &Actor,
    id: DeploymentId,
) -> Result<Loaded, AppError> {
    let loaded = open(conn, actor, id)?;
    if loaded.access.holds_any(loaded.environment.id) {
        Ok(loaded)
    } else {
        Err(AppError::Forbidden(format!(
            "Deployment logs of {} are visible to those with a role there.",
            loaded.environment.name
        )))
    }
}

pub async fn show(ctx: Ctx, path: web::Path<DeploymentId>) -> Result<DeploymentPage, AppError> {
    let user_id = ctx.user.id;
    let id = path.into_inner();
    let (loaded, around, mut log) = ctx
        .read(move |conn, actor| -> Result<_, AppError> {
            let loaded = open(conn, actor, id)?;
            let around = deployment_view::surroundings(conn, id, loaded.environment.id)?;
            let log = if loaded.access.holds_any(loaded.environment.id) {
                deployments::log_after(conn, id, 0, PAGE_LINES + 1)?
            } else {
                Vec::new()
            };
            Ok((loaded, around, log))
        })
        .await?;
    let Surroundings {
        steps,
        approvals,
        freeze,
        window_closed,
    } = around;
    let log_more = log.len() as i64 > PAGE_LINES;
    log.truncate(PAGE_LINES as usize);
    let active = loaded.deployment.status.is_active();
    Ok(DeploymentPage {
        page: ctx.page(
            format!(
                "Deployment #{} · {} to {}",
                loaded.deployment.id, loaded.version, loaded.environment.name
            ),
            "projects",
        ),
        can_cancel: active && loaded.access.has(loaded.environment.id, Role::Deployer),
        can_approve: loaded.deployment.status == DeploymentStatus::AwaitingApproval
            && loaded.access.has(loaded.environment.id, Role::Approver),
        is_approver: loaded.access.has(loaded.environment.id, Role::Approver),
        can_read_log: loaded.access.holds_any(loaded.environment.id),
        freeze,
        window_closed,
        me: user_id,
        approvals,
        active,
        project: loaded.project,
        environment: loaded.environment,
        deployment: loaded.deployment,
        version: loaded.version,
        label: loaded.label,
        requested_by: loaded.requested_by,
        steps,
        log,
        log_more,
    })
}

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    after: i64,
}

/// New lines, the status and the steps, for the page's live log.
pub async fn log_json(
    ctx: Ctx,
    path: web::Path<DeploymentId>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let after = query.after;
    let (loaded, steps, lines) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let loaded = open_log(conn, actor, id)?;
            let steps = deployments::step_runs(conn, id)?;
            let lines = deployments::log_after(conn, id, after, POLL_LINES)?;
            Ok((loaded, steps, lines))
        })
        .await?;
    let steps: Vec<serde_json::Value> = steps
        .iter()
        .map(|s| {
            serde_json::json!({
                "position": s.position,
                "status": s.status,
                "duration": s.duration(),
                "detail": s.detail,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "status": loaded.deployment.state_class(),
        "status_text": loaded.deployment.state_words(),
        "active": loaded.deployment.status.is_active(),
        "note": loaded.deployment.note,
        "steps": steps,
        "lines": lines,
    })))
}

/// The whole log as plain text.
pub async fn log_text(ctx: Ctx, path: web::Path<DeploymentId>) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let lines = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            open_log(conn, actor, id)?;
            Ok(deployments::log_after(conn, id, 0, i64::MAX)?)
        })
        .await?;
    let mut body = String::new();
    for line in lines {
        // Writing to a String cannot fail.
        let _ = writeln!(
            body,
            "{} [{}] {}",
            line.at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            line.stream,
            line.line
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"deployment-{id}.log\""),
        ))
        .body(body))
}

pub async fn cancel(
    ctx: Ctx,
    path: web::Path<DeploymentId>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            open_to(conn, actor, id, Needs::Deploy)?;
            Ok(deployments::cancel(conn, actor, id))
        })
        .await?;
    match outcome {
        Ok(message) => ctx.flash(FlashKind::Success, message),
        Err(DeployError::Refused(message)) => ctx.flash(FlashKind::Error, message),
        Err(DeployError::Invalid(_)) => ctx.flash(FlashKind::Error, "It could not be cancelled."),
        Err(other) => return Err(other.into()),
    }
    Ok(super::see_other(&format!("/deployments/{id}")))
}

#[derive(Debug, Deserialize)]
pub struct ManualForm {
    /// "1" to proceed, anything else aborts.
    #[serde(default)]
    proceed: String,
    #[serde(default)]
    note: String,
}

/// An approver proceeds or aborts at the manual step a deployment waits at.
pub async fn decide_manual(
    ctx: Ctx,
    path: web::Path<(DeploymentId, i32)>,
    CsrfForm(form): CsrfForm<ManualForm>,
) -> Result<HttpResponse, AppError> {
    let (id, position) = path.into_inner();
    let proceed = form.proceed == "1";
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            open_to(conn, actor, id, Needs::Approve)?;
            Ok(deployments::manual::decide(
                conn, actor, id, position, proceed, &form.note,
            ))
        })
        .await?;
    match outcome {
        Ok(()) => ctx.flash(
            FlashKind::Success,
            if proceed {
                "Proceeding: the deployment goes on."
            } else {
                "Aborted: the deployment stops here."
            },
        ),
        Err(crate::domain::rejection::Rejection::Refused(message)) => {
            ctx.flash(FlashKind::Error, message);
        }
        Err(crate::domain::rejection::Rejection::Invalid(errors)) => {
            ctx.flash(FlashKind::Error, format!("The note: {}", errors.summary()));
        }
        Err(other) => return Err(other.into()),
    }
    Ok(super::see_other(&format!("/deployments/{id}")))
}
