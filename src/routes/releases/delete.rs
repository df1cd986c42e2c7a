//! Deleting a release that never left its first environment (rule 1).

use super::*;

/// Checks the right to delete the release; returns project and release.
pub(crate) fn open_for_delete(
    conn: &mut PgConnection,
    actor: &Actor,
    slug: &str,
    version: &str,
) -> Result<
    (
        crate::domain::projects::Project,
        crate::domain::releases::Release,
    ),
    AppError,
> {
    let (project, pipeline, held, release) = open_release(conn, actor, slug, version)?;
    let first_name = pipeline
        .iter()
        .find(|e| e.id == release.first_environment_id)
        .map_or_else(String::new, |e| e.name.clone());
    access::enforce(
        conn,
        actor,
        project.id,
        held,
        Action::DeleteRelease {
            first_environment_id: release.first_environment_id,
            environment: &first_name,
        },
    )?;
    Ok((project, release))
}

pub async fn confirm_delete(
    ctx: Ctx,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (slug, version) = path.into_inner();
    let (project, release, blocker) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, release) = open_for_delete(conn, actor, &slug, &version)?;
            let blocker = releases::delete_blocker(conn, &release)?;
            Ok((project, release, blocker))
        })
        .await?;
    if let Some(reason) = blocker {
        ctx.flash(FlashKind::Error, reason);
        return Ok(crate::routes::see_other(&release_url(
            &project.slug,
            &release.version,
        )));
    }
    let page = DeleteReleasePage {
        page: ctx.page(format!("Delete {}", release.version), "projects"),
        project,
        release,
    };
    crate::routes::render_with_status(&page, StatusCode::OK)
}

pub async fn delete(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (slug, version) = path.into_inner();
    let (project, release, outcome) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, release) = open_for_delete(conn, actor, &slug, &version)?;
            let outcome = releases::delete(conn, actor, release.id);
            Ok((project, release, outcome))
        })
        .await?;
    match outcome {
        Ok(_) => {
            ctx.flash(
                FlashKind::Success,
                format!("Release {} deleted.", release.version),
            );
            Ok(crate::routes::see_other(&format!(
                "/projects/{}/releases",
                project.slug
            )))
        }
        Err(ReleaseError::Refused(reason)) => {
            ctx.flash(
                FlashKind::Error,
                format!("{} was not deleted. {reason}", release.version),
            );
            Ok(crate::routes::see_other(&release_url(
                &project.slug,
                &release.version,
            )))
        }
        Err(ReleaseError::Invalid(_)) => Err(AppError::BadRequest(
            "The release could not be deleted.".to_owned(),
        )),
        Err(other) => Err(other.into()),
    }
}
