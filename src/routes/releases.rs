//! Releases of a project: the list, the new-release form, the release page
//! with its timeline, deploying and promoting, and deletion.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use diesel::PgConnection;
use serde::Deserialize;

use super::context::{open_project, open_release};
use crate::auth::csrf::{CsrfForm, NoFields};
use crate::auth::flash::FlashKind;
use crate::domain::access::{self, Action};
use crate::domain::audit::Actor;
use crate::domain::deployments::{self, DeployError, DeployInput};
use crate::domain::environments::Trigger;
use crate::domain::ids::EnvironmentId;
use crate::domain::keyset::Cursor;
use crate::domain::offers;
use crate::domain::releases::{self, ArtifactInput, ReleaseError, ReleaseInput, ReleaseQuery};
use crate::domain::states::DeploymentStatus;
use crate::domain::validation::FieldErrors;
use crate::error::AppError;
use crate::input::dates::{self, DateProblem};
use crate::routes::context::Ctx;
use crate::views::releases::{
    DeleteReleasePage, DeployFormState, NewReleasePage, ReleaseListPage, ReleasePage, StageView,
};

/// Artifact rows the empty form offers; "More rows" adds as many again.
const ARTIFACT_ROWS: usize = 3;

fn release_url(project: &str, version: &str) -> String {
    format!("/projects/{project}/releases/{version}")
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    env: String,
    before: Option<String>,
}

pub async fn list(
    ctx: Ctx,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<ReleaseListPage, AppError> {
    let slug = path.into_inner();
    let query = query.into_inner();
    let before = query.before.as_deref().and_then(Cursor::decode);
    let (search, env) = (query.q.clone(), query.env.clone());
    let (project, pipeline, access, rows, next) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, pipeline, access) = open_project(conn, actor, &slug)?;
            let environment_id = pipeline.iter().find(|e| e.slug == query.env).map(|e| e.id);
            let filter = ReleaseQuery {
                search: query.q,
                environment_id,
                before,
            };
            let live = releases::live_by_environment(conn, &pipeline)?;
            let (rows, next) = releases::list(
                conn,
                project.id,
                &pipeline,
                &live,
                &filter,
                releases::PAGE_SIZE,
            )?;
            Ok((project, pipeline, access, rows, next))
        })
        .await?;
    let next_page = next.map(|cursor| {
        serde_urlencoded::to_string([
            ("q", search.as_str()),
            ("env", env.as_str()),
            ("before", &cursor.encode()),
        ])
        .unwrap_or_default()
    });
    Ok(ReleaseListPage {
        page: ctx.page(format!("Releases · {}", project.name), "projects"),
        can_create_release: pipeline
            .first()
            .is_some_and(|e| access.has(e.id, access::Role::Deployer)),
        project,
        pipeline,
        rows,
        search,
        environment: env,
        next_page,
        is_first_page: before.is_none(),
    })
}

