//! Manual steps: the deployment waits at one until an approver of its
//! environment proceeds or aborts with a note (once: the decision's
//! primary key), or the step's timeout aborts it. The worker that runs
//! the deployment waits for the decision ([`decision`]); the database
//! holds who may decide and when (`manual_steps` migration).

use super::*;
use crate::db::schema::{manual_decisions, users};
use crate::domain::rejection::Rejection;

/// A decision at a manual step, as the log and the page tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualDecision {
    pub proceed: bool,
    pub note: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// The decision on step `position` of deployment `deployment_id`, if made.
pub fn decision(
    conn: &mut PgConnection,
    deployment_id: DeploymentId,
    position: i32,
) -> QueryResult<Option<ManualDecision>> {
    manual_decisions::table
        .inner_join(users::table.on(users::id.eq(manual_decisions::decided_by)))
        .filter(manual_decisions::deployment_id.eq(deployment_id))
        .filter(manual_decisions::position.eq(position))
        .select((
            manual_decisions::proceed,
            manual_decisions::note,
            users::display_name,
            manual_decisions::decided_at,
        ))
        .first::<(bool, String, String, DateTime<Utc>)>(conn)
        .optional()
        .map(|row| {
            row.map(|(proceed, note, by, at)| ManualDecision {
                proceed,
                note,
                by,
                at,
            })
        })
}

/// An approver proceeds (or aborts) at the manual step the deployment
/// waits at. Refused once decided, once it no longer waits, and for
/// anyone but an approver of its environment.
pub fn decide(
    conn: &mut PgConnection,
    actor: &Actor,
    deployment_id: DeploymentId,
    position: i32,
    proceed: bool,
    note: &str,
) -> Result<(), Rejection> {
    let note = note.trim();
    let mut errors = FieldErrors::new();
    if note.chars().count() > 2000 {
        errors.add("note", "Use at most 2,000 characters.");
    } else if let Some(problem) = crate::input::text::lines_problem(note) {
        errors.add("note", problem);
    }
    errors.into_result().map_err(Rejection::Invalid)?;
    let Some(user_id) = actor.user_id else {
        return Err(Rejection::Denied(
            "Only a person decides a manual step.".to_owned(),
        ));
    };
    conn.transaction(|conn| {
        let environment_id: EnvironmentId = deployments::table
            .find(deployment_id)
            .select(deployments::environment_id)
            .first(conn)
            .optional()?
            .ok_or(Rejection::NotFound)?;
        diesel::insert_into(manual_decisions::table)
            .values((
                manual_decisions::deployment_id.eq(deployment_id),
                manual_decisions::position.eq(position),
                manual_decisions::proceed.eq(proceed),
                manual_decisions::note.eq(note),
                manual_decisions::decided_by.eq(user_id),
            ))
            .execute(conn)
            .map_err(|err| {
                use diesel::result::{DatabaseErrorKind, Error};
                if let Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) = err {
                    return Rejection::Refused("Someone already decided this step.".to_owned());
                }
                match crate::db::violated_check(&err) {
                    Some("manual_decisions_step_waits") => {
                        Rejection::Refused("It no longer waits for a person.".to_owned())
                    }
                    Some("manual_decisions_by_approver") => Rejection::Denied(
                        "You need the approver role on this environment to decide here.".to_owned(),
                    ),
                    _ => err.into(),
                }
            })?;
        let project_id = project_of(conn, environment_id)?;
        audit::record(
            conn,
            actor,
            Event::new(
                if proceed {
                    "deployment.manual_proceeded"
                } else {
                    "deployment.manual_aborted"
                },
                "deployment",
                deployment_id,
            )
            .in_project(project_id)
            .details(json!({ "step": position, "note": note })),
        )?;
        Ok(())
    })
}
