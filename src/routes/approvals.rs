//! `/approvals`: the approver's inbox, and approving, rejecting or
//! deferring a deployment (from the inbox or the deployment's page).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::auth::csrf::CsrfForm;
use crate::auth::flash::FlashKind;
use crate::domain::access::{self, Action};
use crate::domain::approvals::{self, ApprovalError, Decided, Decision};
use crate::domain::ids::DeploymentId;
use crate::domain::{deployments, environments};
use crate::error::AppError;
use crate::input::dates::{self, DateProblem};
use crate::routes::context::Ctx;
use crate::views::approvals::InboxPage;

pub async fn inbox(ctx: Ctx) -> Result<InboxPage, AppError> {
    let (items, manual) = ctx
        .read(|conn, actor| Ok(approvals::inbox_and_manual(conn, actor)?))
        .await?;
    Ok(InboxPage {
        me: ctx.user.id,
        page: ctx.page("Approvals", "approvals"),
        items,
        manual,
    })
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    comment: String,
    /// For a deferral: `YYYY-MM-DDTHH:MM`, UTC.
    #[serde(default)]
    until: String,
    /// Where to go back to (the inbox or the deployment page).
    #[serde(default)]
    next: String,
}

async fn decide(
    ctx: Ctx,
    id: DeploymentId,
    form: DecisionForm,
    kind: &'static str,
) -> Result<HttpResponse, AppError> {
    let back = crate::urls::safe_next(&form.next).to_owned();
    let back = if back == "/" {
        format!("/deployments/{id}")
    } else {
        back
    };
    // A deferral's date is read first but refused only after the access
    // check, so that someone who may not decide learns nothing from it.
    let decision = match kind {
        "approve" => Ok(Decision::Approve),
        "reject" => Ok(Decision::Reject),
        _ => match dates::datetime_utc(&form.until) {
            Ok(Some(t)) => Ok(Decision::Defer(t)),
            Ok(None) | Err(DateProblem::Malformed) => {
                Err("To defer, give a date and time like 2026-11-23T02:00 (UTC).")
            }
            Err(DateProblem::OutOfRange) => {
                Err("To defer, give a date and time in the years 1970 to 9999.")
            }
        },
    };
    let comment = form.comment;
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            open_as_approver(conn, actor, id)?;
            Ok(decision.map(|decision| approvals::decide(conn, actor, id, &decision, &comment)))
        })
        .await?;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(message) => {
            ctx.flash(FlashKind::Error, message);
            return Ok(super::see_other(&back));
        }
    };
    match outcome {
        Ok(Decided::Queued) => ctx.flash(FlashKind::Success, "Approved: the deployment is queued."),
        Ok(Decided::Counted(n, of)) => ctx.flash(
            FlashKind::Success,
            format!("Approved ({n} of {of}): it waits for more approvers."),
        ),
        Ok(Decided::Rejected) => {
            ctx.flash(FlashKind::Success, "Rejected: the deployment will not run.");
        }
        Err(ApprovalError::Refused(message)) => ctx.flash(FlashKind::Error, message),
        Err(other) => return Err(other.into()),
    }
    Ok(super::see_other(&back))
}

pub async fn approve(
    ctx: Ctx,
    path: web::Path<DeploymentId>,
    CsrfForm(form): CsrfForm<DecisionForm>,
) -> Result<HttpResponse, AppError> {
    decide(ctx, path.into_inner(), form, "approve").await
}

pub async fn reject(
    ctx: Ctx,
    path: web::Path<DeploymentId>,
    CsrfForm(form): CsrfForm<DecisionForm>,
) -> Result<HttpResponse, AppError> {
    decide(ctx, path.into_inner(), form, "reject").await
}

pub async fn defer(
    ctx: Ctx,
    path: web::Path<DeploymentId>,
    CsrfForm(form): CsrfForm<DecisionForm>,
) -> Result<HttpResponse, AppError> {
    decide(ctx, path.into_inner(), form, "defer").await
}

#[derive(Debug, Deserialize)]
pub struct OverrideForm {
    #[serde(default)]
    reason: String,
}

/// Checks the approver role on the deployment's environment.
pub(crate) fn open_as_approver(
    conn: &mut diesel::PgConnection,
    actor: &crate::domain::audit::Actor,
    id: DeploymentId,
) -> Result<(), AppError> {
    let deployment = deployments::find(conn, id)?.ok_or(AppError::NotFound)?;
    let place = environments::place(conn, deployment.environment_id)?;
    let (_, _, held) = super::context::open_project(conn, actor, &place.project_slug)?;
    access::enforce(
        conn,
        actor,
        place.project_id,
        held,
        Action::Approve {
            environment_id: deployment.environment_id,
            environment: &place.environment_name,
        },
    )?;
    Ok(())
}

fn flash_override(
    ctx: &Ctx,
    outcome: Result<(), crate::domain::freezes::FreezeError>,
    done: &str,
) -> Result<(), AppError> {
    use crate::domain::freezes::FreezeError;
    match outcome {
        Ok(()) => ctx.flash(FlashKind::Success, done),
        Err(FreezeError::Invalid(errors)) => ctx.flash(
            FlashKind::Error,
            errors.get("reason").unwrap_or("Give a reason.").to_owned(),
        ),
        Err(FreezeError::Refused(message)) => ctx.flash(FlashKind::Error, message),
        Err(other) => return Err(other.into()),
    }
    Ok(())
}

/// Break-glass, first half: an approver asks to override a freeze or a
/// closed window for this deployment, with a reason.
pub async fn request_override(
    ctx: Ctx,
    path: web::Path<DeploymentId>,
    CsrfForm(form): CsrfForm<OverrideForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            open_as_approver(conn, actor, id)?;
            Ok(crate::domain::freezes::request_override(
                conn,
                actor,
                id,
                &form.reason,
            ))
        })
        .await?;
    flash_override(
        &ctx,
        outcome,
        "Override asked for: a second approver must confirm it.",
    )?;
    Ok(super::see_other(&format!("/deployments/{id}")))
}

/// Break-glass, second half: another approver confirms.
pub async fn confirm_override(
    ctx: Ctx,
    path: web::Path<DeploymentId>,
    _form: CsrfForm<crate::auth::csrf::NoFields>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            open_as_approver(conn, actor, id)?;
            Ok(crate::domain::freezes::confirm_override(conn, actor, id))
        })
        .await?;
    flash_override(
        &ctx,
        outcome,
        "Override confirmed: it may start despite the freeze or window.",
    )?;
    Ok(super::see_other(&format!("/deployments/{id}")))
}
