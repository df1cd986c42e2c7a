//! What a signed-in page or action needs from its request, extracted once:
//! the user, the actor the domain audits (with the client's address), the
//! session for messages and the CSRF token, and the database. Also the
//! loading most project pages need, with the access check, in one place.

use std::any::TypeId;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use diesel::PgConnection;

use super::read_cache::ReadCache;
use crate::auth::flash::FlashKind;
use crate::auth::session_store;
use crate::auth::{CurrentUser, TypedSession};
use crate::db::{self, DbPool, RunError};
use crate::domain::access::{self, Action, ProjectAccess};
use crate::domain::audit::Actor;
use crate::domain::environments::Environment;
use crate::domain::projects::{self, Project};
use crate::domain::releases::{self, Release};
use crate::error::AppError;
use crate::views::PageCtx;

/// The request of a signed-in user. Extracting it answers "sign in first"
/// for anyone else, so a handler that takes it cannot forget to ask.
pub struct Ctx {
    pub user: CurrentUser,
    pub actor: Actor,
    pub session: TypedSession,
    pool: web::Data<DbPool>,
    /// Page reads kept by snapshot, with this request's snapshot and URL
    /// (see [`Ctx::read`]); `None` when either is missing.
    kept: Option<(web::Data<ReadCache>, Arc<str>, String)>,
}

impl Ctx {
    /// Runs blocking database work for this request (see [`db::run`]),
    /// handing it the actor so the closure need not capture a copy.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, RunError<E>>
    where
        F: FnOnce(&mut PgConnection, &Actor) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let actor = self.actor.clone();
        db::run(&self.pool, move |conn| work(conn, &actor)).await
    }

    /// A page's read, as [`Ctx::run`], served again from the server's
    /// [`ReadCache`] while the database has not changed since this user
    /// last read this URL with the same `work`; on any other method than
    /// GET it is [`Ctx::run`]. `work` must write nothing and depend on
    /// nothing but the database, the actor and the URL (path and query).
    pub async fn read<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut PgConnection, &Actor) -> Result<T, AppError> + Send + 'static,
        T: Clone + Send + Sync + 'static,
    {
        let Some((cache, snapshot, url)) = &self.kept else {
            return Ok(self.run(work).await?);
        };
        let id = TypeId::of::<F>();
        if let Some(kept) = cache.get::<T>(self.user.id, id, url, snapshot) {
            return Ok(kept);
        }
        let value = self.run(work).await?;
        cache.put(self.user.id, id, url, snapshot.clone(), value.clone());
        Ok(value)
    }

    /// The frame of a page: title, navigation entry, messages, CSRF token.
    pub fn page(&self, title: impl Into<String>, section: &'static str) -> PageCtx {
        PageCtx::new(&self.session, Some(self.user.clone()), title, section)
    }

    /// A message for the next page.
    pub fn flash(&self, kind: FlashKind, message: impl Into<String>) {
        self.session.flash(kind, message);
    }

    /// The pool, for work that must outlive the request's scope.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }
}

impl FromRequest for Ctx {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let user = CurrentUser::from_request(&req, payload);
        Box::pin(async move {
            let user = user.await?;
            let session = TypedSession::extract(&req)
                .await
                .map_err(|_| AppError::internal(anyhow::anyhow!("no session")))?;
            let pool = req
                .app_data::<web::Data<DbPool>>()
                .cloned()
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("no database pool")))?;
            let actor = super::actor(&req, &user);
            // Only a GET's reads are kept: any other request runs its work
            // afresh, whatever its handler calls.
            let kept = (req.method() == actix_web::http::Method::GET)
                .then(|| req.app_data::<web::Data<ReadCache>>().cloned())
                .flatten()
                .zip(session_store::loaded_snapshot())
                .map(|(cache, snapshot)| {
                    let url = req
                        .uri()
                        .path_and_query()
                        .map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned());
                    (cache, snapshot, url)
                });
            Ok(Ctx {
                user,
                actor,
                session,
                pool,
                kept,
            })
        })
    }
}

/// A project the actor may see, its pipeline and the actor's rights in it.
/// A project they may not see is "not found", like one that does not exist.
pub fn open_project(
    conn: &mut PgConnection,
    actor: &Actor,
    slug: &str,
) -> Result<(Project, Vec<Environment>, ProjectAccess), AppError> {
    let (project, pipeline, access) =
        projects::open(conn, actor, slug)?.ok_or(AppError::NotFound)?;
    let access = access::enforce(conn, actor, project.id, access, Action::ViewProject)?;
    Ok((project, pipeline, access))
}

/// As [`open_project`], plus one of its releases.
pub fn open_release(
    conn: &mut PgConnection,
    actor: &Actor,
    slug: &str,
    version: &str,
) -> Result<(Project, Vec<Environment>, ProjectAccess, Release), AppError> {
    let (project, pipeline, access) = open_project(conn, actor, slug)?;
    let release = releases::find(conn, project.id, version)?.ok_or(AppError::NotFound)?;
    Ok((project, pipeline, access, release))
}
