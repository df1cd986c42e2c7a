use askama::Template;
use askama_web::WebTemplate;

use super::PageCtx;
use crate::domain::environments::Environment;
use crate::domain::ids::{EnvironmentId, ProjectId};
use crate::domain::projects::Project;
use crate::domain::validation::FieldErrors;

#[derive(Template, WebTemplate)]
#[template(path = "admin/projects.html")]
pub struct ProjectsPage {
    pub page: PageCtx,
    pub projects: Vec<Project>,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub errors: FieldErrors,
}

/// The values and errors of one environment's form, kept when it fails.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentForm {
    pub name: String,
    pub url: String,
    pub trigger: String,
    pub errors: FieldErrors,
}

pub struct EnvironmentRow {
    pub environment: Environment,
    pub form: EnvironmentForm,
    pub is_first: bool,
    pub is_last: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/pipeline.html")]
pub struct PipelinePage {
    pub page: PageCtx,
    pub project: Project,
    pub rows: Vec<EnvironmentRow>,
    pub new_environment: EnvironmentForm,
}

use std::collections::HashMap;

use crate::domain::audit::AuditEvent;
use crate::domain::grants::GrantView;
use crate::domain::teams::{Member, Team, TeamSummary};
use crate::domain::users::User;

#[derive(Template, WebTemplate)]
#[template(path = "admin/users.html")]
pub struct UsersPage {
    pub page: PageCtx,
    pub users: Vec<User>,
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    pub is_service: bool,
    pub errors: FieldErrors,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/user.html")]
pub struct UserPage {
    pub page: PageCtx,
    pub user: User,
    pub teams: Vec<Team>,
    pub sessions: i64,
    pub errors: FieldErrors,
    /// A service account's tokens, with the form to make one.
    pub tokens: Option<super::tokens::TokenPanel>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/teams.html")]
pub struct TeamsPage {
    pub page: PageCtx,
    pub teams: Vec<TeamSummary>,
    pub name: String,
    pub errors: FieldErrors,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/team.html")]
pub struct TeamPage {
    pub page: PageCtx,
    pub team: Team,
    pub members: Vec<Member>,
    pub name: String,
    pub username: String,
    pub errors: FieldErrors,
}

/// Someone a grant can be given to, for the access page's choices.
pub struct HolderChoice {
    pub value: String,
    pub label: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/access.html")]
pub struct AccessPage {
    pub page: PageCtx,
    pub project: Project,
    pub pipeline: Vec<Environment>,
    pub grants: Vec<GrantView>,
    pub holders: Vec<HolderChoice>,
    pub roles: [&'static str; 3],
}

impl AccessPage {
    pub fn holders_of(&self, environment_id: &EnvironmentId, role: &str) -> Vec<&GrantView> {
        self.grants
            .iter()
            .filter(|g| g.environment_id == *environment_id && g.role.as_str() == role)
            .collect()
    }
}

/// The audit log's filter, as typed, to show again and to build links.
#[derive(Debug, Clone, Default)]
pub struct AuditFilterForm {
    pub project: String,
    pub actor: String,
    pub action: String,
    pub from: String,
    pub to: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/audit.html")]
pub struct AuditPage {
    pub page: PageCtx,
    pub events: Vec<AuditEvent>,
    pub filter: AuditFilterForm,
    pub projects: Vec<Project>,
    pub actions: Vec<String>,
    /// Query string of the current filter, for the CSV link and pager.
    pub filter_query: String,
    pub next_page: Option<String>,
    pub is_first_page: bool,
    pub project_slugs: HashMap<ProjectId, String>,
    pub errors: FieldErrors,
}

impl AuditPage {
    pub fn object_link(&self, event: &AuditEvent) -> Option<String> {
        object_link(event, &self.project_slugs)
    }
}

/// Where an audit event's object can be seen, if anywhere.
pub fn object_link(
    event: &AuditEvent,
    project_slugs: &HashMap<ProjectId, String>,
) -> Option<String> {
    let id = event.object_id.as_deref()?;
    let slug = event.project_id.and_then(|p| project_slugs.get(&p));
    match (event.object_type.as_str(), slug) {
        ("project", Some(slug)) => Some(format!("/projects/{slug}")),
        ("release", Some(slug)) if event.action != "release.deleted" => {
            Some(format!("/projects/{slug}/releases/{id}"))
        }
        ("environment", Some(slug)) => Some(format!("/admin/projects/{slug}")),
        ("user", _) if id.parse::<i64>().is_ok() => Some(format!("/admin/users/{id}")),
        ("team", _) if event.action != "team.deleted" => Some(format!("/admin/teams/{id}")),
        _ => None,
    }
}

use crate::domain::steps::Step;
use crate::domain::variables::{Effective, Variable};

/// One step's edit form, with what was typed when it failed.
pub struct StepRow {
    pub step: Step,
    pub form: StepForm,
}

#[derive(Debug, Clone, Default)]
pub struct StepForm {
    pub kind: String,
    pub name: String,
    pub script: String,
    pub url: String,
    pub timeout_seconds: String,
    pub errors: FieldErrors,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/environment.html")]
pub struct EnvironmentSettingsPage {
    pub page: PageCtx,
    pub project: Project,
    pub environment: Environment,
    pub policy: crate::domain::environments::PolicyInput,
    pub policy_errors: FieldErrors,
    pub steps: Vec<StepRow>,
    pub new_step: StepForm,
    pub checks: Vec<crate::domain::checks::Check>,
    pub new_check: crate::domain::checks::CheckInput,
    pub check_errors: FieldErrors,
    pub own_variables: Vec<Variable>,
    pub effective: Vec<Effective>,
    pub variable_name: String,
    pub variable_value: String,
    pub variable_secret: bool,
    pub variable_errors: FieldErrors,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/retention.html")]
pub struct RetentionPage {
    pub page: PageCtx,
    pub project: Project,
    pub days: String,
    pub keep: String,
    pub errors: FieldErrors,
    /// What the next sweep would remove.
    pub candidates: Vec<crate::domain::releases::Release>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/freezes.html")]
pub struct FreezesPage {
    pub page: PageCtx,
    pub project: Project,
    pub pipeline: Vec<Environment>,
    pub freezes: Vec<crate::domain::freezes::Freeze>,
    pub form: crate::domain::freezes::FreezeInput,
    pub errors: FieldErrors,
}

impl FreezesPage {
    pub fn scope(&self, freeze: &crate::domain::freezes::Freeze) -> String {
        freeze
            .environment_id
            .and_then(|id| self.pipeline.iter().find(|e| e.id == id))
            .map_or_else(|| "whole project".to_owned(), |e| e.name.clone())
    }

    pub fn has_day(&self, day: &i16) -> bool {
        self.form.days.iter().any(|d| d == &day.to_string())
    }
}

use crate::domain::webhooks::{AttemptRow, Delivery, Subscription, SubscriptionInput};

#[derive(Template, WebTemplate)]
#[template(path = "admin/webhooks.html")]
pub struct WebhooksPage {
    pub page: PageCtx,
    pub project: Project,
    pub subscriptions: Vec<Subscription>,
    pub form: SubscriptionInput,
    pub errors: FieldErrors,
}

impl WebhooksPage {
    pub fn events(&self) -> &'static [(&'static str, &'static str)] {
        &crate::domain::webhooks::EVENTS
    }

    pub fn chosen(&self, event: &&str) -> bool {
        self.form.events.iter().any(|e| e == event)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/webhook.html")]
pub struct WebhookPage {
    pub page: PageCtx,
    pub project: Project,
    pub subscription: Subscription,
    pub secret: String,
    pub deliveries: Vec<(Delivery, Vec<AttemptRow>)>,
}
