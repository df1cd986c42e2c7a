//! Deleting a release, under rule 1 (also held by a trigger): not once it
//! was promoted beyond its first environment, nor while it is deploying.

use super::*;
use crate::domain::ids::ReleaseId;

/// Why the release can't be deleted now (rule 1), if it can't.
pub fn delete_blocker(conn: &mut PgConnection, release: &Release) -> QueryResult<Option<String>> {
    let beyond: Option<String> = environment_releases::table
        .inner_join(crate::db::schema::environments::table)
        .filter(environment_releases::release_id.eq(release.id))
        .filter(environment_releases::environment_id.ne(release.first_environment_id))
        .order(crate::db::schema::environments::position.desc())
        .select(crate::db::schema::environments::name)
        .first(conn)
        .optional()?;
    if beyond.is_some() {
        return Ok(delete_blocker_text(beyond.as_deref(), false));
    }
    let busy: bool = diesel::select(diesel::dsl::exists(
        deployments_table::table
            .filter(deployments_table::release_id.eq(release.id))
            .filter(deployments_table::status.eq_any(deployments::status::in_flight())),
    ))
    .get_result(conn)?;
    Ok(delete_blocker_text(None, busy))
}

/// [`delete_blocker`] from a timeline already read (the release page's).
pub fn delete_blocker_in(release: &Release, timeline: &[TimelineStage]) -> Option<String> {
    let beyond = timeline
        .iter()
        .rev()
        .find(|stage| stage.reached() && stage.environment.id != release.first_environment_id)
        .map(|stage| stage.environment.name.as_str());
    let busy = timeline
        .iter()
        .flat_map(|stage| &stage.deployments)
        .any(|d| {
            matches!(
                d.status,
                DeploymentStatus::Queued | DeploymentStatus::Running
            )
        });
    delete_blocker_text(beyond, busy)
}

/// Rule 1's refusal: promoted beyond its first environment (the furthest
/// one named), or an attempt in flight.
pub(super) fn delete_blocker_text(beyond: Option<&str>, busy: bool) -> Option<String> {
    if let Some(environment) = beyond {
        return Some(format!(
            "Deployed to {environment}: a promoted release can't be deleted, so its history stays whole."
        ));
    }
    busy.then(|| {
        "A deployment of it is queued or running: it can be deleted once that ends.".to_owned()
    })
}

/// Deletes a release while rule 1 allows. The row lock serialises this with
/// any deploy of the same release; the trigger refuses whatever slips past.
pub fn delete(
    conn: &mut PgConnection,
    actor: &Actor,
    release_id: ReleaseId,
) -> Result<Release, ReleaseError> {
    conn.transaction(|conn| {
        let release: Release = releases::table
            .find(release_id)
            .select(Release::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or_else(|| ReleaseError::Refused("This release was already deleted.".to_owned()))?;
        if let Some(reason) = delete_blocker(conn, &release)? {
            return Err(ReleaseError::Refused(reason));
        }
        diesel::delete(releases::table.find(release.id))
            .execute(conn)
            .map_err(|err| match err {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::RestrictViolation,
                    info,
                ) => ReleaseError::Refused(info.message().to_owned()),
                other => other.into(),
            })?;
        audit::record(
            conn,
            actor,
            Event::new("release.deleted", "release", &release.version)
                .in_project(release.project_id)
                .details(json!({ "title": release.title })),
        )?;
        Ok(release)
    })
}
