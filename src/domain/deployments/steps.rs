//! The steps of one run: planned from the release's snapshot when it
//! starts, each moved through its states as the worker runs it.

use super::*;
use crate::domain::ids::DeploymentId;

/// Records the steps a run will take, all pending.
pub fn plan_steps(
    conn: &mut PgConnection,
    deployment_id: DeploymentId,
    steps: &[(String, StepKind, String)],
) -> QueryResult<()> {
    let rows: Vec<_> = steps
        .iter()
        .enumerate()
        .map(|(i, (name, kind, instructions))| {
            (
                deployment_steps::deployment_id.eq(deployment_id),
                deployment_steps::position.eq(i as i32),
                deployment_steps::name.eq(name.clone()),
                deployment_steps::kind.eq(*kind),
                deployment_steps::instructions.eq(instructions.clone()),
            )
        })
        .collect();
    if !rows.is_empty() {
        diesel::insert_into(deployment_steps::table)
            .values(rows)
            .execute(conn)?;
    }
    Ok(())
}

/// Moves one step to `status` (running stamps the start, others the end).
pub fn set_step(
    conn: &mut PgConnection,
    deployment_id: DeploymentId,
    position: i32,
    status: StepStatus,
    detail: &str,
) -> QueryResult<()> {
    let target = deployment_steps::table
        .filter(deployment_steps::deployment_id.eq(deployment_id))
        .filter(deployment_steps::position.eq(position));
    if status == StepStatus::Running {
        diesel::update(target)
            .set((
                deployment_steps::status.eq(status),
                deployment_steps::started_at.eq(Utc::now()),
            ))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set((
                deployment_steps::status.eq(status),
                deployment_steps::finished_at.eq(Utc::now()),
                deployment_steps::detail.eq(detail),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Closes whatever steps are still open: running ones get `status`,
/// pending ones are skipped.
pub fn close_steps(
    conn: &mut PgConnection,
    deployment_id: DeploymentId,
    status: StepStatus,
    detail: &str,
) -> QueryResult<()> {
    let open = deployment_steps::table.filter(deployment_steps::deployment_id.eq(deployment_id));
    diesel::update(open.filter(deployment_steps::status.eq(StepStatus::Running)))
        .set((
            deployment_steps::status.eq(status),
            deployment_steps::finished_at.eq(Utc::now()),
            deployment_steps::detail.eq(detail),
        ))
        .execute(conn)?;
    diesel::update(open.filter(deployment_steps::status.eq("pending")))
        .set(deployment_steps::status.eq("skipped"))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Deserialize)]
#[diesel(table_name = deployment_steps)]
pub struct StepRun {
    pub position: i32,
    pub name: String,
    pub kind: StepKind,
    pub status: StepStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub detail: String,
    /// A manual step's instructions to the person who decides it.
    #[serde(default)]
    pub instructions: String,
}

impl StepRun {
    /// A manual step the deployment waits at now.
    pub fn waits_for_person(&self) -> bool {
        self.kind == StepKind::Manual && self.status == StepStatus::Running
    }

    /// Seconds it took (so far, if still running).
    pub fn duration(&self) -> Option<String> {
        let start = self.started_at?;
        let end = self.finished_at.unwrap_or_else(Utc::now);
        #[allow(
            clippy::cast_precision_loss,
            reason = "a step's milliseconds fit f64's 52 bits"
        )]
        let secs = (end - start).num_milliseconds() as f64 / 1000.0;
        Some(if secs < 60.0 {
            format!("{secs:.1} s")
        } else {
            format!("{}m {:02}s", secs as i64 / 60, secs as i64 % 60)
        })
    }
}

pub fn step_runs(
    conn: &mut PgConnection,
    deployment_id: DeploymentId,
) -> QueryResult<Vec<StepRun>> {
    deployment_steps::table
        .filter(deployment_steps::deployment_id.eq(deployment_id))
        .order(deployment_steps::position.asc())
        .select(StepRun::as_select())
        .load(conn)
}
