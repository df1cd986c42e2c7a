//! Who the user is, on the web: the PostgreSQL session store, the typed
//! session, CSRF protection, the app's sealed cookies (the login form's
//! token, messages for the next page) and the signed-in user. Password
//! hashing and random tokens are below the domain, in `crypto`.

pub mod app_cookie;
pub mod csrf;
pub mod current_user;
pub mod flash;
pub mod login_csrf;
pub mod session;
pub mod session_store;
pub mod site;

pub use current_user::CurrentUser;
pub use session::TypedSession;
