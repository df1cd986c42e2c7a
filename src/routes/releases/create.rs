//! The new-release form and creating a release.

use super::*;

const ARTIFACT_ROWS: usize = 3;
pub(crate) fn open_for_new_release(
    conn: &mut PgConnection,
    actor: &Actor,
    slug: &str,
) -> Result<(crate::domain::projects::Project, String, bool), AppError> {
    let (project, pipeline, held) = open_project(conn, actor, slug)?;
    let first = pipeline.first().ok_or(AppError::NotFound)?;
    access::enforce(
        conn,
        actor,
        project.id,
        held,
        Action::CreateRelease {
            first_environment_id: first.id,
            environment: &first.name,
        },
    )?;
    Ok((
        project,
        first.name.clone(),
        first.trigger == Trigger::OnRelease,
    ))
}

pub async fn new_form(ctx: Ctx, path: web::Path<String>) -> Result<NewReleasePage, AppError> {
    let slug = path.into_inner();
    let (project, first_environment, deploys_on_creation) = ctx
        .run(move |conn, actor| open_for_new_release(conn, actor, &slug))
        .await?;
    Ok(NewReleasePage {
        page: ctx.page(format!("New release · {}", project.name), "projects"),
        project,
        first_environment,
        deploys_on_creation,
        version: String::new(),
        title: String::new(),
        description: String::new(),
        artifacts: vec![ArtifactInput::default(); ARTIFACT_ROWS],
        errors: FieldErrors::new(),
    })
}

/// Reads the release form. Artifact rows arrive as repeated
/// `artifact_name`, `artifact_reference`, `artifact_url`, `artifact_sha256`
/// fields, in row order, so the form works without JavaScript.
pub(crate) fn parse_release_form(fields: &[(String, String)]) -> (ReleaseInput, bool) {
    let mut input = ReleaseInput::default();
    let mut columns: [Vec<String>; 4] = Default::default();
    let mut more_rows = false;
    for (name, value) in fields {
        match name.as_str() {
            "version" => input.version = value.clone(),
            "title" => input.title = value.clone(),
            "description" => input.description = value.clone(),
            "artifact_name" => columns[0].push(value.clone()),
            "artifact_reference" => columns[1].push(value.clone()),
            "artifact_url" => columns[2].push(value.clone()),
            "artifact_sha256" => columns[3].push(value.clone()),
            "more_rows" => more_rows = true,
            _ => {}
        }
    }
    let rows = columns.iter().map(Vec::len).max().unwrap_or(0);
    let cell = |column: &Vec<String>, i: usize| column.get(i).cloned().unwrap_or_default();
    input.artifacts = (0..rows)
        .map(|i| ArtifactInput {
            name: cell(&columns[0], i),
            reference: cell(&columns[1], i),
            url: cell(&columns[2], i),
            sha256: cell(&columns[3], i),
        })
        .collect();
    (input, more_rows)
}

pub async fn create(
    ctx: Ctx,
    path: web::Path<String>,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let (input, more_rows) = parse_release_form(&fields);
    let submitted = input.clone();
    let (project, first_environment, deploys_on_creation, outcome) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, first, on_release) = open_for_new_release(conn, actor, &slug)?;
            let outcome = if more_rows {
                None
            } else {
                Some(releases::create(conn, actor, &project, &input))
            };
            Ok((project, first, on_release, outcome))
        })
        .await?;
    let errors = match outcome {
        Some(Ok(release)) => {
            let message = if deploys_on_creation {
                format!(
                    "Release {} created; its deployment to {first_environment} is queued.",
                    release.version
                )
            } else {
                format!(
                    "Release {} created in {first_environment}.",
                    release.version
                )
            };
            ctx.flash(FlashKind::Success, message);
            return Ok(crate::routes::see_other(&release_url(
                &project.slug,
                &release.version,
            )));
        }
        Some(Err(ReleaseError::Invalid(errors))) => errors,
        Some(Err(ReleaseError::Refused(message))) => {
            let mut errors = FieldErrors::new();
            errors.add("version", message);
            errors
        }
        Some(Err(other)) => return Err(other.into()),
        None => FieldErrors::new(),
    };
    let mut artifacts = submitted.artifacts;
    let extra = if more_rows { ARTIFACT_ROWS } else { 1 };
    artifacts.extend(std::iter::repeat_n(ArtifactInput::default(), extra));
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = NewReleasePage {
        page: ctx.page(format!("New release · {}", project.name), "projects"),
        project,
        first_environment,
        deploys_on_creation,
        version: submitted.version,
        title: submitted.title,
        description: submitted.description,
        artifacts,
        errors,
    };
    crate::routes::render_with_status(&page, status)
}
