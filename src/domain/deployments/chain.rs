//! "Deploy as far as": when a deployment of a chain succeeds, the next
//! environment is asked for in the same transaction, for the person who
//! started the chain and under their rights as they stand now.

use super::*;
use crate::domain::ids::{DeploymentId, ProjectId};

/// After a success: request the next environment when this deployment
/// goes "as far as" a later one, or when the next environment deploys
/// automatically after success in this one. Each goes through the next
/// environment's own approvals and window.
///
/// A chain step is the originator's request, made in their name: their
/// rights are read again here, so a right revoked (or an account disabled)
/// mid-chain stops the chain, with a note on this deployment.
pub(super) fn promote_onwards(
    conn: &mut PgConnection,
    done: &Deployment,
    project_id: ProjectId,
) -> QueryResult<()> {
    let deployment_id = done.id;
    let pipeline = environments::list(conn, project_id)?;
    let Some(index) = pipeline.iter().position(|e| e.id == done.environment_id) else {
        return Ok(());
    };
    let Some(next) = pipeline.get(index + 1) else {
        return Ok(());
    };
    let far = done
        .target_environment_id
        .and_then(|t| pipeline.iter().position(|e| e.id == t))
        .filter(|far| *far > index);
    let automatic = next.trigger == Trigger::AfterPrevious;
    if let (Some(far), Some(originator)) = (far, done.requested_by) {
        let person = crate::domain::users::find(conn, originator)?;
        let stopped = match &person {
            Some(user) if !user.disabled => {
                let actor = Actor::user(user.id, user.username.clone(), user.is_admin, None);
                let lacking =
                    lacking_deployer(conn, &actor, project_id, &pipeline, index + 1, far)?;
                if lacking.is_empty() {
                    let input = DeployInput {
                        environment_id: next.id,
                        comment: format!("Continuing towards {}.", pipeline[far].name),
                        target_environment_id: Some(pipeline[far].id),
                        cause: Cause::Person,
                        ..Default::default()
                    };
                    match request(conn, &actor, done.release_id, &input) {
                        // A rule stops the chain (the release was blocked,
                        // say): said on this deployment, as a lost right is.
                        Err(DeployError::Refused(reason)) => {
                            format!("Stopped before {}: {reason}", next.name)
                        }
                        // The right was removed between the read above and
                        // the request, and the database refused it: the
                        // same stop, said the same way.
                        Err(DeployError::Denied(_)) => format!(
                            "Stopped before {}: {} no longer holds the deployer role on {}.",
                            next.name, user.display_name, next.name
                        ),
                        other => return settle(deployment_id, other),
                    }
                } else {
                    format!(
                        "Stopped before {}: {} no longer holds the deployer role on {}.",
                        next.name,
                        user.display_name,
                        names(&lacking)
                    )
                }
            }
            _ => format!(
                "Stopped before {}: the account that asked for it is disabled.",
                next.name
            ),
        };
        diesel::update(deployments::table.find(deployment_id))
            .set(deployments::note.eq(&stopped))
            .execute(conn)?;
        audit::record(
            conn,
            &Actor::system(),
            Event::new("deployment.chain_stopped", "deployment", deployment_id)
                .in_project(project_id)
                .details(json!({ "reason": stopped, "towards": pipeline[far].name })),
        )?;
    }
    if !automatic {
        return Ok(());
    }
    let input = DeployInput {
        environment_id: next.id,
        comment: format!("Automatic after success in {}.", pipeline[index].name),
        cause: Cause::AfterPrevious,
        ..Default::default()
    };
    let actor = Actor {
        name: "automatic".to_owned(),
        ..Actor::system()
    };
    settle(
        deployment_id,
        request(conn, &actor, done.release_id, &input),
    )
}

/// A follow-on request that could not be made is not an error of the
/// deployment that succeeded: it is already on its way, or not allowed.
pub(super) fn settle(
    deployment_id: DeploymentId,
    result: Result<Deployment, DeployError>,
) -> QueryResult<()> {
    match result {
        Ok(_) => Ok(()),
        Err(DeployError::Db(err)) => Err(err),
        Err(other) => {
            tracing::info!(deployment = %deployment_id, "not promoting onwards: {other}");
            Ok(())
        }
    }
}
