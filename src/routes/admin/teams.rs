//! `/admin/teams`: create, rename, delete, members.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use diesel::PgConnection;
use serde::Deserialize;

use crate::auth::csrf::{CsrfForm, NoFields};
use crate::auth::flash::FlashKind;
use crate::domain::audit::Actor;
use crate::domain::ids::UserId;
use crate::domain::teams::{self, Team, TeamError};
use crate::domain::validation::FieldErrors;
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::routes::{render_with_status, see_other};
use crate::views::admin::{TeamPage, TeamsPage};

pub async fn list(ctx: Ctx) -> Result<TeamsPage, AppError> {
    let all = ctx
        .run(move |conn, _actor| -> Result<_, AppError> { Ok(teams::list(conn)?) })
        .await?;
    Ok(TeamsPage {
        page: ctx.page("Teams · Admin", "admin"),
        teams: all,
        name: String::new(),
        errors: FieldErrors::new(),
    })
}

#[derive(Debug, Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

pub async fn create(
    ctx: Ctx,
    CsrfForm(form): CsrfForm<NameForm>,
) -> Result<HttpResponse, AppError> {
    let name = form.name.clone();
    let (outcome, all) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let outcome = teams::create(conn, actor, &name);
            Ok((outcome, teams::list(conn)?))
        })
        .await?;
    let errors = match outcome {
        Ok(team) => {
            ctx.flash(
                FlashKind::Success,
                format!("Team {} created. Add its members below.", team.name),
            );
            return Ok(see_other(&format!("/admin/teams/{}", team.id)));
        }
        Err(TeamError::Invalid(errors)) => errors,
        Err(TeamError::Refused(message)) => {
            let mut errors = FieldErrors::new();
            errors.add("name", message);
            errors
        }
        Err(other) => return Err(other.into()),
    };
    let page = TeamsPage {
        page: ctx.page("Teams · Admin", "admin"),
        teams: all,
        name: form.name,
        errors,
    };
    render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
}

fn open_team(conn: &mut PgConnection, _actor: &Actor, team_id: i64) -> Result<Team, AppError> {
    teams::find(conn, team_id)?.ok_or(AppError::NotFound)
}

fn team_page(
    ctx: &Ctx,
    team: Team,
    members: Vec<teams::Member>,
    name: Option<String>,
    username: String,
    errors: FieldErrors,
) -> TeamPage {
    TeamPage {
        page: ctx.page(format!("{} · Teams", team.name), "admin"),
        name: name.unwrap_or_else(|| team.name.clone()),
        team,
        members,
        username,
        errors,
    }
}

pub async fn show(ctx: Ctx, path: web::Path<i64>) -> Result<TeamPage, AppError> {
    let team_id = path.into_inner();
    let (team, members) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let team = open_team(conn, actor, team_id)?;
            let members = teams::members(conn, team.id)?;
            Ok((team, members))
        })
        .await?;
    Ok(team_page(
        &ctx,
        team,
        members,
        None,
        String::new(),
        FieldErrors::new(),
    ))
}

/// Runs a change to a team; field errors re-render its page with what was
/// typed, anything else flashes and goes back to it.
async fn change(
    ctx: Ctx,
    team_id: i64,
    typed: (Option<String>, String),
    work: impl FnOnce(&mut PgConnection, &Actor, &Team) -> Result<String, TeamError> + Send + 'static,
) -> Result<HttpResponse, AppError> {
    let (team, outcome, members) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let team = open_team(conn, actor, team_id)?;
            let outcome = work(conn, actor, &team);
            let team = teams::find(conn, team_id)?.unwrap_or(team);
            let members = teams::members(conn, team_id)?;
            Ok((team, outcome, members))
        })
        .await?;
    match outcome {
        Ok(message) => {
            ctx.flash(FlashKind::Success, message);
            Ok(see_other(&format!("/admin/teams/{team_id}")))
        }
        Err(TeamError::Invalid(errors)) => {
            let page = team_page(&ctx, team, members, typed.0, typed.1, errors);
            render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(TeamError::Refused(message)) => {
            ctx.flash(FlashKind::Error, message);
            Ok(see_other(&format!("/admin/teams/{team_id}")))
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn rename(
    ctx: Ctx,
    path: web::Path<i64>,
    CsrfForm(form): CsrfForm<NameForm>,
) -> Result<HttpResponse, AppError> {
    let name = form.name.clone();
    change(
        ctx,
        path.into_inner(),
        (Some(form.name), String::new()),
        move |conn, actor, team| {
            let renamed = teams::rename(conn, actor, team, &name)?;
            Ok(format!("Renamed to {}.", renamed.name))
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    username: String,
}

pub async fn add_member(
    ctx: Ctx,
    path: web::Path<i64>,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Result<HttpResponse, AppError> {
    let username = form.username.clone();
    change(
        ctx,
        path.into_inner(),
        (None, form.username),
        move |conn, actor, team| {
            teams::add_member(conn, actor, team, &username)?;
            Ok(format!("{} added to {}.", username.trim(), team.name))
        },
    )
    .await
}

pub async fn remove_member(
    ctx: Ctx,
    path: web::Path<(i64, UserId)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (team_id, user_id) = path.into_inner();
    change(
        ctx,
        team_id,
        (None, String::new()),
        move |conn, actor, team| {
            teams::remove_member(conn, actor, team, user_id)?;
            Ok(format!("Removed from {}.", team.name))
        },
    )
    .await
}

pub async fn delete(
    ctx: Ctx,
    path: web::Path<i64>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let team_id = path.into_inner();
    let name = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let team = open_team(conn, actor, team_id)?;
            teams::delete(conn, actor, &team).map_err(|err| match err {
                TeamError::Db(err) => AppError::from(err),
                other => AppError::BadRequest(other.to_string()),
            })?;
            Ok(team.name)
        })
        .await?;
    ctx.flash(
        FlashKind::Success,
        format!("Team {name} deleted, with its grants."),
    );
    Ok(see_other("/admin/teams"))
}
