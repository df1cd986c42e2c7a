//! `GET /api/v1/projects/{project}/releases/{version}` and
//! `POST /api/v1/projects/{project}/releases`: a release with where it
//! stands in each environment, and creating one as the form does.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use diesel::PgConnection;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::model::{
    self, ArtifactBody, Links, ReleaseBody, ReleaseList, ReleaseRow, ReleaseRowStage,
};
use super::{ApiCtx, ApiError};
use crate::domain::audit::Actor;
use crate::domain::keyset::Cursor;
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
    let mut environments = Vec::with_capacity(timeline.len());
    for (stage, checks) in timeline.into_iter().zip(checks) {
        // What deploying it there changes, where another release is live.
        let live = facts
            .now(stage.environment.id)
            .and_then(|now| now.live_release_id.zip(now.live_version.clone()))
            .filter(|(id, _)| *id != release.id);
        let changes = match live {
            Some((_, version)) => {
                let from = releases::find(conn, project.id, &version)?;
                match from {
                    Some(from) => Some(model::ChangesBody::new(
                        version,
                        crate::domain::changes::compare(
                            conn,
                            Some(&from),
                            &release,
                            stage.environment.id,
                        )?,
                    )),
                    None => None,
                }
            }
            None => None,
        };
        environments.push(model::release_stage(stage, checks, changes));
    }
    Ok(ReleaseBody {
        links: Links {
            page: model::release_page(&project.slug, &release),
        },
        version: release.version,
        title: release.title,
        description: release.description,
        created_at: release.created_at,
        created_by: facts.created_by,
        block: facts.block.map(Into::into),
        artifacts: facts
            .artifacts
            .into_iter()
            .map(ArtifactBody::from)
            .collect(),
        environments,
    })
}

/// A release
///
/// Its artifacts, and per environment its label, deployments, whether it
/// is live there and the readiness checklist for deploying it there.
#[utoipa::path(get, path = "/api/v1/projects/{project}/releases/{version}", operation_id = "getRelease", tag = "releases",
    params(super::openapi::ReleasePath),
    responses(
        (status = 200, description = "The release", body = ReleaseBody),
        (status = 404, description = "No such project or release, or the token may not see it", body = ApiError),
    ))]
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

/// A build output the release ships.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewArtifact {
    /// What it is, e.g. `api-image`.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// Where it is: an image reference, a package version, a path.
    #[schema(min_length = 1, max_length = 200)]
    reference: String,
    /// An http(s) URL.
    #[serde(default)]
    #[schema(max_length = 2000)]
    url: Option<String>,
    /// 64 hexadecimal digits.
    #[serde(default)]
    #[schema(pattern = "^[0-9A-Fa-f]{64}$")]
    sha256: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRelease {
    /// Unique in the project, e.g. `1.4.0`.
    #[schema(pattern = "^[A-Za-z0-9._+-]{1,64}$")]
    version: String,
    /// What it brings, in a line.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    #[schema(max_items = 20)]
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

/// Creates a release
///
/// In the project's first environment, as the form does. Safe to retry:
/// the same release again answers 200, other content under the same
/// version 409; with an `Idempotency-Key` a retry gets the first answer.
#[utoipa::path(post, path = "/api/v1/projects/{project}/releases", operation_id = "createRelease", tag = "releases",
    params(super::openapi::ProjectPath, super::openapi::IdempotencyKey),
    request_body = NewRelease,
    responses(
        (status = 201, description = "Created", body = ReleaseBody),
        (status = 200, description = "This release exists already, with this content", body = ReleaseBody),
        (status = 400, description = "The body is not JSON of this shape, or the key is not valid", body = ApiError),
        (status = 403, description = "The token may not create releases here", body = ApiError),
        (status = 404, description = "No such project, or the token may not see it", body = ApiError),
        (status = 409, description = "The version exists with other content", body = ApiError),
        (status = 413, description = "The body is too large", body = ApiError),
        (status = 422, description = "A field is not valid, or the key was used for another body", body = ApiError),
    ))]
