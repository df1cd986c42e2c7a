//! An environment's variables (its configuration profile). An environment
//! inherits the previous environment's values unless it sets its own.
//! Secret values are write-only: stored encrypted, never shown again.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::environments::Environment;
use super::secrets::{MASK, SecretBox};
use super::validation::{self, FieldErrors};
use crate::db::schema::variables;
use crate::domain::ids::EnvironmentId;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = variables)]
pub struct Variable {
    pub id: i64,
    pub environment_id: EnvironmentId,
    pub name: String,
    pub secret: bool,
    pub value: Option<String>,
    /// Nonce and ciphertext of a secret (hex in snapshots).
    #[serde(with = "hex_bytes")]
    pub encrypted: Option<Vec<u8>>,
    #[serde(skip, default = "chrono::Utc::now")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(
        clippy::ref_option,
        reason = "serde's `serialize_with` passes a reference"
    )]
    pub fn serialize<S: Serializer>(value: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => s.serialize_some(&hex::encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| hex::decode(t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl Variable {
    /// The value as pages show it: secrets masked.
    pub fn shown(&self) -> &str {
        if self.secret {
            MASK
        } else {
            self.value.as_deref().unwrap_or("")
        }
    }
}

pub fn list(conn: &mut PgConnection, environment_id: EnvironmentId) -> QueryResult<Vec<Variable>> {
    variables::table
        .filter(variables::environment_id.eq(environment_id))
        .order(variables::name.asc())
        .select(Variable::as_select())
        .load(conn)
}

pub fn for_environments(
    conn: &mut PgConnection,
    ids: &[EnvironmentId],
) -> QueryResult<Vec<Variable>> {
    variables::table
        .filter(variables::environment_id.eq_any(ids.to_vec()))
        .order((variables::environment_id, variables::name))
        .select(Variable::as_select())
        .load(conn)
}

/// A variable as it applies in one environment, and where it comes from.
#[derive(Debug, Clone)]
pub struct Effective {
    pub variable: Variable,
    /// The environment that sets it.
    pub source: String,
    /// Set here, not inherited.
    pub own: bool,
    /// Set here and also by an earlier environment.
    pub overrides: bool,
}

/// The variables of the `index`th environment of `pipeline` (id, name in
/// order): each earlier environment's, overridden by later ones, by name.
pub fn effective(
    pipeline: &[(EnvironmentId, String)],
    all: &[Variable],
    index: usize,
) -> Vec<Effective> {
    let mut by_name: std::collections::BTreeMap<String, Effective> =
        std::collections::BTreeMap::new();
    for (k, (env_id, env_name)) in pipeline.iter().enumerate().take(index + 1) {
        for variable in all.iter().filter(|v| v.environment_id == *env_id) {
            let earlier = by_name.contains_key(&variable.name);
            by_name.insert(
                variable.name.clone(),
                Effective {
                    variable: variable.clone(),
                    source: env_name.clone(),
                    own: k == index,
                    overrides: k == index && earlier,
                },
            );
        }
    }
    by_name.into_values().collect()
}

#[derive(Debug, Clone, Default)]
pub struct VariableInput {
    pub name: String,
    pub value: String,
    pub secret: bool,
}

/// How this area says no (see `rejection`).
pub type VariableError = crate::domain::rejection::Rejection;

pub const MAX_NAME_CHARS: usize = 128;
pub const MAX_VALUE_CHARS: usize = 10_000;

fn name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= MAX_NAME_CHARS
}

/// Sets (creates or replaces) a variable. A secret is sealed before it
/// reaches the database; the audit event never carries a value of one.
pub fn set(
    conn: &mut PgConnection,
    actor: &Actor,
    secrets: &SecretBox,
    environment: &Environment,
    input: &VariableInput,
) -> Result<Variable, VariableError> {
    let mut errors = FieldErrors::new();
    let name = input.name.trim();
    if !name_ok(name) {
        errors.add(
            "name",
            "Use letters, digits and _, starting with a letter or _ (like DATABASE_URL).",
        );
    } else if name.starts_with("STAGECOACH_") {
        errors.add(
            "name",
            "Names starting with STAGECOACH_ are set by Stagecoach itself.",
        );
    }
    // Values reach scripts as environment variables: a process cannot be
    // given NUL (every deployment would fail to start), so refuse it here,
    // where it would be stored, secret or not.
    if input.value.contains('\0') {
        errors.add(
            "value",
            "Remove the NUL character: a value passed to a process cannot hold one.",
        );
    } else if let Some(problem) = validation::text_problem(&input.value, MAX_VALUE_CHARS) {
        errors.add("value", problem);
    }
    if input.secret && input.value.is_empty() {
        errors.add("value", "Enter the secret value.");
    }
    errors.into_result().map_err(VariableError::Invalid)?;
    let (value, encrypted) = if input.secret {
        (None, Some(secrets.seal(name, &input.value)))
    } else {
        (Some(input.value.clone()), None)
    };
    conn.transaction(|conn| {
        let variable = diesel::insert_into(variables::table)
            .values((
                variables::environment_id.eq(environment.id),
                variables::name.eq(name),
                variables::secret.eq(input.secret),
                variables::value.eq(&value),
                variables::encrypted.eq(&encrypted),
            ))
            .on_conflict((variables::environment_id, variables::name))
            .do_update()
            .set((
                variables::secret.eq(input.secret),
                variables::value.eq(&value),
                variables::encrypted.eq(&encrypted),
                variables::updated_at.eq(chrono::Utc::now()),
            ))
            .returning(Variable::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("variable.set", "environment", environment.id)
                .in_project(environment.project_id)
                .details(json!({
                    "environment": environment.name,
                    "name": name,
                    "value": if input.secret { MASK.to_owned() } else { input.value.clone() },
                    "secret": input.secret,
                })),
        )?;
        Ok(variable)
    })
}

pub fn remove(
    conn: &mut PgConnection,
    actor: &Actor,
    environment: &Environment,
    variable_id: i64,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        let name: String = diesel::delete(
            variables::table
                .filter(variables::id.eq(variable_id))
                .filter(variables::environment_id.eq(environment.id)),
        )
        .returning(variables::name)
        .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("variable.removed", "environment", environment.id)
                .in_project(environment.project_id)
                .details(json!({ "environment": environment.name, "name": name })),
        )
    })
}
