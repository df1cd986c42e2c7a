//! Who may do what where: the one authorisation function. Deny by default;
//! admins hold every right; everyone else needs a grant of a role on an
//! environment. Seeing a project needs any grant in it; deploying needs
//! `deployer` on the target; deleting a release needs `deployer` on its
//! first environment; managing a project needs admin.
//!
//! A refused check is an audit event; a project the user may not see
//! answers "not found", so ids cannot be probed.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Actor, Event};
use crate::db::schema::{environments, grants, team_members};
use crate::domain::ids::{EnvironmentId, ProjectId, UserId};

pub use super::states::Role;

/// One user's rights in one project, loaded with one query.
#[derive(Debug, Clone)]
pub struct ProjectAccess {
    is_admin: bool,
    roles: HashMap<EnvironmentId, HashSet<Role>>,
}

impl ProjectAccess {
    /// Access from a list of (environment, role) grants.
    pub fn from_grants(is_admin: bool, grants: &[(EnvironmentId, Role)]) -> Self {
        let mut roles: HashMap<EnvironmentId, HashSet<Role>> = HashMap::new();
        for (env, role) in grants {
            roles.entry(*env).or_default().insert(*role);
        }
        Self { is_admin, roles }
    }

    /// Cut to what the API token `actor` used reaches in `project_id`
    /// (nothing outside its project, only its roles inside). A narrowed
    /// token's actor is never an admin, so this works on grants alone.
    #[must_use]
    pub fn within(mut self, actor: &Actor, project_id: ProjectId) -> Self {
        if let Some(scope) = &actor.scope {
            self.is_admin = false;
            self.roles.retain(|_, roles| {
                roles.retain(|role| scope.allows(project_id, *role));
                !roles.is_empty()
            });
        }
        self
    }

    pub fn can_view(&self) -> bool {
        self.is_admin || !self.roles.is_empty()
    }

    pub fn has(&self, environment_id: EnvironmentId, role: Role) -> bool {
        self.is_admin
            || self
                .roles
                .get(&environment_id)
                .is_some_and(|r| r.contains(&role))
    }

    pub fn is_admin(&self) -> bool {
        self.is_admin
    }

    /// Any role on this environment: what reading its deployment logs and
    /// variable values needs (seeing the project shows only where releases
    /// stand).
    pub fn holds_any(&self, environment_id: EnvironmentId) -> bool {
        self.is_admin
            || self
                .roles
                .get(&environment_id)
                .is_some_and(|r| !r.is_empty())
    }
}

/// Grants held by `user_id` directly or through one of their teams.
#[diesel::dsl::auto_type]
pub fn holds(user_id: UserId) -> _ {
    let teams: diesel::dsl::Nullable<team_members::team_id> = team_members::team_id.nullable();
    grants::user_id.eq(user_id).or(grants::team_id.eq_any(
        team_members::table
            .filter(team_members::user_id.eq(user_id))
            .select(teams),
    ))
}

/// Loads what `actor` may do in `project_id`.
pub fn project_access(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: ProjectId,
) -> QueryResult<ProjectAccess> {
    let mut roles: HashMap<EnvironmentId, HashSet<Role>> = HashMap::new();
    if let (Some(user_id), false) = (actor.user_id, actor.is_admin) {
        // A user's rights: their own grants and their teams'.
        let rows: Vec<(EnvironmentId, Role)> = grants::table
            .inner_join(environments::table)
            .filter(holds(user_id))
            .filter(environments::project_id.eq(project_id))
            .select((grants::environment_id, grants::role))
            .load(conn)?;
        for (env, role) in rows {
            roles.entry(env).or_default().insert(role);
        }
    }
    Ok(ProjectAccess {
        is_admin: actor.is_admin,
        roles,
    }
    .within(actor, project_id))
}

/// The projects `actor` may see: `None` means all of them (admin).
pub fn visible_project_ids(
    conn: &mut PgConnection,
    actor: &Actor,
) -> QueryResult<Option<Vec<i64>>> {
    if actor.is_admin {
        return Ok(None);
    }
    let Some(user_id) = actor.user_id else {
        return Ok(Some(Vec::new()));
    };
    let mut query = grants::table
        .inner_join(environments::table)
        .filter(holds(user_id))
        .select(environments::project_id)
        .distinct()
        .into_boxed();
    if let Some(scope) = &actor.scope {
        if let Some(project_id) = scope.project_id {
            query = query.filter(environments::project_id.eq(project_id));
        }
        if let Some(roles) = &scope.roles {
            query = query.filter(grants::role.eq_any(roles.clone()));
        }
    }
    Ok(Some(query.load(conn)?))
}

/// What someone wants to do, with the names the refusal message needs.
#[derive(Debug, Clone)]
pub enum Action<'a> {
    ViewProject,
    Deploy {
        environment_id: EnvironmentId,
        environment: &'a str,
    },
    Approve {
        environment_id: EnvironmentId,
        environment: &'a str,
    },
    CreateRelease {
        first_environment_id: EnvironmentId,
        environment: &'a str,
    },
    DeleteRelease {
        first_environment_id: EnvironmentId,
        environment: &'a str,
    },
    ManageProjects,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Denied {
    /// The project is not visible to this user: answer as if it did not exist.
    #[error("not found")]
    Hidden,
    /// Visible, but this right is missing; the text says which.
    #[error("{0}")]
    Missing(String),
}

