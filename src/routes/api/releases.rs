//! `GET /api/v1/projects/{project}/releases/{version}` and
//! `POST /api/v1/projects/{project}/releases`: a release with where it
//! stands in each environment, and creating one as the form does.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use diesel::PgConnection;
use serde::Deserialize;

use super::model::{self, ArtifactBody, Links, ReleaseBody};
use super::{ApiCtx, ApiError};
use crate::domain::audit::Actor;
use crate::domain::releases::{self, ArtifactInput, ReleaseInput};
use crate::domain::{readiness, release_view};
use crate::routes::context::open_release;
use crate::routes::releases::open_for_new_release;

/// A release as the API shows it, read the way its page reads it.
fn release_body(
    conn: &mut PgConnection,
    actor: &Actor,
    slug: &str,
    version: &str,
) -> Result<ReleaseBody, ApiError> {
    let (project, pipeline, access, release) = open_release(conn, actor, slug, version)?;
    let facts = release_view::facts(conn, release.id)?;
    let timeline = releases::timeline(conn, &release, &pipeline, &facts)?;
    let checks = readiness::for_release(&release, &pipeline, &timeline, &access, &facts);
    let environments = timeline
        .into_iter()
        .zip(checks)
        .map(|(stage, checks)| model::release_stage(stage, checks))
        .collect();
    Ok(ReleaseBody {
        links: Links {
            page: model::release_page(&project.slug, &release),
        },
        version: release.version,
        title: release.title,
        description: release.description,
        created_at: release.created_at,
        created_by: facts.created_by,
        artifacts: facts
            .artifacts
            .into_iter()
            .map(ArtifactBody::from)
            .collect(),
        environments,
    })
}

pub async fn show(
    ctx: ApiCtx,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, version) = path.into_inner();
    let body = ctx
        .run(move |conn, actor| release_body(conn, actor, &slug, &version))
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewArtifact {
    name: String,
    reference: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRelease {
    version: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    artifacts: Vec<NewArtifact>,
}

impl From<NewRelease> for ReleaseInput {
    fn from(body: NewRelease) -> Self {
        ReleaseInput {
            version: body.version,
            title: body.title,
            description: body.description,
            artifacts: body
                .artifacts
                .into_iter()
                .map(|a| ArtifactInput {
                    name: a.name,
                    reference: a.reference,
                    url: a.url.unwrap_or_default(),
                    sha256: a.sha256.unwrap_or_default(),
                })
                .collect(),
        }
    }
}

pub async fn create(
    ctx: ApiCtx,
    path: web::Path<String>,
    body: web::Json<NewRelease>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let input = ReleaseInput::from(body.into_inner());
    let (status, body) = ctx
        .run(move |conn, actor| -> Result<_, ApiError> {
            let (project, _, _) = open_for_new_release(conn, actor, &slug)?;
            let outcome = releases::create(conn, actor, &project, &input);
            let created = match outcome {
                Ok(release) => release,
                Err(err) => {
                    // The version exists (before, or made by a request racing
                    // this one): the same release again is its answer.
                    let Some(existing) = releases::find(conn, project.id, input.version.trim())?
                    else {
                        return Err(err.into());
                    };
                    if !releases::is_same(conn, &existing, &input)? {
                        return Err(ApiError::new(
                            StatusCode::CONFLICT,
                            "conflict",
                            format!(
                                "{} already has a release {} with other content.",
                                project.name, existing.version
                            ),
                        )
                        .with_field("version"));
                    }
                    let body = release_body(conn, actor, &project.slug, &existing.version)?;
                    return Ok((StatusCode::OK, body));
                }
            };
            let body = release_body(conn, actor, &project.slug, &created.version)?;
            Ok((StatusCode::CREATED, body))
        })
        .await?;
    Ok(super::json(status, &body))
}
