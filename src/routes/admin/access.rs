//! `/admin/projects/{project}/access`: environments × roles, who holds each,
//! and adding or removing grants in a click.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::auth::csrf::{CsrfForm, NoFields};
use crate::auth::flash::FlashKind;
use crate::domain::access::Role;
use crate::domain::grants::{self, GrantError, Holder};
use crate::domain::{environments, projects, teams, users};
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::routes::see_other;
use crate::views::admin::{AccessPage, HolderChoice};

pub async fn show(ctx: Ctx, path: web::Path<String>) -> Result<AccessPage, AppError> {
    let slug = path.into_inner();
    let (project, pipeline, all_grants, holders) = ctx
        .run(move |conn, _actor| -> Result<_, AppError> {
            let project = projects::find_by_slug(conn, &slug)?.ok_or(AppError::NotFound)?;
            let pipeline = environments::list(conn, project.id)?;
            let all_grants = grants::for_environments(conn, &pipeline)?;
            let mut holders: Vec<HolderChoice> = teams::list(conn)?
                .into_iter()
                .map(|t| HolderChoice {
                    value: format!("team:{}", t.team.id),
                    label: format!("Team: {} ({} members)", t.team.name, t.members),
                })
                .collect();
            holders.extend(
                users::list(conn)?
                    .into_iter()
                    .filter(|u| !u.disabled)
                    .map(|u| HolderChoice {
                        value: format!("user:{}", u.id),
                        label: format!("{} ({})", u.display_name, u.username),
                    }),
            );
            Ok((project, pipeline, all_grants, holders))
        })
        .await?;
    Ok(AccessPage {
        page: ctx.page(format!("Access · {}", project.name), "admin"),
        project,
        pipeline,
        grants: all_grants,
        holders,
        roles: ["viewer", "deployer", "approver"],
    })
}

#[derive(Debug, Deserialize)]
pub struct GrantForm {
    #[serde(default)]
    holder: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    role: String,
}

fn access_url(slug: &str) -> String {
    format!("/admin/projects/{slug}/access")
}

pub async fn add(
    ctx: Ctx,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<GrantForm>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let url = access_url(&slug);
    let (Some(holder), Some(role)) = (Holder::parse(&form.holder), Role::parse(&form.role)) else {
        ctx.flash(FlashKind::Error, "Choose who, where and which role.");
        return Ok(see_other(&url));
    };
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let project = projects::find_by_slug(conn, &slug)?.ok_or(AppError::NotFound)?;
            let pipeline = environments::list(conn, project.id)?;
            // "all" grants the role on every environment of the pipeline.
            let targets: Vec<_> = pipeline
                .iter()
                .filter(|e| form.environment == "all" || e.slug == form.environment)
                .collect();
            if targets.is_empty() {
                return Ok(Err(GrantError::Refused(
                    "Choose an environment of this project.".to_owned(),
                )));
            }
            let mut added = 0;
            let mut last_refusal = None;
            for environment in targets {
                match grants::add(conn, actor, environment, holder, role) {
                    Ok(()) => added += 1,
                    Err(GrantError::Refused(message)) => last_refusal = Some(message),
                    Err(err) => return Err(AppError::internal(err)),
                }
            }
            Ok(match (added, last_refusal) {
                (0, Some(message)) => Err(GrantError::Refused(message)),
                (n, _) => Ok(n),
            })
        })
        .await?;
    match outcome {
        Ok(n) => ctx.flash(
            FlashKind::Success,
            format!(
                "{} granted on {n} environment{}.",
                role.as_str(),
                if n == 1 { "" } else { "s" }
            ),
        ),
        Err(err) => ctx.flash(FlashKind::Error, err.to_string()),
    }
    Ok(see_other(&url))
}

pub async fn remove(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (slug, grant_id) = path.into_inner();
    let url = access_url(&slug);
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let project = projects::find_by_slug(conn, &slug)?.ok_or(AppError::NotFound)?;
            let pipeline = environments::list(conn, project.id)?;
            Ok(grants::remove(conn, actor, &pipeline, grant_id))
        })
        .await?;
    match outcome {
        Ok(()) => ctx.flash(
            FlashKind::Success,
            "Grant removed. It takes effect on their next request.",
        ),
        Err(GrantError::Refused(message)) => ctx.flash(FlashKind::Error, message),
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(&url))
}
