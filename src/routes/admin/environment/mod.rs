//! `/admin/projects/{project}/environments/{environment}/settings`: an
//! environment's queue policy here; its steps (`step_changes`) and variables
//! (`variable_changes`) beside this file.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use diesel::PgConnection;
use serde::Deserialize;

use crate::auth::csrf::{CsrfForm, NoFields};
use crate::auth::flash::FlashKind;
use crate::domain::audit::Actor;
use crate::domain::checks::{self, CheckInput};
use crate::domain::environments::{self, Environment, EnvironmentError, PolicyInput};
use crate::domain::ids::EnvironmentId;
use crate::domain::ordering::Direction;
use crate::domain::projects::{self, Project};
use crate::domain::rejection::Rejection;
use crate::domain::secrets::SecretBox;
use crate::domain::steps::{self, StepError, StepInput};
use crate::domain::validation::FieldErrors;
use crate::domain::variables::{self, VariableError, VariableInput};
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::routes::{render_with_status, see_other};
use crate::views::admin::{EnvironmentSettingsPage, StepForm, StepRow};

mod check_changes;
mod step_changes;
mod variable_changes;

pub use check_changes::{add_check, remove_check};
pub use step_changes::{add_step, move_step, remove_step, update_step};
pub use variable_changes::{remove_variable, set_variable};

/// A form that failed, shown again with what was typed.
enum Failed {
    None,
    Policy(PolicyInput, FieldErrors),
    NewStep(StepForm),
    NewCheck(CheckInput, FieldErrors),
    Step(i64, StepForm),
    Variable(String, String, bool, FieldErrors),
}

fn open(
    conn: &mut PgConnection,
    _actor: &Actor,
    slug: &str,
    env: &str,
) -> Result<(Project, Vec<Environment>, usize), AppError> {
    let project = projects::find_by_slug(conn, slug)?.ok_or(AppError::NotFound)?;
    let pipeline = environments::list(conn, project.id)?;
    let index = pipeline
        .iter()
        .position(|e| e.slug == env)
        .ok_or(AppError::NotFound)?;
    Ok((project, pipeline, index))
}

fn settings_url(project: &str, env: &str) -> String {
    format!("/admin/projects/{project}/environments/{env}/settings")
}

/// Loads and renders the settings page, with one failed form if any.
async fn render(
    ctx: &Ctx,
    slug: String,
    env_slug: String,
    failed: Failed,
) -> Result<HttpResponse, AppError> {
    let (project, pipeline, index, step_list, check_list, all_variables) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, pipeline, index) = open(conn, actor, &slug, &env_slug)?;
            let step_list = steps::list(conn, pipeline[index].id)?;
            let check_list = checks::list(conn, pipeline[index].id)?;
            let ids: Vec<EnvironmentId> = pipeline.iter().map(|e| e.id).collect();
            let all_variables = variables::for_environments(conn, &ids)?;
            Ok((
                project,
                pipeline,
                index,
                step_list,
                check_list,
                all_variables,
            ))
        })
        .await?;
    let environment = pipeline[index].clone();
    let order: Vec<(EnvironmentId, String)> =
        pipeline.iter().map(|e| (e.id, e.name.clone())).collect();
    let effective = variables::effective(&order, &all_variables, index);
    let own_variables = all_variables
        .into_iter()
        .filter(|v| v.environment_id == environment.id)
        .collect();
    let status = if matches!(failed, Failed::None) {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut page = EnvironmentSettingsPage {
        page: ctx.page(
            format!(
                "{} settings · Pipeline · {}",
                environment.name, project.name
            ),
            "admin",
        ),
        policy: PolicyInput::of(&environment),
        policy_errors: FieldErrors::new(),
        steps: step_list
            .into_iter()
            .map(|step| StepRow {
                form: StepForm {
                    kind: step.kind.as_str().to_owned(),
                    name: step.name.clone(),
                    script: step.script.clone(),
                    url: step.url.clone().unwrap_or_default(),
                    timeout_seconds: step.timeout_seconds.to_string(),
                    errors: FieldErrors::new(),
                },
                step,
            })
            .collect(),
        new_step: StepForm {
            kind: "script".to_owned(),
            timeout_seconds: steps::DEFAULT_TIMEOUT_SECONDS.to_string(),
            ..Default::default()
        },
        checks: check_list,
        new_check: CheckInput::blank(),
        check_errors: FieldErrors::new(),
        own_variables,
        effective,
        variable_name: String::new(),
        variable_value: String::new(),
        variable_secret: false,
        variable_errors: FieldErrors::new(),
        project,
        environment,
    };
    match failed {
        Failed::None => {}
        Failed::Policy(policy, errors) => {
            page.policy = policy;
            page.policy_errors = errors;
        }
        Failed::NewStep(form) => page.new_step = form,
        Failed::NewCheck(form, errors) => {
            page.new_check = form;
            page.check_errors = errors;
        }
        Failed::Step(id, form) => {
            if let Some(row) = page.steps.iter_mut().find(|r| r.step.id == id) {
                row.form = form;
            }
        }
        Failed::Variable(name, value, secret, errors) => {
            page.variable_name = name;
            // A secret typed in is never sent back to the browser.
            page.variable_value = if secret { String::new() } else { value };
            page.variable_secret = secret;
            page.variable_errors = errors;
        }
    }
    render_with_status(&page, status)
}

