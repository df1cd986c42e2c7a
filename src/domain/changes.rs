//! "What changes": what deploying release `to` brings to an environment
//! where release `from` stands — the releases in between with their notes,
//! artifacts added, removed and changed, and for that environment the
//! variables and steps each release's snapshot carries. Secret values are
//! never read: a secret is "changed" when its sealed value differs.

use std::collections::BTreeMap;

use diesel::prelude::*;

use super::checks::Check;
use super::ids::EnvironmentId;
use super::releases::{Artifact, Release, Snapshot};
use super::steps::Step;
use super::variables::{self, Variable};
use crate::db::schema::{release_artifacts, releases};

/// A release whose notes go out with the promotion.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Note {
    pub version: String,
    pub title: String,
    pub description: String,
}

/// How one named thing differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    Added(T),
    Removed(T),
    Changed { before: T, after: T },
}

impl<T> Change<T> {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Added(_) => "added",
            Self::Removed(_) => "removed",
            Self::Changed { .. } => "changed",
        }
    }

    /// The same change of what `f` makes of each side.
    pub fn map<U>(self, f: impl Fn(T) -> U) -> Change<U> {
        match self {
            Self::Added(t) => Change::Added(f(t)),
            Self::Removed(t) => Change::Removed(f(t)),
            Self::Changed { before, after } => Change::Changed {
                before: f(before),
                after: f(after),
            },
        }
    }

    /// The state it ends in (the one before, for a removal).
    pub fn subject(&self) -> &T {
        match self {
            Self::Added(t) | Self::Removed(t) | Self::Changed { after: t, .. } => t,
        }
    }
}

/// A variable as a comparison shows it: the value only when not secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableValue {
    pub name: String,
    pub secret: bool,
    /// `None` for a secret: its value is never shown.
    pub shown: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Newest first, at most `NOTES_SHOWN`; `more_notes` says if more.
    pub notes: Vec<Note>,
    pub more_notes: bool,
    /// `from` is newer than `to`: a rollback, whose notes are what is
    /// taken back out.
    pub backwards: bool,
    pub artifacts: Vec<Change<Artifact>>,
    pub variables: Vec<Change<VariableValue>>,
    pub steps: Vec<Change<Step>>,
    pub checks: Vec<Change<Check>>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.artifacts.is_empty()
            && self.variables.is_empty()
            && self.steps.is_empty()
            && self.checks.is_empty()
    }
}

/// Release notes listed before "and N more".
pub const NOTES_SHOWN: i64 = 20;

/// What going from `from` (what stands there; `None`: nothing yet) to
/// `to` changes in `environment_id`.
pub fn compare(
    conn: &mut PgConnection,
    from: Option<&Release>,
    to: &Release,
    environment_id: EnvironmentId,
) -> QueryResult<Changes> {
    let backwards = from.is_some_and(|f| (f.created_at, f.id) > (to.created_at, to.id));
    let (notes, more_notes) = notes_between(conn, from, to, backwards)?;
    let ids: Vec<_> = from.iter().map(|r| r.id).chain([to.id]).collect();
    let mut artifacts: Vec<(super::ids::ReleaseId, Artifact)> = release_artifacts::table
        .filter(release_artifacts::release_id.eq_any(&ids))
        .order(release_artifacts::position.asc())
        .select((release_artifacts::release_id, Artifact::as_select()))
        .load(conn)?;
    let after: Vec<Artifact> = artifacts
        .iter()
        .filter(|(r, _)| *r == to.id)
        .map(|(_, a)| a.clone())
        .collect();
    let before: Vec<Artifact> = if from.is_some_and(|f| f.id == to.id) {
        after.clone()
    } else {
        artifacts.retain(|(r, _)| *r != to.id);
        artifacts.into_iter().map(|(_, a)| a).collect()
    };
    let (before_env, after_env) = (
        from.map(|f| in_environment(f, environment_id))
            .unwrap_or_default(),
        in_environment(to, environment_id),
    );
    Ok(Changes {
        notes,
        more_notes,
        backwards,
        artifacts: diff(
            by_name(before, |a| a.name.clone()),
            by_name(after, |a| a.name.clone()),
            |a, b| a.reference == b.reference && a.sha256 == b.sha256 && a.url == b.url,
        ),
        variables: diff(before_env.0, after_env.0, same_variable)
            .into_iter()
            .map(|change| change.map(shown))
            .collect(),
        steps: diff(
            by_name(before_env.1, step_key),
            by_name(after_env.1, step_key),
            |a, b| {
                (
                    &a.kind,
                    &a.script,
                    &a.url,
                    a.timeout_seconds,
                    a.retries,
                    a.position,
                ) == (
                    &b.kind,
                    &b.script,
                    &b.url,
                    b.timeout_seconds,
                    b.retries,
                    b.position,
                )
            },
        ),
        checks: diff(
            by_name(before_env.2, |c| c.name.clone()),
            by_name(after_env.2, |c| c.name.clone()),
            |a, b| {
                (
                    a.kind,
                    &a.url,
                    a.expect_status,
                    &a.expect_text,
                    &a.script,
                    a.interval_seconds,
                    a.within_seconds,
                ) == (
                    b.kind,
                    &b.url,
                    b.expect_status,
                    &b.expect_text,
                    &b.script,
                    b.interval_seconds,
                    b.within_seconds,
                )
            },
        ),
    })
}

