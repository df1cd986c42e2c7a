use askama::Template;
use askama_web::WebTemplate;

use super::PageCtx;
use crate::domain::approvals::InboxItem;
use crate::domain::ids::UserId;

#[derive(Template, WebTemplate)]
#[template(path = "approvals/inbox.html")]
pub struct InboxPage {
    pub page: PageCtx,
    pub items: Vec<InboxItem>,
    /// Deployments waiting at a manual step for an approver here.
    pub manual: Vec<crate::domain::approvals::ManualItem>,
    pub me: UserId,
}
