//! Sample data for a newcomer: one project, its four environments and a dozen
//! releases spread along the pipeline, so the app looks alive at once.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::audit::{self, Actor, Event};
use crate::db::schema::{
    deployments, environment_releases, environments, projects, release_artifacts, releases, users,
};
use crate::domain::ids::{ProjectId, ReleaseId};

const ENVIRONMENTS: [(&str, &str, &str); 4] = [
    (
        "development",
        "Development",
        "https://dev.storefront.example.com",
    ),
    ("qa", "QA", "https://qa.storefront.example.com"),
    (
        "staging",
        "Staging",
        "https://staging.storefront.example.com",
    ),
    ("production", "Production", "https://storefront.example.com"),
];

/// How far each demo release got: (environments reached, status of the last
/// deployment there).
const PLAN: [(usize, &str); 12] = [
    (4, "succeeded"),
    (4, "succeeded"),
    (4, "succeeded"),
    (4, "succeeded"),
    (4, "succeeded"),
    (4, "succeeded"),
    (4, "succeeded"),
    (4, "awaiting_approval"),
    (3, "succeeded"),
    (3, "failed"),
    (2, "succeeded"),
    (1, "succeeded"),
];

const TITLES: [&str; 12] = [
    "New checkout flow",
    "Faster product search",
    "Gift cards",
    "Wishlist sharing",
    "Currency selector",
    "Order history export",
    "Accessibility fixes",
    "One-page checkout",
    "Saved addresses",
    "Payment provider upgrade",
    "Product reviews",
    "Dark mode",
];

/// Fills an empty database. Returns false (and does nothing) when any
/// project exists already.
pub fn seed(conn: &mut PgConnection) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let existing: i64 = projects::table.count().get_result(conn)?;
        if existing > 0 {
            return Ok(false);
        }
        let actor = Actor::system();
        let project_id: ProjectId = diesel::insert_into(projects::table)
            .values((
                projects::slug.eq("storefront"),
                projects::name.eq("Storefront"),
                projects::description
                    .eq("The customer-facing web shop: catalogue, cart and checkout."),
            ))
            .returning(projects::id)
            .get_result(conn)?;
        let mut env_ids = Vec::new();
        for (position, (slug, name, url)) in ENVIRONMENTS.iter().enumerate() {
            let id: i64 = diesel::insert_into(environments::table)
                .values((
                    environments::project_id.eq(project_id),
                    environments::slug.eq(slug),
                    environments::name.eq(name),
                    environments::position.eq(position as i32),
                    environments::url.eq(url),
                    environments::trigger.eq(if position == 0 {
                        "on_release"
                    } else {
                        "manual"
                    }),
                ))
                .returning(environments::id)
                .get_result(conn)?;
            env_ids.push(id);
        }

        // The sample history was asked for by the first administrator: every
        // deployment names the person who asked (rule 3 in the database).
        // `stagecoach demo` creates the administrator first when there is none.
        let admin: i64 = users::table
            .filter(users::is_admin.eq(true))
            .order(users::id.asc())
            .select(users::id)
            .first(conn)?;
        let start = Utc::now() - Duration::days(36);
        for (i, ((reached, last_status), title)) in PLAN.iter().zip(TITLES).enumerate() {
            let version = format!("2.{i}.0");
            let created_at = start + Duration::days(3 * i as i64);
            let release_id: ReleaseId = diesel::insert_into(releases::table)
                .values((
                    releases::project_id.eq(project_id),
                    releases::version.eq(&version),
                    releases::title.eq(title),
                    releases::description.eq(format!("{title}, with the fixes found in review.")),
                    releases::created_at.eq(created_at),
                    releases::first_environment_id.eq(env_ids[0]),
                ))
                .returning(releases::id)
                .get_result(conn)?;
            diesel::insert_into(release_artifacts::table)
                .values((
                    release_artifacts::release_id.eq(release_id),
                    release_artifacts::position.eq(0),
                    release_artifacts::name.eq("storefront-web"),
                    release_artifacts::reference
                        .eq(format!("registry.example.com/storefront/web:{version}")),
                    release_artifacts::sha256.eq(hex::encode(Sha256::digest(version.as_bytes()))),
                ))
                .execute(conn)?;

            let mut previous: Option<i64> = None;
            for (k, env_id) in env_ids.iter().take(*reached).enumerate() {
                let label = match k {
                    0 | 3 => version.clone(),
                    _ => format!("{version}-rc.1"),
                };
                let at = created_at + Duration::hours(6 * k as i64 + 1);
                let er_id: i64 = diesel::insert_into(environment_releases::table)
                    .values((
                        environment_releases::release_id.eq(release_id),
                        environment_releases::environment_id.eq(env_id),
                        environment_releases::version_label.eq(&label),
                        environment_releases::promoted_from.eq(previous),
                        environment_releases::created_at.eq(at),
                    ))
                    .returning(environment_releases::id)
                    .get_result(conn)?;
                let status = if k + 1 == *reached {
                    *last_status
                } else {
                    "succeeded"
                };
                let finished =
                    matches!(status, "succeeded" | "failed").then_some(at + Duration::minutes(4));
                diesel::insert_into(deployments::table)
                    .values((
                        deployments::environment_release_id.eq(er_id),
                        deployments::release_id.eq(release_id),
                        deployments::environment_id.eq(env_id),
                        deployments::attempt.eq(1),
                        deployments::status.eq(status),
                        deployments::requested_by.eq(admin),
                        deployments::created_at.eq(at),
                        deployments::started_at.eq(finished.map(|f| f - Duration::minutes(4))),
                        deployments::finished_at.eq(finished),
                    ))
                    .execute(conn)?;
                previous = Some(er_id);
            }
        }
        audit::record(
            conn,
            &actor,
            Event::new("demo.seeded", "project", "storefront")
                .in_project(project_id)
                .details(json!({ "releases": PLAN.len() })),
        )?;
        Ok(true)
    })
}
