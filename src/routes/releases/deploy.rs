//! Deploying and promoting a release from its page.

use super::*;
use crate::domain::environments::Environment;
use crate::domain::ids::DeploymentId;

#[derive(Debug, Clone, Deserialize)]
pub struct DeployForm {
    #[serde(default)]
    environment: String,
    #[serde(default)]
    version_label: String,
    #[serde(default)]
    comment: String,
    /// `YYYY-MM-DDTHH:MM` in UTC, or empty.
    #[serde(default)]
    not_before: String,
    /// The slug of the environment to go as far as, or empty.
    #[serde(default)]
    target: String,
    /// The newest deployment here the page showed (see `DeployInput::seen`).
    #[serde(default)]
    seen: String,
}

pub async fn deploy(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<DeployForm>,
) -> Result<HttpResponse, AppError> {
    let (slug, version) = path.into_inner();
    let sent = form.clone();
    let (project, release, target, outcome) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, pipeline, held, release) = open_release(conn, actor, &slug, &version)?;
            let target = match find_target(&pipeline, &sent.environment, "environment") {
                Ok(target) => target.clone(),
                Err(errors) => {
                    return Ok((project, release, None, Err(DeployError::Invalid(errors))));
                }
            };
            let deploy = Action::Deploy {
                environment_id: target.id,
                environment: &target.name,
            };
            access::enforce(conn, actor, project.id, held, deploy)?;
            let outcome = match read_request(&pipeline, &target, sent) {
                Ok(input) => deployments::request(conn, actor, release.id, &input),
                Err(errors) => Err(DeployError::Invalid(errors)),
            };
            Ok((project, release, Some(target), outcome))
        })
        .await?;
    let errors = match outcome {
        Ok(deployment) => {
            let target = target.map(|t| t.name).unwrap_or_default();
            ctx.flash(
                FlashKind::Success,
                requested_message(&release.version, &target, &deployment),
            );
            let page = release_url(&project.slug, &release.version);
            return Ok(crate::routes::see_other(&page));
        }
        Err(DeployError::Invalid(errors)) => errors,
        Err(DeployError::Refused(message)) => {
            let mut errors = FieldErrors::new();
            errors.add("environment", message);
            errors
        }
        Err(other) => return Err(other.into()),
    };
    // Show the page again with what was typed and why it was refused.
    let (slug, version) = (project.slug.clone(), release.version.clone());
    let data = ctx
        .run(move |conn, actor| load_release_page(conn, actor, &slug, &version))
        .await?;
    let form_state = DeployFormState {
        environment_id: target.map_or(EnvironmentId(0), |t| t.id),
        version_label: form.version_label,
        comment: form.comment,
        not_before: form.not_before,
        target: form.target,
        errors,
    };
    let page = release_page(&ctx, data, form_state, BlockFormState::default());
    crate::routes::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
}

/// The environment of the pipeline the form's `field` names.
pub(crate) fn find_target<'p>(
    pipeline: &'p [Environment],
    slug: &str,
    field: &str,
) -> Result<&'p Environment, FieldErrors> {
    pipeline.iter().find(|e| e.slug == slug).ok_or_else(|| {
        let mut errors = FieldErrors::new();
        errors.add(field, "Choose an environment of this project.");
        errors
    })
}

/// The rest of the form, read once the person may deploy to `target`.
fn read_request(
    pipeline: &[Environment],
    target: &Environment,
    form: DeployForm,
) -> Result<DeployInput, FieldErrors> {
    let not_before = dates::datetime_utc(&form.not_before).map_err(|problem| {
        let mut errors = FieldErrors::new();
        errors.add(
            "not_before",
            match problem {
                DateProblem::Malformed => "Use a date and time like 2026-11-23T02:00 (UTC).",
                DateProblem::OutOfRange => dates::OUT_OF_RANGE,
            },
        );
        errors
    })?;
    let target_environment_id = match form.target.as_str() {
        "" => None,
        slug => Some(find_target(pipeline, slug, "target")?.id),
    };
    Ok(DeployInput {
        environment_id: target.id,
        version_label: form.version_label,
        comment: form.comment,
        not_before,
        target_environment_id,
        cause: deployments::Cause::Person,
        rollback: false,
        seen: form.seen.trim().parse().ok().map(DeploymentId),
    })
}

/// "Deployment of 1.4.0 to QA waits for 2 approvals (attempt 1)."
fn requested_message(version: &str, target: &str, deployment: &deployments::Deployment) -> String {
    let what = if deployment.is_rollback {
        "Rollback"
    } else {
        "Deployment"
    };
    let state = if deployment.status == DeploymentStatus::AwaitingApproval {
        let n = deployment.required_approvals;
        format!("waits for {n} approval{}", if n == 1 { "" } else { "s" })
    } else {
        "is queued".to_owned()
    };
    format!(
        "{what} of {version} to {target} {state} (attempt {}).",
        deployment.attempt
    )
}
