//! Releases of a project: the list and the release page with its timeline
//! here; the new-release form (`create`), deploying and promoting
//! (`deploy`) and deletion (`delete`) beside it.

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
    BlockFormState, DeleteReleasePage, DeployFormState, NewReleasePage, ReleaseListPage,
    ReleasePage, StageView,
};

/// Artifact rows the empty form offers; "More rows" adds as many again.
mod block;
mod compare;
mod create;
pub(crate) use create::parse_release_form;
mod delete;
mod deploy;

pub use block::{block, unblock};
pub use compare::compare;
pub(crate) use create::open_for_new_release;
pub use create::{create, new_form};
pub(crate) use delete::open_for_delete;
pub use delete::{confirm_delete, delete};
pub use deploy::deploy;
pub(crate) use deploy::find_target;

pub(crate) fn release_url(project: &str, version: &str) -> String {
    format!("/projects/{project}/releases/{version}")
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub(crate) q: String,
    #[serde(default)]
    pub(crate) env: String,
    pub(crate) before: Option<String>,
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
        .read(move |conn, actor| -> Result<_, AppError> {
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
    let offers = offers::for_release(&release, &timeline, &access, facts.block.as_ref());
    let reached: Vec<EnvironmentId> = timeline
        .iter()
        .filter(|stage| stage.reached())
        .map(|stage| stage.environment.id)
        .collect();
    let can_block = crate::domain::blocks::may_block(&access, &reached);
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
    let facts_live: std::collections::HashMap<EnvironmentId, Option<String>> = facts
        .environments
        .iter()
        .map(|(id, now)| (*id, now.live_version.clone()))
        .collect();
    let crate::domain::release_view::ReleaseFacts {
        created_by,
        artifacts,
        block,
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
            let changes_from = facts_live
                .get(&stage.environment.id)
                .filter(|_| offer.is_deploy() && !stage.live)
                .cloned()
                .flatten();
            StageView {
                stage,
                offer,
                variables,
                reach,
                readiness: readiness.next().unwrap_or_default(),
                changes_from,
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
        block,
        can_block,
    })
}

#[derive(Clone)]
struct ReleasePageData {
    project: crate::domain::projects::Project,
    release: crate::domain::releases::Release,
    created_by: Option<String>,
    artifacts: Vec<crate::domain::releases::Artifact>,
    stages: Vec<StageView>,
    delete_blocker: Option<String>,
    block: Option<crate::domain::blocks::Block>,
    can_block: bool,
}

fn release_page(
    ctx: &Ctx,
    data: ReleasePageData,
    form: DeployFormState,
    block_form: BlockFormState,
) -> ReleasePage {
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
        block: data.block,
        can_block: data.can_block,
        block_form,
    }
}

pub async fn show(ctx: Ctx, path: web::Path<(String, String)>) -> Result<ReleasePage, AppError> {
    let (slug, version) = path.into_inner();
    let data = ctx
        .read(move |conn, actor| load_release_page(conn, actor, &slug, &version))
        .await?;
    Ok(release_page(
        &ctx,
        data,
        DeployFormState::default(),
        BlockFormState::default(),
    ))
}
