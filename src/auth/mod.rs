//! Who the user is: password hashing, the PostgreSQL session store, the typed
//! session, CSRF protection and the signed-in user.

pub mod csrf;
pub mod current_user;
pub mod login_csrf;
pub mod password;
pub mod random;
pub mod session;
pub mod session_store;
pub mod site;

pub use current_user::CurrentUser;
pub use session::TypedSession;
