//! Page templates (askama, rendered through askama_web) and the context every
//! page shares: who is signed in, the CSRF token for its forms, flashes.

pub mod account;
pub mod admin;
pub mod api;
pub mod approvals;
pub mod dashboard;
pub mod deployments;
pub mod environments;
pub mod error;
pub mod login;
pub mod projects;
pub mod releases;
pub mod states;
pub mod tokens;

use actix_web::{HttpMessage, HttpRequest};

use crate::auth::CurrentUser;
use crate::auth::current_user::RequestCsrfToken;
use crate::auth::flash::Flash;
use crate::auth::session::TypedSession;

/// What the base layout needs on every page.
#[derive(Debug, Clone, Default)]
pub struct PageCtx {
    pub title: String,
    pub user: Option<CurrentUser>,
    pub csrf_token: String,
    pub flashes: Vec<Flash>,
    /// Which navigation entry is current.
    pub section: &'static str,
}

impl PageCtx {
    /// Context for a page: takes the flashes (they show once) and ensures
    /// the session has a CSRF token for the page's forms.
    pub fn new(
        session: &TypedSession,
        user: Option<CurrentUser>,
        title: impl Into<String>,
        section: &'static str,
    ) -> Self {
        Self {
            title: title.into(),
            user,
            csrf_token: session.csrf_token(),
            flashes: session.take_flashes(),
            section,
        }
    }

    /// Context for an error page built outside any handler, from what the
    /// `CurrentUser` extractor left in the request.
    pub fn for_error(req: &HttpRequest, title: &str) -> Self {
        let extensions = req.extensions();
        Self {
            title: title.to_owned(),
            user: extensions.get::<CurrentUser>().cloned(),
            csrf_token: extensions
                .get::<RequestCsrfToken>()
                .map(|t| t.0.clone())
                .unwrap_or_default(),
            flashes: Vec::new(),
            section: "",
        }
    }
}
