//! The bare stack: a TechEmpower-style "Fortunes" handler on the same
//! actix-web, diesel/r2d2 and askama as Stagecoach. Per request: one pooled
//! connection (no test query on checkout), one 12-row query, one extra row
//! added in memory, a sort, one template. No session, no middleware.
//!
//! `bench-bare --bind ADDR` with `DATABASE_URL` set; it creates and fills
//! the `fortunes` table when missing.

use actix_web::{App, HttpResponse, HttpServer, web};
use askama::Template;
use askama_web::WebTemplate;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};

type DbPool = Pool<ConnectionManager<PgConnection>>;

diesel::table! {
    fortunes (id) {
        id -> Int4,
        message -> Text,
    }
}

#[derive(Queryable)]
struct Fortune {
    id: i32,
    message: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "fortunes.html")]
struct FortunesPage {
    fortunes: Vec<Fortune>,
}

const MESSAGES: [&str; 12] = [
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. — Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    "<script>alert(\"This should not be displayed in a browser alert box.\");</script>",
    "フレームワークのベンチマーク",
];

async fn fortunes_page(pool: web::Data<DbPool>) -> actix_web::Result<FortunesPage> {
    let pool = pool.into_inner();
    let mut fortunes = web::block(move || -> Result<Vec<Fortune>, String> {
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        fortunes::table
            .select((fortunes::id, fortunes::message))
            .load::<Fortune>(&mut conn)
            .map_err(|e| e.to_string())
    })
    .await?
    .map_err(actix_web::error::ErrorInternalServerError)?;
    fortunes.push(Fortune {
        id: 0,
        message: "Additional fortune added at request time.".to_owned(),
    });
    fortunes.sort_by(|a, b| a.message.cmp(&b.message));
    Ok(FortunesPage { fortunes })
}

fn prepare(pool: &DbPool) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = pool.get()?;
    diesel::sql_query(
        "CREATE TABLE IF NOT EXISTS fortunes (id INTEGER PRIMARY KEY, message TEXT NOT NULL)",
    )
    .execute(&mut conn)?;
    let rows: Vec<_> = MESSAGES
        .iter()
        .enumerate()
        .map(|(i, m)| (fortunes::id.eq(i as i32 + 1), fortunes::message.eq(*m)))
        .collect();
    diesel::insert_into(fortunes::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(&mut conn)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut bind = "127.0.0.1:8081".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => bind = args.next().ok_or("--bind needs an address")?,
            other => {
                return Err(
                    format!("unknown argument {other}; usage: bench-bare [--bind ADDR]").into(),
                );
            }
        }
    }
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let pool_size = std::env::var("BARE_DB_POOL_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    // As the app's pool, without the test query on checkout.
    let pool = Pool::builder()
        .max_size(pool_size)
        .test_on_check_out(false)
        .build(ConnectionManager::<PgConnection>::new(url))?;
    prepare(&pool)?;
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(pool.clone()))
                .route("/fortunes", web::get().to(fortunes_page))
                .route(
                    "/healthz",
                    web::get().to(|| async { HttpResponse::Ok().body("ok") }),
                )
        })
        .bind(&bind)?
        .run()
        .await
    })?;
    Ok(())
}