fn step_key(step: &Step) -> String {
    step.name.clone()
}

/// The releases whose notes this promotion carries: after `from` up to
/// `to` (or, backwards, after `to` up to `from`: what a rollback takes
/// out), newest first, through `releases_project_created_idx`.
fn notes_between(
    conn: &mut PgConnection,
    from: Option<&Release>,
    to: &Release,
    backwards: bool,
) -> QueryResult<(Vec<Note>, bool)> {
    let (low, high) = match (from, backwards) {
        (Some(f), false) => (Some(f), to),
        (Some(f), true) => (Some(to), f),
        (None, _) => (None, to),
    };
    let mut query = releases::table
        .filter(releases::project_id.eq(to.project_id))
        .filter(releases::created_at.le(high.created_at))
        .filter(
            releases::created_at
                .lt(high.created_at)
                .or(releases::created_at
                    .eq(high.created_at)
                    .and(releases::id.le(high.id))),
        )
        .into_boxed();
    match low {
        Some(low) => {
            query = query.filter(
                releases::created_at
                    .gt(low.created_at)
                    .or(releases::created_at
                        .eq(low.created_at)
                        .and(releases::id.gt(low.id))),
            );
        }
        // Nothing there yet: the release itself is what goes out.
        None => query = query.filter(releases::id.eq(to.id)),
    }
    let mut notes: Vec<Note> = query
        .order((releases::created_at.desc(), releases::id.desc()))
        .select((releases::version, releases::title, releases::description))
        .limit(NOTES_SHOWN + 1)
        .load(conn)?;
    let more = notes.len() as i64 > NOTES_SHOWN;
    notes.truncate(NOTES_SHOWN as usize);
    Ok((notes, more))
}

/// The variables (effective: inherited and overridden as deployed), the
/// steps and the checks of `environment_id` in `release`'s snapshot.
fn in_environment(
    release: &Release,
    environment_id: EnvironmentId,
) -> (BTreeMap<String, Variable>, Vec<Step>, Vec<Check>) {
    let snapshot = Snapshot::of(release);
    let order = snapshot.order();
    let Some(index) = order.iter().position(|(id, _)| *id == environment_id) else {
        return Default::default();
    };
    let all: Vec<Variable> = snapshot
        .environments
        .iter()
        .flat_map(|e| e.variables.clone())
        .collect();
    let variables = variables::effective(&order, &all, index)
        .into_iter()
        .map(|e| (e.variable.name.clone(), e.variable))
        .collect();
    let here = &snapshot.environments[index];
    (variables, here.steps.clone(), here.checks.clone())
}

/// A variable compared as it is stored: a secret by its sealed value (a
/// secret set again, even to the same text, counts as changed).
fn same_variable(a: &Variable, b: &Variable) -> bool {
    a.secret == b.secret
        && if a.secret {
            a.encrypted == b.encrypted
        } else {
            a.value == b.value
        }
}

/// A variable as a comparison shows it: never a secret's value.
fn shown(v: Variable) -> VariableValue {
    VariableValue {
        shown: (!v.secret).then(|| v.value.unwrap_or_default()),
        name: v.name,
        secret: v.secret,
    }
}

fn by_name<T>(items: Vec<T>, key: impl Fn(&T) -> String) -> BTreeMap<String, T> {
    items.into_iter().map(|item| (key(&item), item)).collect()
}

/// Added, removed and changed entries, in name order.
fn diff<T: Clone>(
    before: BTreeMap<String, T>,
    after: BTreeMap<String, T>,
    same: impl Fn(&T, &T) -> bool,
) -> Vec<Change<T>> {
    let mut out = Vec::new();
    for (name, a) in &after {
        match before.get(name) {
            None => out.push(Change::Added(a.clone())),
            Some(b) if !same(b, a) => out.push(Change::Changed {
                before: b.clone(),
                after: a.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, b) in before {
        if !after.contains_key(&name) {
            out.push(Change::Removed(b));
        }
    }
    out
}
