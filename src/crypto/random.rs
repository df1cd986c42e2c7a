//! Random tokens from the operating system's CSPRNG.

use rand_core::{OsRng, RngCore};

/// `bytes` random bytes, hex-encoded.
pub fn token_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_have_the_requested_length_and_differ() {
        let a = super::token_hex(32);
        let b = super::token_hex(32);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
