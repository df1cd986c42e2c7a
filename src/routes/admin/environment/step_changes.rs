//! An environment's steps: add, change, move and remove.

use super::*;

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

/// Runs a change to a step; an invalid form comes back as typed, beside
/// its step (or as the new one).
async fn step_change(
    ctx: Ctx,
    slug: String,
    env: String,
    form: Option<(Option<i64>, StepFormData)>,
    work: impl FnOnce(&mut PgConnection, &Actor, &Environment) -> Result<String, StepError>
    + Send
    + 'static,
) -> Result<HttpResponse, AppError> {
    let failed = move |errors| match form {
        Some((Some(id), data)) => Failed::Step(id, data.kept(errors)),
        Some((None, data)) => Failed::NewStep(data.kept(errors)),
        None => Failed::None,
    };
    list_change(ctx, slug, env, failed, work).await
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
