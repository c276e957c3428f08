//! The audit log's hash chain: how an entry is hashed and how a chain is verified.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical bytes, so
//! changing, removing or reordering any stored byte breaks every hash after it. [`merkle`] holds the
//! RFC 6962 Merkle tree and its proofs, which signed checkpoints will be built on.

pub mod merkle;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An audit event as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub application_id: Option<String>,
    /// Canonical JSON of the event's details (input and output hashes, rule-set hash, outcome …).
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an entry whose fields are given, chained to `prev_hash`.
pub fn entry_hash(seq: i64, at: &str, actor: &str, kind: &str, application_id: Option<&str>, payload: &str, prev_hash: &str) -> String {
    let canonical = serde_json::json!({
        "seq": seq,
        "at": at,
        "actor": actor,
        "kind": kind,
        "application_id": application_id,
        "payload": payload,
    });
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("audit entry {seq}: sequence gap (expected {expected})")]
    Gap { seq: i64, expected: i64 },
    #[error("audit entry {seq}: prev_hash does not match the hash of entry {}", .seq - 1)]
    BrokenLink { seq: i64 },
    #[error("audit entry {seq}: stored hash does not match its contents (changed after writing)")]
    Tampered { seq: i64 },
}

/// Verifies entries in order; returns the number verified or the first bad entry.
pub fn verify_chain<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> Result<u64, ChainError> {
    let mut prev = GENESIS_HASH.to_string();
    let mut n = 0;
    for (expected_seq, entry) in (1..).zip(entries) {
        if entry.seq != expected_seq {
            return Err(ChainError::Gap { seq: entry.seq, expected: expected_seq });
        }
        if entry.prev_hash != prev {
            return Err(ChainError::BrokenLink { seq: entry.seq });
        }
        let hash =
            entry_hash(entry.seq, &entry.at, &entry.actor, &entry.kind, entry.application_id.as_deref(), &entry.payload, &entry.prev_hash);
        if hash != entry.hash {
            return Err(ChainError::Tampered { seq: entry.seq });
        }
        prev = entry.hash.clone();
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let payload = format!("{{\"n\":{seq}}}");
                let hash = entry_hash(seq, "2026-11-28T00:00:00Z", "system", "test", Some("app"), &payload, &prev);
                let entry = AuditEntry {
                    seq,
                    at: "2026-11-28T00:00:00Z".into(),
                    actor: "system".into(),
                    kind: "test".into(),
                    application_id: Some("app".into()),
                    payload,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                entry
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify_chain(&chain(5)), Ok(5));
    }

    #[test]
    fn a_changed_byte_names_the_first_bad_entry() {
        let mut entries = chain(5);
        entries[2].payload = "{\"n\":4}".into();
        assert_eq!(verify_chain(&entries), Err(ChainError::Tampered { seq: 3 }));
        let mut entries = chain(5);
        entries.remove(1);
        assert_eq!(verify_chain(&entries), Err(ChainError::Gap { seq: 3, expected: 2 }));
    }
}
