//! An environment's verification checks, edited by admins: after a
//! deployment's steps succeed, its checks run until all pass together or
//! one has failed for longer than it may (the worker's `verify`). Like
//! steps, releases run the checks of their snapshot, so edits here change
//! only releases created afterwards. Checks run side by side, so their
//! order is only the order they are listed in.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::{self, Actor, Event};
use super::environments::Environment;
pub use super::states::CheckKind;
use super::validation::{self, FieldErrors};
use crate::db::schema::{checks, environments};
use crate::domain::ids::EnvironmentId;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize, PartialEq, Eq)]
#[diesel(table_name = checks)]
pub struct Check {
    pub id: i64,
    pub environment_id: EnvironmentId,
    pub position: i32,
    pub kind: CheckKind,
    pub name: String,
    pub url: Option<String>,
    pub expect_status: i32,
    pub expect_text: String,
    pub script: String,
    pub interval_seconds: i32,
    pub within_seconds: i32,
}

impl Check {
    /// What it asks, in a few words, for pages and the log.
    pub fn summary(&self) -> String {
        match self.kind {
            CheckKind::Http => {
                let text = if self.expect_text.is_empty() {
                    String::new()
                } else {
                    format!(" containing “{}”", self.expect_text)
                };
                format!(
                    "GET {} answers {}{text}",
                    self.url.as_deref().unwrap_or_default(),
                    self.expect_status
                )
            }
            CheckKind::Script => "the script exits 0".to_owned(),
        }
    }

    /// When it runs, in words: "every 10 s for up to 300 s".
    pub fn timing(&self) -> String {
        format!(
            "every {} s for up to {} s",
            self.interval_seconds, self.within_seconds
        )
    }
}

pub const DEFAULT_INTERVAL_SECONDS: i32 = 10;
pub const DEFAULT_WITHIN_SECONDS: i32 = 300;
pub const MAX_EXPECT_TEXT_CHARS: usize = 1000;

pub fn list(conn: &mut PgConnection, environment_id: EnvironmentId) -> QueryResult<Vec<Check>> {
    checks::table
        .filter(checks::environment_id.eq(environment_id))
        .order(checks::position.asc())
        .select(Check::as_select())
        .load(conn)
}

/// Every check of several environments, by environment and position.
pub fn for_environments(conn: &mut PgConnection, ids: &[EnvironmentId]) -> QueryResult<Vec<Check>> {
    checks::table
        .filter(checks::environment_id.eq_any(ids.to_vec()))
        .order((checks::environment_id, checks::position))
        .select(Check::as_select())
        .load(conn)
}

/// The check form as typed.
#[derive(Debug, Clone, Default)]
pub struct CheckInput {
    pub kind: String,
    pub name: String,
    pub url: String,
    pub expect_status: String,
    pub expect_text: String,
    pub script: String,
    pub interval_seconds: String,
    pub within_seconds: String,
}

impl CheckInput {
    /// An empty form with the usual timing.
    pub fn blank() -> Self {
        Self {
            kind: "http".to_owned(),
            expect_status: "200".to_owned(),
            interval_seconds: DEFAULT_INTERVAL_SECONDS.to_string(),
            within_seconds: DEFAULT_WITHIN_SECONDS.to_string(),
            ..Self::default()
        }
    }
}

/// A check as it will be stored, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Valid {
    kind: CheckKind,
    name: String,
    url: Option<String>,
    expect_status: i32,
    expect_text: String,
    script: String,
    interval_seconds: i32,
    within_seconds: i32,
}

pub type CheckError = crate::domain::rejection::Rejection;

/// A whole number in `range` typed in `field`, or `default` when empty.
fn number(
    errors: &mut FieldErrors,
    field: &str,
    typed: &str,
    range: std::ops::RangeInclusive<i32>,
    default: i32,
    unit: &str,
) -> i32 {
    match typed.trim() {
        "" => default,
        t => match t.parse::<i32>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                errors.add(
                    field,
                    format!(
                        "Use a whole number{unit} from {} to {}.",
                        range.start(),
                        super::validation::thousands(*range.end() as usize)
                    ),
                );
                default
            }
        },
    }
}

