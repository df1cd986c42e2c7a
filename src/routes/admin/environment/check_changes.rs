//! An environment's verification checks: add and remove. They run side by
//! side, so there is no order to change; a check is changed by adding the
//! new one and removing the old.

use super::*;

#[derive(Debug, Deserialize, Clone)]
pub struct CheckFormData {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    expect_status: String,
    #[serde(default)]
    expect_text: String,
    #[serde(default)]
    script: String,
    #[serde(default)]
    interval_seconds: String,
    #[serde(default)]
    within_seconds: String,
}

impl From<CheckFormData> for CheckInput {
    fn from(f: CheckFormData) -> Self {
        Self {
            kind: f.kind,
            name: f.name,
            url: f.url,
            expect_status: f.expect_status,
            expect_text: f.expect_text,
            script: f.script,
            interval_seconds: f.interval_seconds,
            within_seconds: f.within_seconds,
        }
    }
}

/// Runs a change to the checks and answers: back to the page with a
/// message, or the page with the form as typed and its errors.
async fn check_change(
    ctx: Ctx,
    slug: String,
    env: String,
    typed: Option<CheckInput>,
    work: impl FnOnce(&mut PgConnection, &Actor, &Environment) -> Result<String, checks::CheckError>
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
        Err(checks::CheckError::Invalid(errors)) => {
            let failed = typed.map_or(Failed::None, |form| Failed::NewCheck(form, errors));
            render(&ctx, slug, env, failed).await
        }
        Err(checks::CheckError::Refused(message)) => {
            ctx.flash(FlashKind::Error, message);
            Ok(see_other(&settings_url(&slug, &env)))
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn add_check(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<CheckFormData>,
) -> Result<HttpResponse, AppError> {
    let (slug, env) = path.into_inner();
    let input = CheckInput::from(form);
    let typed = input.clone();
    check_change(
        ctx,
        slug,
        env,
        Some(typed),
        move |conn, actor, environment| {
            let check = checks::add(conn, actor, environment, &input)?;
            Ok(format!(
                "Check “{}” added. Deployments of new releases verify with it.",
                check.name
            ))
        },
    )
    .await
}

pub async fn remove_check(
    ctx: Ctx,
    path: web::Path<(String, String, i64)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (slug, env, check_id) = path.into_inner();
    check_change(ctx, slug, env, None, move |conn, actor, environment| {
        let check = checks::remove(conn, actor, environment, check_id)?;
        Ok(format!("Check “{}” removed.", check.name))
    })
    .await
}
