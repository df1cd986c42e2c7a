//! `/admin/audit`: the whole trail, newest first, filtered, keyset-paged,
//! and as CSV.

use std::collections::HashMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use serde::Deserialize;

use crate::domain::audit::{self, AuditEvent, AuditFilter, csv_field};
use crate::domain::ids::ProjectId;
use crate::domain::keyset::Cursor;
use crate::domain::projects;
use crate::domain::validation::FieldErrors;
use crate::error::AppError;
use crate::input::dates::{self, DateProblem};
use crate::routes::context::Ctx;
use crate::routes::render_with_status;
use crate::views::admin::{AuditFilterForm, AuditPage};

const PAGE: i64 = 100;
/// A CSV export holds at most this many events; narrow the filter for more.
const CSV_LIMIT: i64 = 50_000;

#[derive(Debug, Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    project: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    /// Dates, `YYYY-MM-DD`, in UTC; `to` is inclusive.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<String>,
}

/// A filter date, or the message for its field.
fn parse_date(value: &str) -> Result<Option<NaiveDate>, &'static str> {
    dates::date(value).map_err(|problem| match problem {
        DateProblem::Malformed => "Use a date like 2026-11-22.",
        DateProblem::OutOfRange => dates::OUT_OF_RANGE,
    })
}

/// The filter from the query, and errors for fields that did not parse.
fn filter_from(
    query: &AuditQuery,
    project_ids: &HashMap<String, ProjectId>,
) -> (AuditFilter, FieldErrors) {
    let mut errors = FieldErrors::new();
    let mut filter = AuditFilter {
        actor: query.actor.clone(),
        action: query.action.clone(),
        before: query.before.as_deref().and_then(Cursor::decode),
        ..Default::default()
    };
    if !query.project.is_empty() {
        match project_ids.get(&query.project) {
            Some(id) => filter.project_id = Some(*id),
            None => errors.add("project", "There is no such project."),
        }
    }
    match parse_date(&query.from) {
        Ok(date) => {
            filter.from = date
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc());
        }
        Err(message) => errors.add("from", message),
    }
    match parse_date(&query.to) {
        Ok(date) => {
            filter.to = date
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc());
        }
        Err(message) => errors.add("to", message),
    }
    (filter, errors)
}

fn filter_query(query: &AuditQuery) -> String {
    serde_urlencoded::to_string([
        ("project", query.project.as_str()),
        ("actor", query.actor.as_str()),
        ("action", query.action.as_str()),
        ("from", query.from.as_str()),
        ("to", query.to.as_str()),
    ])
    .unwrap_or_default()
}

pub async fn show(ctx: Ctx, query: web::Query<AuditQuery>) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let q = AuditQuery {
        project: query.project.clone(),
        actor: query.actor.clone(),
        action: query.action.clone(),
        from: query.from.clone(),
        to: query.to.clone(),
        before: query.before.clone(),
    };
    let (events, next, projects, actions, errors) = ctx
        .read(move |conn, _actor| -> Result<_, AppError> {
            let projects = projects::list(conn, None)?;
            let ids: HashMap<String, ProjectId> =
                projects.iter().map(|p| (p.slug.clone(), p.id)).collect();
            let (filter, errors) = filter_from(&q, &ids);
            let (events, next) = if errors.is_empty() {
                audit::search(conn, &filter, PAGE)?
            } else {
                (Vec::new(), None)
            };
            Ok((events, next, projects, audit::actions(conn)?, errors))
        })
        .await?;
    let base = filter_query(&query);
    // A filter that cannot be read is a bad request; the page still shows
    // it with the error beside the field.
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = AuditPage {
        page: ctx.page("Audit log · Admin", "admin"),
        project_slugs: projects.iter().map(|p| (p.id, p.slug.clone())).collect(),
        events: events.into_iter().map(AuditEvent::escaped).collect(),
        next_page: next.map(|c| format!("{base}&before={}", c.encode())),
        is_first_page: query.before.is_none(),
        filter: AuditFilterForm {
            project: query.project,
            actor: query.actor,
            action: query.action,
            from: query.from,
            to: query.to,
        },
        filter_query: base,
        projects,
        actions,
        errors,
    };
    render_with_status(&page, status)
}

/// The filtered view as CSV (the whole filter, not one page).
pub async fn csv(ctx: Ctx, query: web::Query<AuditQuery>) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let (events, slugs) = ctx
        .run(move |conn, _actor| -> Result<_, AppError> {
            let projects = projects::list(conn, None)?;
            let ids: HashMap<String, ProjectId> =
                projects.iter().map(|p| (p.slug.clone(), p.id)).collect();
            let (filter, errors) = filter_from(&query, &ids);
            if !errors.is_empty() {
                return Err(AppError::BadRequest(
                    "The audit filter is not valid.".to_owned(),
                ));
            }
            let (events, _) = audit::search(conn, &filter, CSV_LIMIT)?;
            let slugs: HashMap<ProjectId, String> =
                projects.into_iter().map(|p| (p.id, p.slug)).collect();
            Ok((events, slugs))
        })
        .await?;
    let mut body = String::from(
        "time,actor,action,object_type,object_id,project,details,client_address,api_token\n",
    );
    for event in events {
        body.push_str(&csv_row(&event.escaped(), &slugs));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"stagecoach-audit.csv\"",
        ))
        .body(body))
}

fn csv_row(event: &AuditEvent, slugs: &HashMap<ProjectId, String>) -> String {
    let project = event
        .project_id
        .and_then(|p| slugs.get(&p))
        .cloned()
        .unwrap_or_default();
    [
        event.at.to_rfc3339(),
        event.actor_name.clone(),
        event.action.clone(),
        event.object_type.clone(),
        event.object_id.clone().unwrap_or_default(),
        project,
        event.details.to_string(),
        event.client_addr.clone().unwrap_or_default(),
        event.token_id.map(|t| t.to_string()).unwrap_or_default(),
    ]
    .iter()
    .map(|v| csv_field(v))
    .collect::<Vec<_>>()
    .join(",")
        + "\n"
}
