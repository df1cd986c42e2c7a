//! Addresses the web layer builds and checks: where sign-in returns to.
//! Here rather than in the login route so that the error page (which
//! redirects to sign-in) and any route can use them without reaching into
//! another route.

/// `/login?next=…`, the address sign-in returns to.
pub fn login_url(next: &str) -> String {
    if next == "/" || next.is_empty() {
        return "/login".to_owned();
    }
    serde_urlencoded::to_string([("next", next)])
        .map_or_else(|_| "/login".to_owned(), |q| format!("/login?{q}"))
}

/// Only a local path is a place to return to: no other site (`//host`,
/// `/\host`), no control characters, and not the login or logout pages.
pub fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(char::is_control);
    if !local || next.starts_with("/login") || next.starts_with("/logout") {
        "/"
    } else {
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(safe_next("/projects/x?y=1"), "/projects/x?y=1");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("//evil.example"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
        assert_eq!(safe_next("/login"), "/");
        assert_eq!(safe_next(""), "/");
    }

    #[test]
    fn login_url_carries_next_encoded() {
        assert_eq!(login_url("/"), "/login");
        assert_eq!(login_url("/a b?c=d"), "/login?next=%2Fa+b%3Fc%3Dd");
    }
}
