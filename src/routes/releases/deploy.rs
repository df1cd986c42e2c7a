//! Deploying and promoting a release from its page.

use super::*;

#[derive(Debug, Deserialize)]
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
}

pub async fn deploy(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<DeployForm>,
) -> Result<HttpResponse, AppError> {
    let (slug, version) = path.into_inner();
    let env_slug = form.environment.clone();
    let (label, comment) = (form.version_label.clone(), form.comment.clone());
    let (not_before, far) = (form.not_before.clone(), form.target.clone());
    let result = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, pipeline, held, release) = open_release(conn, actor, &slug, &version)?;
            let Some(target) = pipeline.iter().find(|e| e.slug == env_slug) else {
                let mut errors = FieldErrors::new();
                errors.add("environment", "Choose an environment of this project.");
                return Ok((project, release, None, Err(DeployError::Invalid(errors))));
            };
            access::enforce(
                conn,
                actor,
                project.id,
                held,
                Action::Deploy {
                    environment_id: target.id,
                    environment: &target.name,
                },
            )?;
            let not_before = match dates::datetime_utc(&not_before) {
                Ok(t) => Ok(t),
                Err(DateProblem::Malformed) => {
                    Err("Use a date and time like 2026-11-23T02:00 (UTC).")
                }
                Err(DateProblem::OutOfRange) => Err(dates::OUT_OF_RANGE),
            };
            let not_before = match not_before {
                Ok(not_before) => not_before,
                Err(problem) => {
                    let mut errors = FieldErrors::new();
                    errors.add("not_before", problem);
                    return Ok((
                        project,
                        release,
                        Some(target.clone()),
                        Err(DeployError::Invalid(errors)),
                    ));
                }
            };
            let target_environment_id = match far.as_str() {
                "" => None,
                slug => match pipeline.iter().find(|e| e.slug == slug) {
                    Some(e) => Some(e.id),
                    None => {
                        let mut errors = FieldErrors::new();
                        errors.add("target", "Choose an environment of this project.");
                        return Ok((
                            project,
                            release,
                            Some(target.clone()),
                            Err(DeployError::Invalid(errors)),
                        ));
                    }
                },
            };
            let input = DeployInput {
                environment_id: target.id,
                version_label: label,
                comment,
                not_before,
                target_environment_id,
                cause: deployments::Cause::Person,
            };
            let outcome = deployments::request(conn, actor, release.id, &input);
            Ok((project, release, Some(target.clone()), outcome))
        })
        .await?;
    let (project, release, target, outcome) = result;
    let errors = match outcome {
        Ok(deployment) => {
            let target = target.map(|t| t.name).unwrap_or_default();
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
            ctx.flash(
                FlashKind::Success,
                format!(
                    "{what} of {} to {target} {state} (attempt {}).",
                    release.version, deployment.attempt
                ),
            );
            return Ok(crate::routes::see_other(&release_url(
                &project.slug,
                &release.version,
            )));
        }
        Err(DeployError::Invalid(errors)) => errors,
        Err(DeployError::Refused(message)) => {
            let mut errors = FieldErrors::new();
            errors.add("environment", message);
            errors
        }
        Err(DeployError::Denied(message)) => return Err(AppError::Forbidden(message)),
        Err(DeployError::Db(err)) => return Err(err.into()),
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
    let page = release_page(&ctx, data, form_state);
    crate::routes::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
}
