//! Loading what most project pages need, with the access check, in one place.

use diesel::PgConnection;

use crate::domain::access::{self, Action, ProjectAccess};
use crate::domain::audit::Actor;
use crate::domain::environments::Environment;
use crate::domain::projects::{self, Project};
use crate::domain::releases::{self, Release};
use crate::error::AppError;

/// A project the actor may see, its pipeline and the actor's rights in it.
/// A project they may not see is "not found", like one that does not exist.
pub fn open_project(
    conn: &mut PgConnection,
    actor: &Actor,
    slug: &str,
) -> Result<(Project, Vec<Environment>, ProjectAccess), AppError> {
    let (project, pipeline, access) =
        projects::open(conn, actor, slug)?.ok_or(AppError::NotFound)?;
    let access = access::enforce(conn, actor, project.id, access, Action::ViewProject)?;
    Ok((project, pipeline, access))
}

/// As [`open_project`], plus one of its releases.
pub fn open_release(
    conn: &mut PgConnection,
    actor: &Actor,
    slug: &str,
    version: &str,
) -> Result<(Project, Vec<Environment>, ProjectAccess, Release), AppError> {
    let (project, pipeline, access) = open_project(conn, actor, slug)?;
    let release = releases::find(conn, project.id, version)?.ok_or(AppError::NotFound)?;
    Ok((project, pipeline, access, release))
}
