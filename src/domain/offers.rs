//! What the release page offers a user in each environment — deploy,
//! promote, redeploy, deploy again — or, where nothing is offered, why. A
//! pure function of the timeline and the user's rights: the server checks
//! the same rules again when a form is posted.

use super::access::{ProjectAccess, Role};
use super::blocks::Block;
use super::releases::{Release, TimelineStage};
use super::states::DeploymentStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// A deploy form, with its button's words and the label it proposes.
    Deploy {
        button: String,
        default_label: String,
        /// The label can be set only when the release first enters.
        label_editable: bool,
    },
    /// Not offered; the text says why.
    Why(String),
    /// Nothing to offer or explain (e.g. a stage further along).
    Nothing,
}

impl Offer {
    pub fn is_deploy(&self) -> bool {
        matches!(self, Self::Deploy { .. })
    }
}

/// One offer per stage of the timeline.
pub fn for_release(
    release: &Release,
    timeline: &[TimelineStage],
    access: &ProjectAccess,
    block: Option<&Block>,
) -> Vec<Offer> {
    timeline
        .iter()
        .enumerate()
        .map(|(k, stage)| {
            let env = &stage.environment;
            let entered_here = env.id == release.first_environment_id;
            if k > 0 && !entered_here && !timeline[k - 1].succeeded() {
                // Explain only at the next step, not for every stage beyond.
                return if timeline[k - 1].reached() {
                    Offer::Why(format!(
                        "Enters {} after it succeeds in {}.",
                        env.name,
                        timeline[k - 1].environment.name
                    ))
                } else {
                    Offer::Nothing
                };
            }
            if stage
                .deployments
                .iter()
                .any(crate::domain::deployments::DeploymentView::is_active)
            {
                return Offer::Nothing;
            }
            let previous_label = timeline[..k]
                .iter()
                .rev()
                .find_map(|s| s.label.clone())
                .unwrap_or_else(|| release.version.clone());
            let offer = match (stage.label.as_ref(), stage.latest().map(|d| d.status)) {
                (None, _) => Offer::Deploy {
                    button: if k == 0 || entered_here {
                        format!("Deploy to {}", env.name)
                    } else {
                        format!("Promote to {}", env.name)
                    },
                    default_label: previous_label,
                    label_editable: !entered_here,
                },
                (Some(label), None) => Offer::Deploy {
                    button: format!("Deploy to {}", env.name),
                    default_label: label.clone(),
                    label_editable: false,
                },
                (Some(_), Some(DeploymentStatus::Succeeded)) if stage.live => Offer::Nothing,
                (Some(label), Some(DeploymentStatus::Succeeded)) => Offer::Deploy {
                    button: format!("Deploy again to {}", env.name),
                    default_label: label.clone(),
                    label_editable: false,
                },
                (Some(label), Some(_)) => Offer::Deploy {
                    button: format!("Redeploy to {}", env.name),
                    default_label: label.clone(),
                    label_editable: false,
                },
            };
            // Say what is missing only where there is something to do.
            match offer {
                // Blocked: again only where it succeeded before.
                Offer::Deploy { .. } if block.is_some() && !stage.succeeded() => {
                    Offer::Why(format!(
                        "Blocked by {}: nothing new until it is unblocked.",
                        block.map_or("", |b| b.by.as_str())
                    ))
                }
                Offer::Deploy { .. } if !access.has(env.id, Role::Deployer) => {
                    Offer::Why(format!("Needs the deployer role on {}.", env.name))
                }
                other => other,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::domain::ids::{DeploymentId, EnvironmentId, ProjectId, ReleaseId};
    use chrono::Utc;

    use super::*;
    use crate::domain::deployments::DeploymentView;
    use crate::domain::environments::{Environment, QueuePolicy, Trigger};

    fn env(id: i64, name: &str) -> Environment {
        Environment {
            id: EnvironmentId(id),
            project_id: ProjectId(1),
            slug: name.to_lowercase(),
            name: name.to_owned(),
            position: id as i32,
            url: None,
            created_at: Utc::now(),
            trigger: Trigger::Manual,
            max_running: 1,
            queue_policy: QueuePolicy::All,
            required_approvals: 0,
            allow_self_approval: false,
            approval_timeout_hours: 168,
            window_days: Vec::new(),
            window_start: None,
            window_end: None,
            window_time_zone: "UTC".to_owned(),
            schedule_days: Vec::new(),
            schedule_time: None,
            schedule_time_zone: "UTC".to_owned(),
            schedule_checked_at: None,
            supersede: false,
            rollback_on_failed_verification: false,
            soak_minutes: 0,
        }
    }

    fn attempt(env: i64, status: &str) -> DeploymentView {
        let status = DeploymentStatus::parse(status).expect("a deployment status");
        DeploymentView {
            id: DeploymentId(1),
            release_id: ReleaseId(1),
            version: "1.0.0".to_owned(),
            label: "1.0.0".to_owned(),
            environment_id: EnvironmentId(env),
            attempt: 1,
            status,
            is_rollback: false,
            comment: String::new(),
            requested_by: None,
            requested_by_id: None,
            cause: crate::domain::states::Cause::Person,
            created_at: Utc::now(),
            finished_at: None,
            note: String::new(),
            not_before: None,
            is_override: false,
            target_environment_id: None,
            superseded_by: None,
            verifying: false,
        }
    }

    fn stage(
        id: i64,
        name: &str,
        label: Option<&str>,
        statuses: &[&str],
        live: bool,
    ) -> TimelineStage {
        TimelineStage {
            environment: env(id, name),
            label: label.map(str::to_owned),
            promoted_from: None,
            deployments: statuses.iter().map(|s| attempt(id, s)).collect(),
            live,
        }
    }

    fn release() -> Release {
        Release {
            id: ReleaseId(1),
            project_id: ProjectId(1),
            version: "1.0.0".to_owned(),
            title: "t".to_owned(),
            description: String::new(),
            snapshot: serde_json::Value::Null,
            created_by: None,
            created_at: Utc::now(),
            first_environment_id: EnvironmentId(0),
        }
    }

    #[test]
    fn after_success_in_development_qa_is_offered_and_staging_is_explained_nowhere() {
        let timeline = [
            stage(0, "Development", Some("1.0.0"), &["succeeded"], true),
            stage(1, "QA", None, &[], false),
            stage(2, "Staging", None, &[], false),
        ];
        let offers = for_release(
            &release(),
            &timeline,
            &ProjectAccess::from_grants(true, &[]),
            None,
        );
        assert_eq!(offers[0], Offer::Nothing, "already live there");
        assert!(
            matches!(&offers[1], Offer::Deploy { button, label_editable: true, .. } if button == "Promote to QA")
        );
        assert_eq!(offers[2], Offer::Nothing);
    }

    #[test]
    fn the_next_step_explains_what_it_waits_for_and_failures_offer_a_redeploy() {
        let timeline = [
            stage(0, "Development", Some("1.0.0"), &["failed"], false),
            stage(1, "QA", None, &[], false),
        ];
        let offers = for_release(
            &release(),
            &timeline,
            &ProjectAccess::from_grants(true, &[]),
            None,
        );
        assert!(
            matches!(&offers[0], Offer::Deploy { button, .. } if button == "Redeploy to Development")
        );
        assert_eq!(
            offers[1],
            Offer::Why("Enters QA after it succeeds in Development.".to_owned())
        );
    }

    #[test]
    fn without_the_deployer_role_the_page_says_so() {
        let timeline = [
            stage(0, "Development", Some("1.0.0"), &["succeeded"], true),
            stage(1, "QA", None, &[], false),
        ];
        let viewer = ProjectAccess::from_grants(false, &[(EnvironmentId(1), Role::Viewer)]);
        let offers = for_release(&release(), &timeline, &viewer, None);
        assert_eq!(
            offers[1],
            Offer::Why("Needs the deployer role on QA.".to_owned())
        );
    }

    #[test]
    fn nothing_is_offered_while_a_deployment_is_active() {
        let timeline = [stage(
            0,
            "Development",
            Some("1.0.0"),
            &["failed", "running"],
            false,
        )];
        let offers = for_release(
            &release(),
            &timeline,
            &ProjectAccess::from_grants(true, &[]),
            None,
        );
        assert_eq!(offers[0], Offer::Nothing);
    }

    #[test]
    fn a_missing_role_is_mentioned_only_where_there_is_something_to_do() {
        let timeline = [
            stage(0, "Development", Some("1.0.0"), &["succeeded"], true),
            stage(1, "QA", None, &[], false),
        ];
        let none = ProjectAccess::from_grants(false, &[(EnvironmentId(1), Role::Viewer)]);
        let offers = for_release(&release(), &timeline, &none, None);
        assert_eq!(
            offers[0],
            Offer::Nothing,
            "already live: nothing to explain"
        );
        assert!(matches!(&offers[1], Offer::Why(_)));
    }
}
