//! Primitives below everything else: password hashing and random tokens.
//! The domain (accounts, sign-in) and the web layer (sessions, CSRF) both
//! build on them, so they belong to neither.

pub mod password;
pub mod random;