/// Checks the right to create releases and returns the project's name of
/// its first environment and whether it deploys on creation.
fn open_for_new_release(
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
fn parse_release_form(fields: &[(String, String)]) -> (ReleaseInput, bool) {
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
            return Ok(super::see_other(&release_url(
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
        Some(Err(ReleaseError::Db(err))) => return Err(err.into()),
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
    super::render_with_status(&page, status)
}

/// Everything the release page shows, loaded in one unit of work.
fn load_release_page(
    conn: &mut PgConnection,
    actor: &Actor,
    slug: &str,
    version: &str,
) -> Result<ReleasePageData, AppError> {
    let (project, pipeline, access, release) = open_release(conn, actor, slug, version)?;
    let facts = crate::domain::release_view::facts(conn, release.id)?;
    let timeline = releases::timeline(conn, &release, &pipeline, &facts)?;
    let mut readiness =
        crate::domain::readiness::for_release(&release, &pipeline, &timeline, &access, &facts)
            .into_iter();
    let offers = offers::for_release(&release, &timeline, &access);
    let first_name = pipeline
        .iter()
        .find(|e| e.id == release.first_environment_id)
        .map_or_else(String::new, |e| e.name.clone());
    let delete_blocker = match releases::delete_blocker_in(&release, &timeline) {
        Some(reason) => Some(reason),
        None => access::check(
            &access,
            &Action::DeleteRelease {
                first_environment_id: release.first_environment_id,
                environment: &first_name,
            },
        )
        .err()
        .map(|denied| denied.to_string()),
    };
    let crate::domain::release_view::ReleaseFacts {
        created_by,
        artifacts,
        ..
    } = facts;
    let snapshot = releases::Snapshot::of(&release);
    let order = snapshot.order();
    let all_variables: Vec<_> = snapshot
        .environments
        .iter()
        .flat_map(|e| e.variables.clone())
        .collect();
    let may_deploy: Vec<bool> = timeline
        .iter()
        .map(|stage| access.has(stage.environment.id, access::Role::Deployer))
        .collect();
    let stages = timeline
        .into_iter()
        .zip(offers)
        .enumerate()
        .map(|(here, (stage, offer))| {
            let reach = here
                + may_deploy[here + 1..]
                    .iter()
                    .take_while(|deployer| **deployer)
                    .count();
            // Variable values are for those with a role on the environment.
            let variables = order
                .iter()
                .position(|(id, _)| *id == stage.environment.id)
                .filter(|_| access.holds_any(stage.environment.id))
                .map(|index| crate::domain::variables::effective(&order, &all_variables, index))
                .unwrap_or_default();
            StageView {
                stage,
                offer,
                variables,
                reach,
                readiness: readiness.next().unwrap_or_default(),
            }
        })
        .collect();
    Ok(ReleasePageData {
        project,
        release,
        created_by,
        artifacts,
        stages,
        delete_blocker,
    })
}

struct ReleasePageData {
    project: crate::domain::projects::Project,
    release: crate::domain::releases::Release,
    created_by: Option<String>,
    artifacts: Vec<crate::domain::releases::Artifact>,
    stages: Vec<StageView>,
    delete_blocker: Option<String>,
}

fn release_page(ctx: &Ctx, data: ReleasePageData, form: DeployFormState) -> ReleasePage {
    ReleasePage {
        page: ctx.page(
            format!(
                "{} {} · {}",
                data.release.version, data.release.title, data.project.name
            ),
            "projects",
        ),
        project: data.project,
        release: data.release,
        created_by: data.created_by,
        artifacts: data.artifacts,
        stages: data.stages,
        delete_blocker: data.delete_blocker,
        deploy_form: form,
    }
}

pub async fn show(ctx: Ctx, path: web::Path<(String, String)>) -> Result<ReleasePage, AppError> {
    let (slug, version) = path.into_inner();
    let data = ctx
        .run(move |conn, actor| load_release_page(conn, actor, &slug, &version))
        .await?;
    Ok(release_page(&ctx, data, DeployFormState::default()))
}

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
            return Ok(super::see_other(&release_url(
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
    super::render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
}

/// Checks the right to delete the release; returns project and release.
fn open_for_delete(
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
        return Ok(super::see_other(&release_url(
            &project.slug,
            &release.version,
        )));
    }
    let page = DeleteReleasePage {
        page: ctx.page(format!("Delete {}", release.version), "projects"),
        project,
        release,
    };
    super::render_with_status(&page, StatusCode::OK)
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
            Ok(super::see_other(&format!(
                "/projects/{}/releases",
                project.slug
            )))
        }
        Err(ReleaseError::Refused(reason)) => {
            ctx.flash(
                FlashKind::Error,
                format!("{} was not deleted. {reason}", release.version),
            );
            Ok(super::see_other(&release_url(
                &project.slug,
                &release.version,
            )))
        }
        Err(ReleaseError::Invalid(_)) => Err(AppError::BadRequest(
            "The release could not be deleted.".to_owned(),
        )),
        Err(ReleaseError::Db(err)) => Err(err.into()),
    }
}
