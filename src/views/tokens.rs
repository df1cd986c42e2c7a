//! API token pages: the signed-in user's own (`/account/tokens`), every
//! active token for an admin (`/admin/tokens`), and the pieces they share
//! with a service account's page: the list, the form and the secret shown
//! once.

use askama::Template;
use askama_web::WebTemplate;
use chrono::{DateTime, Utc};

use super::PageCtx;
use crate::domain::tokens::{Issued, TokenRow};
use crate::domain::validation::FieldErrors;

/// The creation form as typed, with its errors.
#[derive(Debug, Clone, Default)]
pub struct TokenForm {
    pub name: String,
    pub lifetime_days: String,
    pub project: String,
    pub roles: Vec<String>,
    pub errors: FieldErrors,
}

impl TokenForm {
    pub fn has_role(&self, role: &&str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The roles a token may be narrowed to, in the form's order.
    pub fn role_choices(&self) -> [&'static str; 3] {
        ROLES
    }
}

/// What the shared pieces need beside the page.
#[derive(Debug)]
pub struct TokenPanel {
    pub tokens: Vec<TokenRow>,
    pub now: DateTime<Utc>,
    /// Where the form posts, and the start of each revoke address.
    pub create_action: String,
    pub revoke_base: String,
    /// Lists of everyone's tokens name their owner.
    pub show_owner: bool,
    pub form: TokenForm,
    /// The projects a token may be narrowed to: (slug, name).
    pub projects: Vec<(String, String)>,
    pub max_days: i64,
    /// A token just made: its secret, shown this once.
    pub issued: Option<Issued>,
}

impl TokenPanel {
    /// "active", "expired" or "revoked", as of this page.
    pub fn state_of(&self, token: &TokenRow) -> &'static str {
        token.state(self.now)
    }

    pub fn is_active(&self, token: &TokenRow) -> bool {
        token.is_active(self.now)
    }
}

/// The roles a token may be narrowed to, in the form's order.
pub const ROLES: [&str; 3] = ["viewer", "deployer", "approver"];

#[derive(Template, WebTemplate)]
#[template(path = "account/tokens.html")]
pub struct AccountTokensPage {
    pub page: PageCtx,
    pub panel: TokenPanel,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/tokens.html")]
pub struct AdminTokensPage {
    pub page: PageCtx,
    pub panel: TokenPanel,
    pub max_days_input: String,
    pub errors: FieldErrors,
}
