//! One release across the pipeline: each environment with what the
//! release did there.

use super::*;
use crate::domain::ids::EnvironmentId;

/// A release in one environment of its timeline.
#[derive(Debug, Clone)]
pub struct TimelineStage {
    pub environment: Environment,
    pub label: Option<String>,
    /// The environment and label this one was promoted from.
    pub promoted_from: Option<(String, String)>,
    pub deployments: Vec<DeploymentView>,
    pub live: bool,
}

impl TimelineStage {
    pub fn latest(&self) -> Option<&DeploymentView> {
        self.deployments.last()
    }

    /// The newest deployment here as this page shows it (0: none): what a
    /// deploy form sends back, so a second send of it asks for nothing.
    pub fn seen(&self) -> i64 {
        self.latest().map_or(0, |d| d.id.0)
    }

    pub fn reached(&self) -> bool {
        self.label.is_some()
    }

    pub fn succeeded(&self) -> bool {
        self.deployments
            .iter()
            .any(|d| d.status == DeploymentStatus::Succeeded)
    }
}

/// The release across the pipeline: per environment its environment
/// release, the link it came from, and every attempt.
/// `facts` are the release's (`release_view::facts`); its attempts are
/// read here.
pub fn timeline(
    conn: &mut PgConnection,
    release: &Release,
    pipeline: &[Environment],
    facts: &ReleaseFacts,
) -> QueryResult<Vec<TimelineStage>> {
    let ers = &facts.environment_releases;
    let by_id: HashMap<i64, (EnvironmentId, String)> = ers
        .iter()
        .map(|er| (er.id, (er.environment_id, er.version_label.clone())))
        .collect();
    let env_names: HashMap<EnvironmentId, String> =
        pipeline.iter().map(|e| (e.id, e.name.clone())).collect();
    let mut history = deployments::for_release(conn, release.id)?;
    Ok(pipeline
        .iter()
        .map(|env| {
            let er = ers.iter().find(|er| er.environment_id == env.id);
            let promoted_from = er.and_then(|er| er.promoted_from).and_then(|from| {
                by_id.get(&from).map(|(env_id, label)| {
                    (
                        env_names.get(env_id).cloned().unwrap_or_default(),
                        label.clone(),
                    )
                })
            });
            let (mine, rest): (Vec<_>, Vec<_>) =
                history.drain(..).partition(|d| d.environment_id == env.id);
            history = rest;
            TimelineStage {
                environment: env.clone(),
                label: er.map(|er| er.version_label.clone()),
                promoted_from,
                deployments: mine,
                live: facts.now(env.id).and_then(|now| now.live_release_id) == Some(release.id),
            }
        })
        .collect())
}