/// The pure rule: may the holder of `access` do `action`?
pub fn check(access: &ProjectAccess, action: &Action<'_>) -> Result<(), Denied> {
    if !access.can_view() {
        return Err(Denied::Hidden);
    }
    // Each action needs one role on one environment, and says what it was for.
    let (environment_id, role, missing) = match action {
        Action::ViewProject => return Ok(()),
        Action::ManageProjects if access.is_admin => return Ok(()),
        Action::ManageProjects => {
            return Err(Denied::Missing(
                "Only administrators manage projects and their pipelines.".to_owned(),
            ));
        }
        Action::Deploy {
            environment_id,
            environment,
        } => (
            environment_id,
            Role::Deployer,
            format!("You need the deployer role on {environment} to deploy there."),
        ),
        Action::Approve {
            environment_id,
            environment,
        } => (
            environment_id,
            Role::Approver,
            format!("You need the approver role on {environment} to approve deployments there."),
        ),
        Action::CreateRelease {
            first_environment_id,
            environment,
        } => (
            first_environment_id,
            Role::Deployer,
            format!("You need the deployer role on {environment} to create releases."),
        ),
        Action::DeleteRelease {
            first_environment_id,
            environment,
        } => (
            first_environment_id,
            Role::Deployer,
            format!("You need the deployer role on {environment} to delete its releases."),
        ),
    };
    if access.has(*environment_id, role) {
        Ok(())
    } else {
        Err(Denied::Missing(missing))
    }
}

/// Checks `action` in `project_id` for `actor`, recording a refusal in the
/// audit trail. Returns the access for further decisions on the page.
pub fn authorize(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: ProjectId,
    action: Action<'_>,
) -> Result<ProjectAccess, AccessError> {
    let access = project_access(conn, actor, project_id)?;
    enforce(conn, actor, project_id, access, action)
}

/// [`authorize`] with `access` already loaded (with the project, by
/// `projects::open`): checks `action`, recording a refusal.
pub fn enforce(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: ProjectId,
    access: ProjectAccess,
    action: Action<'_>,
) -> Result<ProjectAccess, AccessError> {
    match check(&access, &action) {
        Ok(()) => Ok(access),
        Err(denied) => {
            audit::record(
                conn,
                actor,
                Event::new("access.denied", "project", project_id)
                    .in_project(project_id)
                    .details(
                        json!({ "action": format!("{action:?}"), "reason": denied.to_string() }),
                    ),
            )?;
            Err(AccessError::Denied(denied))
        }
    }
}

/// Admin-only actions outside any project.
pub fn require_admin(
    conn: &mut PgConnection,
    actor: &Actor,
    what: &str,
) -> Result<(), AccessError> {
    if actor.is_admin {
        return Ok(());
    }
    audit::record(
        conn,
        actor,
        Event::new("access.denied", "admin", what)
            .details(json!({ "reason": "not an administrator" })),
    )?;
    Err(AccessError::Denied(Denied::Missing(format!(
        "Only administrators may {what}."
    ))))
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Denied(Denied),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(is_admin: bool, grants: &[(EnvironmentId, Role)]) -> ProjectAccess {
        ProjectAccess::from_grants(is_admin, grants)
    }

    const DEPLOY_QA: Action<'static> = Action::Deploy {
        environment_id: EnvironmentId(2),
        environment: "QA",
    };

    #[test]
    fn nothing_is_allowed_without_a_grant_and_the_project_stays_hidden() {
        let none = access(false, &[]);
        assert!(matches!(
            check(&none, &Action::ViewProject),
            Err(Denied::Hidden)
        ));
        assert!(matches!(check(&none, &DEPLOY_QA), Err(Denied::Hidden)));
    }

    #[test]
    fn a_viewer_sees_but_may_not_deploy_and_is_told_what_is_missing() {
        let viewer = access(false, &[(EnvironmentId(2), Role::Viewer)]);
        assert!(check(&viewer, &Action::ViewProject).is_ok());
        let Err(Denied::Missing(message)) = check(&viewer, &DEPLOY_QA) else {
            panic!("expected a refusal");
        };
        assert_eq!(message, "You need the deployer role on QA to deploy there.");
    }

    #[test]
    fn deployer_rights_are_per_environment() {
        let deployer = access(false, &[(EnvironmentId(1), Role::Deployer)]);
        assert!(
            check(
                &deployer,
                &Action::Deploy {
                    environment_id: EnvironmentId(1),
                    environment: "Dev"
                }
            )
            .is_ok()
        );
        assert!(check(&deployer, &DEPLOY_QA).is_err());
        assert!(
            check(
                &deployer,
                &Action::DeleteRelease {
                    first_environment_id: EnvironmentId(1),
                    environment: "Dev"
                }
            )
            .is_ok()
        );
        assert!(check(&deployer, &Action::ManageProjects).is_err());
    }

    #[test]
    fn admins_hold_every_right() {
        let admin = access(true, &[]);
        assert!(check(&admin, &DEPLOY_QA).is_ok());
        assert!(check(&admin, &Action::ManageProjects).is_ok());
    }
}
