//! argon2id password hashing. Hashing is deliberately slow, so callers run
//! it on a blocking thread, never on an async worker.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::OsRng;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 128;

/// OWASP's recommended argon2id parameters: m=19 MiB, t=2, p=1.
#[allow(
    clippy::expect_used,
    reason = "constant parameters within argon2's bounds; every hash in the tests uses them"
)]
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a password was not accepted as a new password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("Use at least {MIN_LENGTH} characters.")]
    TooShort,
    #[error("Use at most {MAX_LENGTH} characters.")]
    TooLong,
}

/// Length is the rule (counted in characters, not bytes).
pub fn check_policy(password: &str) -> Result<(), PasswordPolicyError> {
    let len = password.chars().count();
    if len < MIN_LENGTH {
        Err(PasswordPolicyError::TooShort)
    } else if len > MAX_LENGTH {
        Err(PasswordPolicyError::TooLong)
    } else {
        Ok(())
    }
}

/// A PHC-format argon2id hash with a fresh random salt.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?
        .to_string())
}

/// True when `password` matches `phc`. A malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Verifies against a throwaway hash, so an unknown username costs the same
/// time as a wrong password and timing does not tell which it was.
#[allow(
    clippy::expect_used,
    reason = "hashing a fresh random password cannot fail; answering without a real hash would leak timing"
)]
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| {
        hash(&crate::crypto::random::token_hex(16)).expect("hashing a random dummy password")
    });
    let _ = verify(password, phc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_own_password_only() {
        let phc = hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse batterY", &phc));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn policy_counts_characters_between_12_and_128() {
        assert_eq!(check_policy("short"), Err(PasswordPolicyError::TooShort));
        assert_eq!(
            check_policy("ééééééééééé"),
            Err(PasswordPolicyError::TooShort)
        );
        assert_eq!(check_policy("éééééééééééé"), Ok(()));
        assert_eq!(check_policy(&"x".repeat(128)), Ok(()));
        assert_eq!(
            check_policy(&"x".repeat(129)),
            Err(PasswordPolicyError::TooLong)
        );
    }
}
