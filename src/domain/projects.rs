//! Projects: one application and its pipeline of environments.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::access::{self, ProjectAccess, Role};
use super::audit::{self, Actor, Event};
use super::environments::{Environment, Trigger};
use super::validation::{self, FieldErrors};
use crate::db::schema::{environments, grants, projects};
use crate::domain::ids::{ProjectId, UserId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = projects)]
pub struct Project {
    pub id: ProjectId,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
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

/// How this area says no (see `rejection`).
pub type ProjectError = crate::domain::rejection::Rejection;

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
                        Trigger::OnRelease
                    } else {
                        Trigger::Manual
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

/// A project with its pipeline and what `actor` may do in it, read in one
/// statement: every project page starts with these three, and each round
/// trip to the database costs more than the rows (`bench/README.md`).
/// `None` when there is no such project; whether the actor may see it is
/// for `access::enforce` to say.
pub fn open(
    conn: &mut PgConnection,
    actor: &Actor,
    slug: &str,
) -> QueryResult<Option<(Project, Vec<Environment>, ProjectAccess)>> {
    // Admins' rights need no grants; anyone else's are their own and their
    // teams' on each environment (as `access::project_access`). No user has
    // id 0, so an admin's join finds nothing.
    let holder = match (actor.user_id, actor.is_admin) {
        (Some(id), false) => id,
        _ => UserId(0),
    };
    let rows: Vec<(Project, Option<Environment>, Option<Role>)> = projects::table
        .left_join(environments::table)
        .left_join(
            grants::table.on(grants::environment_id
                .eq(environments::id)
                .and(access::holds(holder))),
        )
        .filter(projects::slug.eq(slug))
        .order((environments::position.asc(), grants::role.asc()))
        .select((
            Project::as_select(),
            Option::<Environment>::as_select(),
            grants::role.nullable(),
        ))
        .load(conn)?;
    let Some(project) = rows.first().map(|row| row.0.clone()) else {
        return Ok(None);
    };
    let mut pipeline: Vec<Environment> = Vec::new();
    let mut held = Vec::new();
    for (_, environment, role) in rows {
        let Some(environment) = environment else {
            continue;
        };
        if let Some(role) = role {
            held.push((environment.id, role));
        }
        if pipeline.last().is_none_or(|last| last.id != environment.id) {
            pipeline.push(environment);
        }
    }
    let access = ProjectAccess::from_grants(actor.is_admin, &held).within(actor, project.id);
    Ok(Some((project, pipeline, access)))
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