/// Runs a change to one of the environment's lists (steps, checks) and
/// answers: back to the page with its message, or, when the form was not
/// valid, the page with it as typed (`failed` makes it from the errors).
async fn list_change(
    ctx: Ctx,
    slug: String,
    env: String,
    failed: impl FnOnce(FieldErrors) -> Failed,
    work: impl FnOnce(&mut PgConnection, &Actor, &Environment) -> Result<String, Rejection>
    + Send
    + 'static,
) -> Result<HttpResponse, AppError> {
    let (s, e) = (slug.clone(), env.clone());
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (_, pipeline, index) = open(conn, actor, &s, &e)?;
            Ok(work(conn, actor, &pipeline[index]))
        })
        .await?;
    match outcome {
        Ok(message) => {
            ctx.flash(FlashKind::Success, message);
            Ok(see_other(&settings_url(&slug, &env)))
        }
        Err(Rejection::Invalid(errors)) => render(&ctx, slug, env, failed(errors)).await,
        Err(Rejection::Refused(message)) => {
            ctx.flash(FlashKind::Error, message);
            Ok(see_other(&settings_url(&slug, &env)))
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn show(ctx: Ctx, path: web::Path<(String, String)>) -> Result<HttpResponse, AppError> {
    let (slug, env) = path.into_inner();
    render(&ctx, slug, env, Failed::None).await
}

/// Reads the policy form; `window_days` arrives once per ticked day.
fn parse_policy(fields: &[(String, String)]) -> PolicyInput {
    let mut input = PolicyInput::default();
    for (name, value) in fields {
        match name.as_str() {
            "max_running" => input.max_running = value.clone(),
            "queue_policy" => input.queue_policy = value.clone(),
            "required_approvals" => input.required_approvals = value.clone(),
            "allow_self_approval" => input.allow_self_approval = true,
            "supersede" => input.supersede = true,
            "rollback_on_failed_verification" => input.rollback_on_failed_verification = true,
            "soak_minutes" => input.soak_minutes = value.clone(),
            "approval_timeout_hours" => input.approval_timeout_hours = value.clone(),
            "window_days" => input.window_days.push(value.clone()),
            "window_start" => input.window_start = value.clone(),
            "window_end" => input.window_end = value.clone(),
            "window_time_zone" => input.window_time_zone = value.clone(),
            "trigger" => input.trigger = value.clone(),
            "schedule_days" => input.schedule_days.push(value.clone()),
            "schedule_time" => input.schedule_time = value.clone(),
            "schedule_time_zone" => input.schedule_time_zone = value.clone(),
            _ => {}
        }
    }
    input
}

pub async fn policy(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let (slug, env) = path.into_inner();
    let input = parse_policy(&fields);
    let (s, e, typed) = (slug.clone(), env.clone(), input.clone());
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (_, pipeline, index) = open(conn, actor, &s, &e)?;
            Ok(environments::set_policy(
                conn,
                actor,
                &pipeline[index],
                &typed,
            ))
        })
        .await?;
    match outcome {
        Ok(_) => {
            ctx.flash(
                FlashKind::Success,
                "Policy saved. It applies to deployments requested from now on.",
            );
            Ok(see_other(&settings_url(&slug, &env)))
        }
        Err(EnvironmentError::Invalid(errors)) => {
            render(&ctx, slug, env, Failed::Policy(input, errors)).await
        }
        Err(EnvironmentError::Refused(message)) => {
            ctx.flash(FlashKind::Error, message);
            Ok(see_other(&settings_url(&slug, &env)))
        }
        Err(other) => Err(other.into()),
    }
}