pub async fn create(
    ctx: ApiCtx,
    req: actix_web::HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let input = ReleaseInput::from(super::once::parse::<NewRelease>(&body)?);
    super::once::once(&ctx, &req, &body, move |conn, actor| {
        let (project, _, _) = open_for_new_release(conn, actor, &slug)?;
        let outcome = releases::create(conn, actor, &project, &input);
        let (status, version) = match outcome {
            Ok(release) => (StatusCode::CREATED, release.version),
            Err(err) => {
                // The version exists (before, or made by a request racing
                // this one): the same release again is its answer.
                let Some(existing) = releases::find(conn, project.id, input.version.trim())? else {
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
                (StatusCode::OK, existing.version)
            }
        };
        super::stored(status, &release_body(conn, actor, &project.slug, &version)?)
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Matches version or title.
    #[serde(default)]
    q: String,
    /// Only releases that succeeded in this environment (its slug).
    #[serde(default)]
    env: String,
    /// The `next` of the page before.
    before: Option<String>,
    /// At most this many (default and most: a page of the release list).
    #[param(minimum = 1)]
    limit: Option<i64>,
}

/// The cursor a client sent back, or a 400 naming `field`.
pub fn cursor(raw: Option<&str>, field: &str) -> Result<Option<Cursor>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => Cursor::decode(raw).map(Some).ok_or_else(|| {
            ApiError::bad_request("Use the `next` cursor of the previous page.").with_field(field)
        }),
    }
}

/// The `Link` header of a page with a next one.
pub fn next_link(path: &str, params: &[(&str, &str)], next: &str) -> String {
    let mut all: Vec<(&str, &str)> = params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .copied()
        .collect();
    all.push(("before", next));
    let query = serde_urlencoded::to_string(&all).unwrap_or_default();
    format!("<{path}?{query}>; rel=\"next\"")
}

/// Releases, newest first
///
/// With the release list's filters and keyset cursor: `next` in the body
/// and a `Link` header while there is another page.
#[utoipa::path(get, path = "/api/v1/projects/{project}/releases", operation_id = "listReleases", tag = "releases",
    params(super::openapi::ProjectPath, ListQuery),
    responses(
        (status = 200, description = "A page of releases", body = ReleaseList,
            headers(("Link" = String, description = "The next page, while there is one: `<…>; rel=\"next\"`"))),
        (status = 400, description = "A query parameter is not valid", body = ApiError),
        (status = 404, description = "No such project, or the token may not see it", body = ApiError),
    ))]
pub async fn list(
    ctx: ApiCtx,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let query = query.into_inner();
    let before = cursor(query.before.as_deref(), "before")?;
    let limit = query
        .limit
        .unwrap_or(releases::PAGE_SIZE)
        .clamp(1, releases::PAGE_SIZE);
    let (search, env) = (query.q.clone(), query.env.clone());
    let (project_slug, slugs, rows, next) = ctx
        .run(move |conn, actor| -> Result<_, ApiError> {
            let (project, pipeline, _) = crate::routes::context::open_project(conn, actor, &slug)?;
            let environment_id = match query.env.as_str() {
                "" => None,
                env => Some(
                    pipeline
                        .iter()
                        .find(|e| e.slug == env)
                        .ok_or_else(|| {
                            ApiError::bad_request("No such environment in this project.")
                                .with_field("env")
                        })?
                        .id,
                ),
            };
            let filter = releases::ReleaseQuery {
                search: query.q,
                environment_id,
                before,
            };
            let live = releases::live_by_environment(conn, &pipeline)?;
            let (rows, next) = releases::list(conn, project.id, &pipeline, &live, &filter, limit)?;
            let slugs: Vec<String> = pipeline.into_iter().map(|e| e.slug).collect();
            Ok((project.slug, slugs, rows, next))
        })
        .await?;
    let next = next.map(|c| c.encode());
    let releases: Vec<ReleaseRow> = rows
        .into_iter()
        .map(|row| ReleaseRow {
            version: row.release.version,
            title: row.release.title,
            created_at: row.release.created_at,
            blocked: row.blocked,
            // The stages come in pipeline order.
            environments: row
                .stages
                .iter()
                .zip(&slugs)
                .map(|(s, slug)| ReleaseRowStage {
                    environment: slug.clone(),
                    state: s.status,
                    label: s.label.clone(),
                    live: s.live,
                })
                .collect(),
        })
        .collect();
    let mut response = HttpResponse::Ok();
    if let Some(next) = &next {
        let path = format!("/api/v1/projects/{project_slug}/releases");
        response.insert_header((
            "Link",
            next_link(&path, &[("q", &search), ("env", &env)], next),
        ));
    }
    Ok(response.json(ReleaseList { releases, next }))
}

