//! Retention per project: releases that never left their first environment
//! are removed once older than the project's number of days, except its
//! newest few. Promoted releases are always kept. The worker sweeps each
//! project once a day; every removal is audited.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::deployments::status;
use super::releases::{self, Release};
use crate::db::schema::{deployments, environment_releases, projects, releases as releases_table};
use crate::domain::ids::ProjectId;

#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    pub days: i32,
    pub keep: i32,
}

pub fn policy(conn: &mut PgConnection, project_id: ProjectId) -> QueryResult<RetentionPolicy> {
    let (days, keep) = projects::table
        .find(project_id)
        .select((projects::retention_days, projects::retention_keep))
        .first(conn)?;
    Ok(RetentionPolicy { days, keep })
}

/// What a sweep at `now` would remove, oldest first.
pub fn candidates(
    conn: &mut PgConnection,
    project_id: ProjectId,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Release>> {
    let RetentionPolicy { days, keep } = policy(conn, project_id)?;
    let newest: Vec<i64> = releases_table::table
        .filter(releases_table::project_id.eq(project_id))
        .order((releases_table::created_at.desc(), releases_table::id.desc()))
        .limit(i64::from(keep))
        .select(releases_table::id)
        .load(conn)?;
    releases_table::table
        .filter(releases_table::project_id.eq(project_id))
        .filter(releases_table::created_at.lt(now - Duration::days(i64::from(days))))
        .filter(releases_table::id.ne_all(newest))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            environment_releases::table
                .filter(environment_releases::release_id.eq(releases_table::id))
                .filter(
                    environment_releases::environment_id.ne(releases_table::first_environment_id),
                ),
        )))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            deployments::table
                .filter(deployments::release_id.eq(releases_table::id))
                .filter(deployments::status.eq_any(status::active())),
        )))
        .order((releases_table::created_at.asc(), releases_table::id.asc()))
        .select(Release::as_select())
        .load(conn)
}

/// Removes what retention allows in one project. Each removal goes through
/// the ordinary delete (row lock, rule 1 trigger, audit).
pub fn sweep(
    conn: &mut PgConnection,
    project_id: ProjectId,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let actor = Actor {
        name: "retention".to_owned(),
        ..Actor::system()
    };
    let mut removed = 0;
    for release in candidates(conn, project_id, now)? {
        match releases::delete(conn, &actor, release.id) {
            Ok(_) => removed += 1,
            Err(releases::ReleaseError::Db(err)) => return Err(err),
            // Promoted or busy since it was listed: it stays.
            Err(_) => {}
        }
    }
    conn.transaction(|conn| {
        diesel::update(projects::table.find(project_id))
            .set(projects::retention_swept_at.eq(now))
            .execute(conn)?;
        if removed > 0 {
            audit::record(
                conn,
                &actor,
                Event::new("retention.swept", "project", project_id)
                    .in_project(project_id)
                    .details(json!({ "removed": removed })),
            )?;
        }
        Ok(removed)
    })
}

/// Sweeps every project not swept in the last day. Called by workers; the
/// claim with SKIP LOCKED keeps two workers off the same project.
pub fn sweep_due(conn: &mut PgConnection) -> QueryResult<usize> {
    let due: Vec<ProjectId> = conn.transaction(|conn| {
        projects::table
            .filter(
                projects::retention_swept_at
                    .is_null()
                    .or(projects::retention_swept_at.lt(Utc::now() - Duration::days(1))),
            )
            .select(projects::id)
            .limit(1)
            .for_update()
            .skip_locked()
            .load::<ProjectId>(conn)
            .and_then(|ids| {
                if let Some(id) = ids.first() {
                    // Mark it first so a racing worker skips it.
                    diesel::update(projects::table.find(id))
                        .set(projects::retention_swept_at.eq(Utc::now()))
                        .execute(conn)?;
                }
                Ok(ids)
            })
    })?;
    let mut removed = 0;
    for id in due {
        removed += sweep(conn, id, Utc::now())?;
    }
    Ok(removed)
}

/// How this area says no (see `rejection`).
pub type RetentionError = crate::domain::rejection::Rejection;

/// Sets a project's retention, audited.
pub fn set_policy(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: ProjectId,
    days: &str,
    keep: &str,
) -> Result<RetentionPolicy, RetentionError> {
    let mut errors = super::validation::FieldErrors::new();
    let days = days
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|d| (1..=3650).contains(d));
    let keep = keep
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|k| (0..=10_000).contains(k));
    if days.is_none() {
        errors.add(
            "retention_days",
            "Use a whole number of days from 1 to 3,650.",
        );
    }
    if keep.is_none() {
        errors.add("retention_keep", "Use a whole number from 0 to 10,000.");
    }
    let (Some(days), Some(keep)) = (days, keep) else {
        return Err(RetentionError::Invalid(errors));
    };
    conn.transaction(|conn| {
        diesel::update(projects::table.find(project_id))
            .set((
                projects::retention_days.eq(days),
                projects::retention_keep.eq(keep),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("retention.changed", "project", project_id)
                .in_project(project_id)
                .details(json!({ "days": days, "keep": keep })),
        )?;
        Ok(RetentionPolicy { days, keep })
    })
}
