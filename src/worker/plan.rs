//! What a deployment will run, read from its release's snapshot: the steps
//! and variables the target environment had when the release was created,
//! with secrets opened for the run and listed for masking.

use diesel::prelude::*;

use crate::db::schema::{environment_releases, projects, releases};
use crate::domain::checks::Check;
use crate::domain::deployments::Deployment;
use crate::domain::ids::DeploymentId;
use crate::domain::releases::{self as release_domain, Artifact, Release, Snapshot};
use crate::domain::secrets::SecretBox;
use crate::domain::steps::Step;
use crate::domain::variables;

#[derive(Debug, Clone)]
pub struct Plan {
    pub deployment_id: DeploymentId,
    pub project: String,
    pub environment: String,
    pub version: String,
    pub label: String,
    pub artifacts: Vec<Artifact>,
    pub steps: Vec<Step>,
    /// Run after the steps succeed, until all pass together.
    pub checks: Vec<Check>,
    /// Name and value of each variable, secrets opened.
    pub variables: Vec<(String, String)>,
    /// Secret values, for masking every line of output.
    pub secrets: Vec<String>,
    /// Said in the log before the first step (e.g. an environment missing
    /// from the snapshot).
    pub notes: Vec<String>,
}

pub fn load(
    conn: &mut PgConnection,
    deployment: &Deployment,
    secret_box: &SecretBox,
) -> anyhow::Result<Plan> {
    // The release, its project's slug and the label here, in one query.
    let (release, project, label): (Release, String, String) = environment_releases::table
        .find(deployment.environment_release_id)
        .inner_join(releases::table.inner_join(projects::table))
        .filter(releases::id.eq(deployment.release_id))
        .select((
            Release::as_select(),
            projects::slug,
            environment_releases::version_label,
        ))
        .first(conn)?;
    let snapshot = Snapshot::of(&release);
    let order = snapshot.order();
    let mut notes = Vec::new();
    let (environment, steps, checks, vars) = match snapshot
        .environments
        .iter()
        .position(|e| e.id == deployment.environment_id)
    {
        Some(index) => {
            let env = &snapshot.environments[index];
            let all: Vec<_> = snapshot
                .environments
                .iter()
                .flat_map(|e| e.variables.clone())
                .collect();
            let effective = variables::effective(&order, &all, index);
            (
                env.name.clone(),
                env.steps.clone(),
                env.checks.clone(),
                effective,
            )
        }
        None => {
            let name: String = crate::db::schema::environments::table
                .find(deployment.environment_id)
                .select(crate::db::schema::environments::name)
                .first(conn)?;
            notes.push(format!(
                "{name} was added after release {} was created, so the release has no steps for it.",
                release.version
            ));
            (name, Vec::new(), Vec::new(), Vec::new())
        }
    };
    // Only steps see the artifacts: a run with none need not read them.
    let artifacts = if steps.is_empty() {
        Vec::new()
    } else {
        release_domain::artifacts(conn, release.id)?
    };
    let mut variables = Vec::new();
    let mut secrets = Vec::new();
    for e in vars {
        let v = e.variable;
        let value = if v.secret {
            let sealed = v.encrypted.as_deref().unwrap_or_default();
            let opened = secret_box.open(&v.name, sealed)?;
            secrets.push(opened.clone());
            opened
        } else {
            v.value.unwrap_or_default()
        };
        variables.push((v.name, value));
    }
    Ok(Plan {
        deployment_id: deployment.id,
        project,
        environment,
        version: release.version,
        label,
        artifacts,
        steps,
        checks,
        variables,
        secrets,
        notes,
    })
}

impl Plan {
    /// The environment a script runs with: Stagecoach's values, the
    /// artifacts, then the environment's variables.
    pub fn script_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("STAGECOACH_PROJECT".to_owned(), self.project.clone()),
            (
                "STAGECOACH_ENVIRONMENT".to_owned(),
                self.environment.clone(),
            ),
            (
                "STAGECOACH_RELEASE_VERSION".to_owned(),
                self.version.clone(),
            ),
            ("STAGECOACH_VERSION_LABEL".to_owned(), self.label.clone()),
            (
                "STAGECOACH_DEPLOYMENT_ID".to_owned(),
                self.deployment_id.to_string(),
            ),
            (
                "STAGECOACH_ARTIFACTS".to_owned(),
                self.artifacts_json().to_string(),
            ),
        ];
        for (i, a) in self.artifacts.iter().enumerate() {
            env.push((format!("STAGECOACH_ARTIFACT_{i}_NAME"), a.name.clone()));
            env.push((
                format!("STAGECOACH_ARTIFACT_{i}_REFERENCE"),
                a.reference.clone(),
            ));
            env.push((
                format!("STAGECOACH_ARTIFACT_{i}_URL"),
                a.url.clone().unwrap_or_default(),
            ));
            env.push((
                format!("STAGECOACH_ARTIFACT_{i}_SHA256"),
                a.sha256.clone().unwrap_or_default(),
            ));
        }
        env.extend(self.variables.iter().cloned());
        env
    }

    fn artifacts_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.artifacts
                .iter()
                .map(|a| serde_json::json!({ "name": a.name, "reference": a.reference, "url": a.url, "sha256": a.sha256 }))
                .collect(),
        )
    }

    /// What a webhook is sent. Secret values are never sent in it.
    pub fn webhook_body(&self) -> serde_json::Value {
        let secret_names: Vec<&str> = self
            .variables
            .iter()
            .filter(|(_, value)| self.secrets.contains(value))
            .map(|(name, _)| name.as_str())
            .collect();
        serde_json::json!({
            "deployment_id": self.deployment_id,
            "project": self.project,
            "environment": self.environment,
            "release_version": self.version,
            "version_label": self.label,
            "artifacts": self.artifacts_json(),
            "variables": self.variables.iter()
                .filter(|(name, _)| !secret_names.contains(&name.as_str()))
                .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
                .collect::<serde_json::Map<_, _>>(),
        })
    }
}