pub(crate) fn validate(input: &CheckInput) -> Result<Valid, FieldErrors> {
    let mut errors = FieldErrors::new();
    let kind = CheckKind::parse(&input.kind).unwrap_or_else(|| {
        errors.add("kind", "Choose an HTTP check or a script check.");
        CheckKind::Http
    });
    let name = input.name.trim().to_owned();
    if let Some(problem) = validation::name_problem(&name, 1, 100, "a name") {
        errors.add("name", problem);
    }
    let url = input.url.trim().to_owned();
    let script = input.script.replace("\r\n", "\n");
    let expect_text = input.expect_text.trim().to_owned();
    match kind {
        CheckKind::Http => {
            if url.is_empty() {
                errors.add("url", "Enter the URL to check.");
            } else if let Some(problem) = url_problem(&url) {
                errors.add("url", problem);
            } else if let Err(problem) = placeholders(&url) {
                errors.add("url", problem);
            }
            if expect_text.chars().count() > MAX_EXPECT_TEXT_CHARS {
                errors.add("expect_text", "Use at most 1,000 characters.");
            } else if let Some(problem) = crate::input::text::line_problem(&expect_text) {
                errors.add("expect_text", problem);
            }
        }
        CheckKind::Script => {
            if script.trim().is_empty() {
                errors.add("script", "Enter the script to run: exit 0 means healthy.");
            } else if let Some(problem) = validation::text_problem(&script, 100_000) {
                errors.add("script", problem);
            }
        }
    }
    let expect_status = number(
        &mut errors,
        "expect_status",
        &input.expect_status,
        100..=599,
        200,
        "",
    );
    let interval_seconds = number(
        &mut errors,
        "interval_seconds",
        &input.interval_seconds,
        1..=3600,
        DEFAULT_INTERVAL_SECONDS,
        " of seconds",
    );
    let within_seconds = number(
        &mut errors,
        "within_seconds",
        &input.within_seconds,
        1..=86_400,
        DEFAULT_WITHIN_SECONDS,
        " of seconds",
    );
    errors.into_result()?;
    Ok(match kind {
        CheckKind::Http => Valid {
            kind,
            name,
            url: Some(url),
            expect_status,
            expect_text,
            script: String::new(),
            interval_seconds,
            within_seconds,
        },
        CheckKind::Script => Valid {
            kind,
            name,
            url: None,
            expect_status: 200,
            expect_text: String::new(),
            script,
            interval_seconds,
            within_seconds,
        },
    })
}

/// What is wrong with a check's URL as typed. One that starts with a
/// variable (`${BASE}/health`) is checked once filled in, when it runs.
pub fn url_problem(url: &str) -> Option<&'static str> {
    if url.starts_with("${") {
        (url.chars().count() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()))
            .then_some("A URL has no spaces and at most 2,000 characters.")
    } else {
        validation::url_problem(url)
    }
}

