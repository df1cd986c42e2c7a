//! `/api`: the API's endpoints for people, in the OpenAPI document's words
//! (which a test holds to the route table, so the page cannot miss one),
//! and curl examples.

use actix_web::HttpRequest;

use crate::error::AppError;
use crate::routes::context::Ctx;
use crate::views::api::ApiPage;

pub async fn show(ctx: Ctx, req: HttpRequest) -> Result<ApiPage, AppError> {
    let endpoints = super::openapi::endpoints();
    // The connection info borrows the request's extensions: read it and
    // let go before the page frame takes its messages from them.
    let base = {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    Ok(ApiPage {
        page: ctx.page("API", "account"),
        endpoints,
        base,
    })
}