/// Deletes a release
///
/// Only one that never left its first environment (rule 1).
#[utoipa::path(delete, path = "/api/v1/projects/{project}/releases/{version}", operation_id = "deleteRelease", tag = "releases",
    params(super::openapi::ReleasePath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The token may not delete releases here", body = ApiError),
        (status = 404, description = "No such project or release, or the token may not see it", body = ApiError),
        (status = 409, description = "The release was promoted, or is being deployed", body = ApiError),
    ))]
pub async fn delete(
    ctx: ApiCtx,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, version) = path.into_inner();
    ctx.run(move |conn, actor| -> Result<_, ApiError> {
        let (_, release) = crate::routes::releases::open_for_delete(conn, actor, &slug, &version)?;
        releases::delete(conn, actor, release.id)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// Why it must not go further.
    #[schema(min_length = 1, max_length = 2000)]
    reason: String,
}

/// Blocks a release ("do not promote")
///
/// As a deployer or approver of an environment it reached: it enters no
/// environment it has not already succeeded in until it is unblocked, and
/// what of it waits or is queued for such an environment is cancelled.
#[utoipa::path(post, path = "/api/v1/projects/{project}/releases/{version}/block", operation_id = "blockRelease", tag = "releases",
    params(super::openapi::ReleasePath),
    request_body = BlockRequest,
    responses(
        (status = 200, description = "Blocked", body = ReleaseBody),
        (status = 400, description = "The body is not JSON of this shape", body = ApiError),
        (status = 403, description = "The token may not block it", body = ApiError),
        (status = 404, description = "No such project or release, or the token may not see it", body = ApiError),
        (status = 409, description = "It is blocked already", body = ApiError),
        (status = 422, description = "The reason is missing or not valid", body = ApiError),
    ))]
pub async fn block(
    ctx: ApiCtx,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (slug, version) = path.into_inner();
    let body: BlockRequest = super::once::parse(&body)?;
    let answer = ctx
        .run(move |conn, actor| -> Result<_, ApiError> {
            let (project, _, _, release) = open_release(conn, actor, &slug, &version)?;
            crate::domain::blocks::block(conn, actor, release.id, &body.reason)?;
            release_body(conn, actor, &project.slug, &release.version)
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// Lifts a release's block
#[utoipa::path(post, path = "/api/v1/projects/{project}/releases/{version}/unblock", operation_id = "unblockRelease", tag = "releases",
    params(super::openapi::ReleasePath),
    responses(
        (status = 200, description = "Unblocked", body = ReleaseBody),
        (status = 403, description = "The token may not unblock it", body = ApiError),
        (status = 404, description = "No such project or release, or the token may not see it", body = ApiError),
        (status = 409, description = "It is not blocked", body = ApiError),
    ))]
pub async fn unblock(
    ctx: ApiCtx,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, version) = path.into_inner();
    let answer = ctx
        .run(move |conn, actor| -> Result<_, ApiError> {
            let (project, _, _, release) = open_release(conn, actor, &slug, &version)?;
            crate::domain::blocks::unblock(conn, actor, release.id)?;
            release_body(conn, actor, &project.slug, &release.version)
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
