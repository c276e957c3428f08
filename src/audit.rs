//! The audit log's hash chain: how an entry is hashed and how a chain is verified.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical bytes, so
//! changing, removing or reordering any stored byte breaks every hash after it. [`merkle`] holds the
//! RFC 6962 Merkle tree and its proofs, which signed checkpoints will be built on.

pub mod checkpoint;
pub mod export;
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

impl AuditEntry {
    /// Its place in the Merkle tree: entry `seq` is leaf `seq − 1`, never reused or reordered.
    pub fn leaf_index(&self) -> u64 {
        (self.seq - 1).max(0) as u64
    }

    /// The leaf's bytes: every stored field, as canonical JSON (keys sorted), so that a change to
    /// any stored byte of the entry changes its leaf hash.
    pub fn leaf_bytes(&self) -> Vec<u8> {
        serde_json::json!({
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "kind": self.kind,
            "application_id": self.application_id,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        })
        .to_string()
        .into_bytes()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("audit entry {seq}: sequence gap (expected {expected})")]
    Gap { seq: i64, expected: i64 },
    #[error("audit entry {seq}: prev_hash does not match the hash of entry {}", .seq - 1)]
    BrokenLink { seq: i64 },
    #[error("audit entry {seq}: stored hash does not match its contents (changed after writing)")]
    Tampered { seq: i64 },
    #[error("the Merkle tree stored over the log ({stored} leaves) does not match its {entries} entries")]
    TreeMismatch { stored: u64, entries: u64 },
}

/// Whether the Merkle tree's stored root over the first `stored_size` leaves is the root of the
/// entries as they are now: the tree's hashes cannot be kept while an entry is rewritten.
pub fn verify_tree(entries: &[AuditEntry], stored_size: u64, stored_root: &merkle::Hash) -> Result<(), ChainError> {
    let mut tree = merkle::MemoryTree::default();
    for entry in entries {
        tree.push(&entry.leaf_bytes());
    }
    let recomputed = merkle::root(&tree, tree.size()).unwrap_or_else(|never| match never {});
    if stored_size != tree.size() || recomputed != *stored_root {
        return Err(ChainError::TreeMismatch { stored: stored_size, entries: tree.size() });
    }
    Ok(())
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
