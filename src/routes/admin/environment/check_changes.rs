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

/// Runs a change to the checks; an invalid new check comes back as typed.
async fn check_change(
    ctx: Ctx,
    slug: String,
    env: String,
    typed: Option<CheckInput>,
    work: impl FnOnce(&mut PgConnection, &Actor, &Environment) -> Result<String, checks::CheckError>
    + Send
    + 'static,
) -> Result<HttpResponse, AppError> {
    let failed = move |errors| typed.map_or(Failed::None, |form| Failed::NewCheck(form, errors));
    list_change(ctx, slug, env, failed, work).await
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
