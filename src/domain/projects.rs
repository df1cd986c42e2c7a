//! Projects: one application and its pipeline of environments.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::validation::{self, FieldErrors};
use crate::db::schema::{environments, projects};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = projects)]
pub struct Project {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<i64>,
}

/// The pipeline every new project starts with.
pub const DEFAULT_PIPELINE: [(&str, &str); 4] = [
    ("development", "Development"),
    ("qa", "QA"),
    ("staging", "Staging"),
    ("production", "Production"),
];

#[derive(Debug, Clone, Default)]
pub struct ProjectInput {
    pub name: String,
    pub slug: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("the project is not valid")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

pub fn validate(input: &ProjectInput) -> FieldErrors {
    let mut errors = FieldErrors::new();
    if let Some(problem) = validation::name_problem(input.name.trim(), 1, 100, "a name") {
        errors.add("name", problem);
    }
    if let Some(problem) = validation::slug_problem(&input.slug) {
        errors.add("slug", problem);
    }
    if let Some(problem) = validation::text_problem(input.description.trim(), 2000) {
        errors.add("description", problem);
    }
    errors
}

/// Creates a project with the default pipeline; the first environment
/// deploys each new release at once.
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    input: &ProjectInput,
) -> Result<Project, ProjectError> {
    let mut input = input.clone();
    input.slug = input.slug.trim().to_lowercase();
    if input.slug.is_empty() {
        input.slug = validation::slugify(&input.name);
    }
    validate(&input)
        .into_result()
        .map_err(ProjectError::Invalid)?;
    conn.transaction(|conn| {
        let project = diesel::insert_into(projects::table)
            .values((
                projects::slug.eq(&input.slug),
                projects::name.eq(input.name.trim()),
                projects::description.eq(input.description.trim()),
                projects::created_by.eq(actor.user_id),
            ))
            .returning(Project::as_returning())
            .get_result(conn)
            .map_err(|err| match err {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => {
                    let mut errors = FieldErrors::new();
                    errors.add("slug", "Another project already uses this slug.");
                    ProjectError::Invalid(errors)
                }
                other => other.into(),
            })?;
        for (position, (slug, name)) in DEFAULT_PIPELINE.iter().enumerate() {
            diesel::insert_into(environments::table)
                .values((
                    environments::project_id.eq(project.id),
                    environments::slug.eq(slug),
                    environments::name.eq(name),
                    environments::position.eq(position as i32),
                    environments::trigger.eq(if position == 0 {
                        "on_release"
                    } else {
                        "manual"
                    }),
                ))
                .execute(conn)?;
        }
        audit::record(
            conn,
            actor,
            Event::new("project.created", "project", &project.slug)
                .in_project(project.id)
                .details(json!({ "name": project.name })),
        )?;
        Ok(project)
    })
}

pub fn find_by_slug(conn: &mut PgConnection, slug: &str) -> QueryResult<Option<Project>> {
    projects::table
        .filter(projects::slug.eq(slug))
        .select(Project::as_select())
        .first(conn)
        .optional()
}

/// Projects by name; `visible` limits them (None: all).
pub fn list(conn: &mut PgConnection, visible: Option<&[i64]>) -> QueryResult<Vec<Project>> {
    let mut query = projects::table
        .order(projects::name.asc())
        .select(Project::as_select())
        .into_boxed();
    if let Some(ids) = visible {
        query = query.filter(projects::id.eq_any(ids.to_vec()));
    }
    query.load(conn)
}
