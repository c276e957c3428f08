//! Domain types: codes, the application lifecycle and the decision. No I/O here.

pub mod address;
pub mod application;
pub mod calendar;
pub mod credit_code;
pub mod decision;
pub mod id_number;
pub mod permit;
pub mod phone;
pub mod pii;
pub mod rating;
pub mod retirement;
pub mod user;

/// The lowercase hex SHA-256 of `bytes`: how documents, blobs and decisions are named.
/// Whether two byte strings are equal, in time that depends on their length only (tokens, codes).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}