/// The variable names a URL uses as `${NAME}`, or why it cannot be read.
pub fn placeholders(url: &str) -> Result<Vec<&str>, &'static str> {
    let mut names = Vec::new();
    let mut rest = url;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or("A ${ in the URL has no closing }.")?;
        let name = &after[..end];
        let mut chars = name.chars();
        let good = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !good {
            return Err("Name a variable as ${NAME}: letters, digits and _.");
        }
        names.push(name);
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// The URL with each `${NAME}` replaced by the value `values` give it; the
/// names it uses that have no value when there are some.
pub fn expand(url: &str, values: &[(String, String)]) -> Result<String, Vec<String>> {
    let names = placeholders(url).map_err(|_| Vec::new())?;
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !values.iter().any(|(name, _)| name == *n))
        .map(|n| (*n).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    // One pass over the URL as written: a value that itself holds
    // `${OTHER}` is put in as it is, never filled again (replacing name
    // after name in the growing text did that).
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        out.push_str(&rest[..start]);
        // The last value of a name wins, as in a script's environment.
        match values.iter().rev().find(|(n, _)| n == name) {
            Some((_, value)) => out.push_str(value),
            None => out.push_str(&rest[start..=start + 2 + end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Locks the environment, so positions are handed out one at a time.
fn next_position(conn: &mut PgConnection, environment: &Environment) -> QueryResult<i32> {
    environments::table
        .find(environment.id)
        .select(environments::id)
        .for_update()
        .first::<EnvironmentId>(conn)?;
    Ok(checks::table
        .filter(checks::environment_id.eq(environment.id))
        .select(diesel::dsl::max(checks::position))
        .first::<Option<i32>>(conn)?
        .map_or(0, |p| p + 1))
}

pub fn add(
    conn: &mut PgConnection,
    actor: &Actor,
    environment: &Environment,
    input: &CheckInput,
) -> Result<Check, CheckError> {
    let v = validate(input).map_err(CheckError::Invalid)?;
    conn.transaction(|conn| {
        let position = next_position(conn, environment)?;
        let check = diesel::insert_into(checks::table)
            .values((
                checks::environment_id.eq(environment.id),
                checks::position.eq(position),
                checks::kind.eq(v.kind),
                checks::name.eq(&v.name),
                checks::url.eq(&v.url),
                checks::expect_status.eq(v.expect_status),
                checks::expect_text.eq(&v.expect_text),
                checks::script.eq(&v.script),
                checks::interval_seconds.eq(v.interval_seconds),
                checks::within_seconds.eq(v.within_seconds),
            ))
            .returning(Check::as_returning())
            .get_result(conn)?;
        audit::record(
            conn,
            actor,
            Event::new("check.added", "environment", environment.id)
                .in_project(environment.project_id)
                .details(json!({
                    "environment": environment.name,
                    "check": check.name,
                    "kind": check.kind,
                    "what": check.summary(),
                    "timing": check.timing(),
                })),
        )?;
        Ok(check)
    })
}

pub fn remove(
    conn: &mut PgConnection,
    actor: &Actor,
    environment: &Environment,
    check_id: i64,
) -> Result<Check, CheckError> {
    conn.transaction(|conn| {
        let removed: Check = diesel::delete(
            checks::table
                .filter(checks::id.eq(check_id))
                .filter(checks::environment_id.eq(environment.id)),
        )
        .returning(Check::as_returning())
        .get_result(conn)
        .optional()?
        .ok_or(CheckError::NotFound)?;
        audit::record(
            conn,
            actor,
            Event::new("check.removed", "environment", environment.id)
                .in_project(environment.project_id)
                .details(json!({ "environment": environment.name, "check": removed.name })),
        )?;
        Ok(removed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_holds_a_placeholder_is_put_in_as_it_is() {
        // Found by fuzz/ (validators): values were filled in again.
        let values = [
            ("A".to_owned(), "${B}".to_owned()),
            ("B".to_owned(), "y".to_owned()),
        ];
        assert_eq!(
            expand("https://x/${A}/${B}", &values).unwrap(),
            "https://x/${B}/y"
        );
        assert_eq!(
            expand("https://x/${B}${B}?q=${A}", &values).unwrap(),
            "https://x/yy?q=${B}"
        );
    }

    fn http(url: &str) -> CheckInput {
        CheckInput {
            name: "health".into(),
            url: url.into(),
            ..CheckInput::blank()
        }
    }

    #[test]
    fn a_url_may_name_variables_and_they_are_filled_in() {
        let values = vec![
            ("HOST".to_owned(), "shop.example".to_owned()),
            ("STAGECOACH_RELEASE_VERSION".to_owned(), "1.2.0".to_owned()),
        ];
        assert_eq!(
            expand(
                "https://${HOST}/health?v=${STAGECOACH_RELEASE_VERSION}",
                &values
            ),
            Ok("https://shop.example/health?v=1.2.0".to_owned())
        );
        assert_eq!(
            expand("https://${HOST}/${PORT}", &values),
            Err(vec!["PORT".to_owned()])
        );
    }

    #[test]
    fn a_bad_placeholder_is_refused_on_the_url_field() {
        for url in ["https://${HOST/health", "https://${1X}/", "https://${}/"] {
            let errors = validate(&http(url)).unwrap_err();
            assert!(errors.has("url"), "{url}");
        }
        assert!(validate(&http("https://${HOST}/health")).is_ok());
        assert!(validate(&http("${BASE}/health")).is_ok());
        assert!(validate(&http("ftp://${HOST}/")).unwrap_err().has("url"));
    }

    #[test]
    fn each_refusal_names_its_field() {
        let input = CheckInput {
            kind: "http".into(),
            name: String::new(),
            url: "ftp://x".into(),
            expect_status: "700".into(),
            expect_text: "a\u{0}b".into(),
            script: String::new(),
            interval_seconds: "0".into(),
            within_seconds: "x".into(),
        };
        let errors = validate(&input).unwrap_err();
        for field in [
            "name",
            "url",
            "expect_status",
            "expect_text",
            "interval_seconds",
            "within_seconds",
        ] {
            assert!(errors.has(field), "{field}");
        }
        let script = CheckInput {
            kind: "script".into(),
            name: "smoke".into(),
            ..CheckInput::blank()
        };
        assert!(validate(&script).unwrap_err().has("script"));
        let kind = CheckInput {
            kind: "ping".into(),
            ..http("https://x")
        };
        assert!(validate(&kind).unwrap_err().has("kind"));
    }

    #[test]
    fn a_script_check_keeps_no_url_and_an_http_check_no_script() {
        let v = validate(&CheckInput {
            kind: "script".into(),
            name: "smoke".into(),
            url: "https://ignored".into(),
            script: "curl -f localhost".into(),
            ..CheckInput::blank()
        })
        .unwrap();
        assert_eq!(v.url, None);
        let v = validate(&CheckInput {
            script: "ignored".into(),
            ..http("https://x/health")
        })
        .unwrap();
        assert_eq!(v.script, "");
        assert_eq!((v.interval_seconds, v.within_seconds), (10, 300));
    }
}
