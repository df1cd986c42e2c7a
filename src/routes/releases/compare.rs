//! `/projects/{project}/compare?from=&to=&environment=`: what deploying
//! one release where another stands changes (`domain::changes`). Reached
//! from the release page for each environment it may enter.

use super::*;
use crate::domain::changes;
use crate::views::releases::{ComparePage, Compared};

#[derive(Debug, Deserialize)]
pub struct CompareQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    environment: String,
}

pub async fn compare(
    ctx: Ctx,
    path: web::Path<String>,
    query: web::Query<CompareQuery>,
) -> Result<ComparePage, AppError> {
    let slug = path.into_inner();
    let query = query.into_inner();
    let (from, to, env) = (
        query.from.clone(),
        query.to.clone(),
        query.environment.clone(),
    );
    let (project, pipeline, errors, result) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, pipeline, access) = open_project(conn, actor, &slug)?;
            let mut errors = FieldErrors::new();
            if query.from.is_empty() && query.to.is_empty() {
                return Ok((project, pipeline, errors, None));
            }
            let environment = match query.environment.as_str() {
                "" => pipeline.last().cloned(),
                env => pipeline.iter().find(|e| e.slug == env).cloned(),
            };
            if environment.is_none() {
                errors.add("environment", "Choose an environment of this project.");
            }
            let mut find = |field: &str, version: &str| -> Result<_, AppError> {
                let found = match version.trim() {
                    "" => None,
                    version => releases::find(conn, project.id, version)?,
                };
                if found.is_none() {
                    errors.add(
                        field,
                        format!("{} has no release {version:?}.", project.name),
                    );
                }
                Ok(found)
            };
            let (from, to) = (find("from", &query.from)?, find("to", &query.to)?);
            let (Some(from), Some(to), Some(environment)) = (from, to, environment) else {
                return Ok((project, pipeline, errors, None));
            };
            let mut changes = changes::compare(conn, Some(&from), &to, environment.id)?;
            // Values are for those with a role there, as on the release page.
            if !access.holds_any(environment.id) {
                changes.variables = changes
                    .variables
                    .into_iter()
                    .map(|change| {
                        change.map(|mut v| {
                            v.shown = None;
                            v
                        })
                    })
                    .collect();
            }
            let compared = Compared {
                from,
                to,
                environment,
                changes,
            };
            Ok((project, pipeline, errors, Some(compared)))
        })
        .await?;
    Ok(ComparePage {
        page: ctx.page(format!("What changes · {}", project.name), "projects"),
        environment: if env.is_empty() {
            pipeline.last().map(|e| e.slug.clone()).unwrap_or_default()
        } else {
            env
        },
        project,
        pipeline,
        from,
        to,
        errors,
        result,
    })
}
