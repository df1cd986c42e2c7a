//! `/admin/projects/{project}/environments/{environment}/settings`: an
//! environment's queue policy, steps and variables.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use diesel::PgConnection;
use serde::Deserialize;

use crate::auth::csrf::{CsrfForm, NoFields};
use crate::auth::flash::FlashKind;
use crate::domain::audit::Actor;
use crate::domain::environments::{self, Environment, EnvironmentError, PolicyInput};
use crate::domain::ids::EnvironmentId;
use crate::domain::ordering::Direction;
use crate::domain::projects::{self, Project};
use crate::domain::secrets::SecretBox;
use crate::domain::steps::{self, StepError, StepInput};
use crate::domain::validation::FieldErrors;
use crate::domain::variables::{self, VariableError, VariableInput};
use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::routes::{render_with_status, see_other};
use crate::views::admin::{EnvironmentSettingsPage, StepForm, StepRow};

/// A form that failed, shown again with what was typed.
enum Failed {
    None,
    Policy(PolicyInput, FieldErrors),
    NewStep(StepForm),
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
    let (project, pipeline, index, step_list, all_variables) = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (project, pipeline, index) = open(conn, actor, &slug, &env_slug)?;
            let step_list = steps::list(conn, pipeline[index].id)?;
            let ids: Vec<EnvironmentId> = pipeline.iter().map(|e| e.id).collect();
            let all_variables = variables::for_environments(conn, &ids)?;
            Ok((project, pipeline, index, step_list, all_variables))
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
        Err(EnvironmentError::Db(err)) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize, Clone)]
pub struct StepFormData {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    script: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    timeout_seconds: String,
}

impl StepFormData {
    fn input(&self) -> StepInput {
        StepInput {
            kind: self.kind.clone(),
            name: self.name.clone(),
            script: self.script.clone(),
            url: self.url.clone(),
            timeout_seconds: self.timeout_seconds.clone(),
        }
    }

    fn kept(self, errors: FieldErrors) -> StepForm {
        StepForm {
            kind: self.kind,
            name: self.name,
            script: self.script,
            url: self.url,
            timeout_seconds: self.timeout_seconds,
            errors,
        }
    }
}

/// Runs a change to a step and answers: back to the page, or the page with
/// the failed form.
#[allow(clippy::too_many_arguments)]
async fn step_change(
    ctx: Ctx,
    slug: String,
    env: String,
    form: Option<(Option<i64>, StepFormData)>,
    work: impl FnOnce(&mut PgConnection, &Actor, &Environment) -> Result<String, StepError>
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
        Err(StepError::Invalid(errors)) => {
            let failed = match form {
                Some((Some(id), data)) => Failed::Step(id, data.kept(errors)),
                Some((None, data)) => Failed::NewStep(data.kept(errors)),
                None => Failed::None,
            };
            render(&ctx, slug, env, failed).await
        }
        Err(StepError::Refused(message)) => {
            ctx.flash(FlashKind::Error, message);
            Ok(see_other(&settings_url(&slug, &env)))
        }
        Err(StepError::Db(err)) => Err(err.into()),
    }
}

fn find_step(
    conn: &mut PgConnection,
    environment: &Environment,
    step_id: i64,
) -> Result<steps::Step, StepError> {
    steps::list(conn, environment.id)?
        .into_iter()
        .find(|s| s.id == step_id)
        .ok_or(StepError::Db(diesel::result::Error::NotFound))
}

pub async fn add_step(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<StepFormData>,
) -> Result<HttpResponse, AppError> {
    let (slug, env) = path.into_inner();
    let input = form.input();
    step_change(
        ctx,
        slug,
        env,
        Some((None, form)),
        move |conn, actor, environment| {
            let step = steps::add(conn, actor, environment, &input)?;
            Ok(format!(
                "Step “{}” added. New releases will run it.",
                step.name
            ))
        },
    )
    .await
}

pub async fn update_step(
    ctx: Ctx,
    path: web::Path<(String, String, i64)>,
    CsrfForm(form): CsrfForm<StepFormData>,
) -> Result<HttpResponse, AppError> {
    let (slug, env, step_id) = path.into_inner();
    let input = form.input();
    step_change(
        ctx,
        slug,
        env,
        Some((Some(step_id), form)),
        move |conn, actor, environment| {
            let step = find_step(conn, environment, step_id)?;
            let updated = steps::update(conn, actor, environment, &step, &input)?;
            Ok(format!(
                "Step “{}” saved. New releases will run it; existing ones keep their snapshot.",
                updated.name
            ))
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    direction: String,
}

pub async fn move_step(
    ctx: Ctx,
    path: web::Path<(String, String, i64)>,
    CsrfForm(form): CsrfForm<MoveForm>,
) -> Result<HttpResponse, AppError> {
    let (slug, env, step_id) = path.into_inner();
    let direction = Direction::from_form(&form.direction);
    step_change(ctx, slug, env, None, move |conn, actor, environment| {
        let step = find_step(conn, environment, step_id)?;
        steps::shift(conn, actor, environment, &step, direction)?;
        Ok(format!("Step “{}” moved.", step.name))
    })
    .await
}

pub async fn remove_step(
    ctx: Ctx,
    path: web::Path<(String, String, i64)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (slug, env, step_id) = path.into_inner();
    step_change(ctx, slug, env, None, move |conn, actor, environment| {
        let step = find_step(conn, environment, step_id)?;
        steps::remove(conn, actor, environment, &step)?;
        Ok(format!("Step “{}” removed.", step.name))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct VariableForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
    secret: Option<String>,
}

#[allow(clippy::too_many_arguments)]
pub async fn set_variable(
    ctx: Ctx,
    secrets: web::Data<SecretBox>,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<VariableForm>,
) -> Result<HttpResponse, AppError> {
    let (slug, env) = path.into_inner();
    let input = VariableInput {
        name: form.name.clone(),
        value: form.value.clone(),
        secret: form.secret.is_some(),
    };
    let (s, e) = (slug.clone(), env.clone());
    let secrets = secrets.into_inner();
    let outcome = ctx
        .run(move |conn, actor| -> Result<_, AppError> {
            let (_, pipeline, index) = open(conn, actor, &s, &e)?;
            Ok(variables::set(
                conn,
                actor,
                &secrets,
                &pipeline[index],
                &input,
            ))
        })
        .await?;
    match outcome {
        Ok(variable) => {
            ctx.flash(
                FlashKind::Success,
                format!(
                    "{} saved{}.",
                    variable.name,
                    if variable.secret {
                        " (secret: it will not be shown again)"
                    } else {
                        ""
                    }
                ),
            );
            Ok(see_other(&settings_url(&slug, &env)))
        }
        Err(VariableError::Invalid(errors)) => {
            let secret = form.secret.is_some();
            render(
                &ctx,
                slug,
                env,
                Failed::Variable(form.name, form.value, secret, errors),
            )
            .await
        }
        Err(VariableError::Db(err)) => Err(err.into()),
    }
}

pub async fn remove_variable(
    ctx: Ctx,
    path: web::Path<(String, String, i64)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (slug, env, variable_id) = path.into_inner();
    let (s, e) = (slug.clone(), env.clone());
    ctx.run(move |conn, actor| -> Result<_, AppError> {
        let (_, pipeline, index) = open(conn, actor, &s, &e)?;
        variables::remove(conn, actor, &pipeline[index], variable_id)?;
        Ok(())
    })
    .await?;
    ctx.flash(FlashKind::Success, "Variable removed.");
    Ok(see_other(&settings_url(&slug, &env)))
}
