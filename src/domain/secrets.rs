//! Secret variable values: encrypted at rest with XChaCha20-Poly1305 under
//! a key derived (HKDF-SHA256) from `STAGECOACH_SECRET_KEY`, never shown
//! again, and masked wherever they could appear.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand_core::{OsRng, RngCore};
use sha2::Sha256;

/// What a secret looks like on every page, log and answer.
pub const MASK: &str = "••••";

const NONCE_LEN: usize = 24;

#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a secret could not be decrypted (was STAGECOACH_SECRET_KEY changed?)")]
pub struct OpenError;

fn aad(name: &str) -> Vec<u8> {
    format!("stagecoach-variable:{name}").into_bytes()
}

impl SecretBox {
    #[allow(
        clippy::expect_used,
        reason = "32 bytes is a valid HKDF-SHA256 output length, a constant"
    )]
    pub fn from_secret_key(secret_key: &str) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"stagecoach"), secret_key.as_bytes());
        let mut key = [0u8; 32];
        hk.expand(b"variables/v1", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// Encrypts `value` for the variable `name`: nonce followed by ciphertext.
    #[allow(
        clippy::expect_used,
        reason = "XChaCha20-Poly1305 refuses only messages of hundreds of gigabytes"
    )]
    pub fn seal(&self, name: &str, value: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let aad = aad(name);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("encrypting in memory cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        sealed
    }

    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<String, OpenError> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let aad = aad(name);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError)?;
        String::from_utf8(plain).map_err(|_| OpenError)
    }
}

/// Replaces every occurrence of each secret in `text` with [`MASK`]
/// (longest first, so a secret containing another is masked whole).
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_owned();
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_the_same_key_and_name() {
        let sb = SecretBox::from_secret_key("k".repeat(40).as_str());
        let sealed = sb.seal("DB_PASSWORD", "hunter2-hunter2");
        assert!(!String::from_utf8_lossy(&sealed).contains("hunter2"));
        assert_eq!(sb.open("DB_PASSWORD", &sealed).unwrap(), "hunter2-hunter2");
        assert!(sb.open("OTHER", &sealed).is_err(), "bound to its name");
        let other = SecretBox::from_secret_key("x".repeat(40).as_str());
        assert!(other.open("DB_PASSWORD", &sealed).is_err());
        assert_ne!(
            sealed,
            sb.seal("DB_PASSWORD", "hunter2-hunter2"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn masking_hides_every_occurrence_longest_first() {
        let secrets = vec!["abc".to_owned(), "abcdef".to_owned(), String::new()];
        assert_eq!(mask("x abcdef y abc", &secrets), "x •••• y ••••");
        assert_eq!(mask("nothing here", &secrets), "nothing here");
    }
}
