//! Blocking a release ("do not promote") and lifting the block, from its
//! page. The rights and the rule are the domain's (`domain::blocks`).

use super::*;
use crate::domain::blocks;

#[derive(Debug, Clone, Deserialize)]
pub struct BlockForm {
    #[serde(default)]
    reason: String,
}

pub async fn block(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<BlockForm>,
) -> Result<HttpResponse, AppError> {
    let (slug, version) = path.into_inner();
    let reason = form.reason.clone();
    let (project, release, outcome) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, _, _, release) = open_release(conn, actor, &slug, &version)?;
            let outcome = blocks::block(conn, actor, release.id, &reason);
            Ok((project, release, outcome))
        })
        .await?;
    let errors = match outcome {
        Ok(cancelled) => {
            let cancelled = match cancelled.len() {
                0 => String::new(),
                1 => " Its waiting deployment was cancelled.".to_owned(),
                n => format!(" Its {n} waiting deployments were cancelled."),
            };
            let message = format!(
                "{} is blocked: it goes nowhere new until it is unblocked.{cancelled}",
                release.version
            );
            ctx.flash(FlashKind::Success, message);
            return Ok(crate::routes::see_other(&release_url(
                &project.slug,
                &release.version,
            )));
        }
        Err(ReleaseError::Invalid(errors)) => errors,
        Err(ReleaseError::Refused(message)) => {
            ctx.flash(FlashKind::Error, message);
            return Ok(crate::routes::see_other(&release_url(
                &project.slug,
                &release.version,
            )));
        }
        Err(other) => return Err(other.into()),
    };
    // The page again, the reason as typed and why it was refused beside it.
    let (slug, version) = (project.slug.clone(), release.version.clone());
    let data = ctx
        .run(move |conn, actor| load_release_page(conn, actor, &slug, &version))
        .await?;
    let page = release_page(
        &ctx,
        data,
        DeployFormState::default(),
        BlockFormState {
            reason: form.reason,
            errors,
        },
    );
    crate::routes::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
}

pub async fn unblock(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (slug, version) = path.into_inner();
    let (project, release, outcome) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, _, _, release) = open_release(conn, actor, &slug, &version)?;
            let outcome = blocks::unblock(conn, actor, release.id);
            Ok((project, release, outcome))
        })
        .await?;
    match outcome {
        Ok(()) => ctx.flash(
            FlashKind::Success,
            format!(
                "{} is unblocked: it may be promoted again.",
                release.version
            ),
        ),
        Err(ReleaseError::Refused(message)) => ctx.flash(FlashKind::Error, message),
        Err(other) => return Err(other.into()),
    }
    Ok(crate::routes::see_other(&release_url(
        &project.slug,
        &release.version,
    )))
}
