//! An environment's variables, secret or not: set and remove.

use super::*;

#[derive(Debug, Deserialize)]
pub struct VariableForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
    secret: Option<String>,
}

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
        Err(other) => Err(other.into()),
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
