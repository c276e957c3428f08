//! The audit log exported for auditors, and its verification with no server and no database.
//!
//! An export is JSON lines, each an object tagged by `type`: first a `header` (format, origin and
//! size), then every `entry` in log order (the stored fields, from which each leaf's bytes are
//! rebuilt), every stored document (`blob`) with its bytes' hash and size as read back from disk,
//! and every kept `checkpoint`'s signed note.
//! [`verify`] recomputes the chain, every leaf and the root, checks every checkpoint's signature
//! and root against the entries and that each is consistent with the next (RFC 9162 proofs), and
//! checks a checkpoint the auditor kept from before: a log rewritten since, even with fresh chain
//! hashes and a fresh tree, no longer has the root that checkpoint signed; and checks that every
//! document an entry names was exported with the hash and size the entry gives. It names the first
//! thing wrong. The exporter reads and hashes every document; the verifier trusts that reading
//! (it has no documents), so an export is as good as the machine that made it.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use super::checkpoint::{self, Checkpoint, CheckpointError};
use super::merkle::{self, MemoryTree};
use super::{verify_chain, AuditEntry, ChainError};

/// The export format's name and version, in its header.
pub const FORMAT: &str = "onewindow-audit-export/1";

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Header {
        format: String,
        origin: String,
        size: u64,
    },
    Entry(AuditEntry),
    /// A stored document as the exporter found it on disk: the hash it is stored under, its
    /// bytes' own hash (`missing` when the file is gone) and its size.
    Blob {
        sha256: String,
        content_sha256: String,
        size_bytes: u64,
    },
    Checkpoint {
        size: u64,
        note: String,
    },
}

/// An export's lines: the header, the entries, the blobs' hashes and the checkpoints.
pub fn lines(origin: &str, entries: Vec<AuditEntry>, blobs: Vec<StoredBlob>, checkpoints: Vec<(u64, String)>) -> Vec<Line> {
    let header = Line::Header { format: FORMAT.into(), origin: origin.into(), size: entries.len() as u64 };
    std::iter::once(header)
        .chain(entries.into_iter().map(Line::Entry))
        .chain(blobs.into_iter().map(|b| Line::Blob { sha256: b.sha256, content_sha256: b.content_sha256, size_bytes: b.size_bytes }))
        .chain(checkpoints.into_iter().map(|(size, note)| Line::Checkpoint { size, note }))
        .collect()
}

/// Writes an export's lines, one JSON object a line.
pub fn write(out: &mut impl Write, lines: &[Line]) -> std::io::Result<()> {
    for line in lines {
        serde_json::to_writer(&mut *out, line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// A stored document as read back for an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub sha256: String,
    pub content_sha256: String,
    pub size_bytes: u64,
}

/// What a verified export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub root: merkle::Hash,
    pub checkpoints: usize,
    pub blobs: usize,
    /// The newest checkpoint's size, when there is one.
    pub signed_size: Option<u64>,
}

/// The first thing wrong with an export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("line {line}: {message}")]
    Unreadable { line: usize, message: String },
    #[error("the export has no header line, or not the format {FORMAT}")]
    NoHeader,
    #[error("the header says {said} entries, the export holds {held}: entries were added or dropped")]
    SizeMismatch { said: u64, held: u64 },
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("an entry names document {sha256} (entry {seq}), which is not among the export's blobs")]
    MissingBlob { seq: i64, sha256: String },
    #[error("document {sha256} (entry {seq}) was changed or lost on disk: its bytes hash to {found}, {size} bytes")]
    ChangedBlob { seq: i64, sha256: String, found: String, size: u64 },
    #[error("checkpoint of {size} entries: {error}")]
    Signature { size: u64, error: CheckpointError },
    #[error("checkpoint of {size} entries is for the log {origin}, not this key's")]
    WrongOrigin { size: u64, origin: String },
    #[error("checkpoint of {size} entries: the log holds only {entries}: it was truncated")]
    Truncated { size: u64, entries: u64 },
    #[error(
        "checkpoint of {size} entries: its root is not the root of the first {size} entries: the log was rewritten since it was signed"
    )]
    Rewritten { size: u64 },
    #[error("checkpoints of {first} and {second} entries are not consistent")]
    Inconsistent { first: u64, second: u64 },
    #[error("the checkpoint you kept ({size} entries) is not signed by this key: {error}")]
    KeptUnsigned { size: u64, error: CheckpointError },
}

/// Reads an export's lines.
pub fn read(input: impl BufRead) -> Result<Vec<Line>, ExportError> {
    let mut lines = Vec::new();
    for (number, text) in (1..).zip(input.lines()) {
        let text = text.map_err(|e| ExportError::Unreadable { line: number, message: e.to_string() })?;
        if text.trim().is_empty() {
            continue;
        }
        lines.push(serde_json::from_str(&text).map_err(|e| ExportError::Unreadable { line: number, message: e.to_string() })?);
    }
    Ok(lines)
}

/// The documents the entries name (an upload's `sha256` and `size_bytes`), with the entry that
/// names each.
pub fn named_documents(entries: &[AuditEntry]) -> Vec<(i64, String, Option<u64>)> {
    entries
        .iter()
        .filter(|e| e.kind == "document.stored")
        .filter_map(|e| {
            let payload: serde_json::Value = serde_json::from_str(&e.payload).ok()?;
            Some((e.seq, payload.get("sha256")?.as_str()?.to_string(), payload.get("size_bytes").and_then(serde_json::Value::as_u64)))
        })
        .collect()
}

/// Checks a signed checkpoint against the tree of the entries: its signature by `key`, its
/// origin, its size within the log, its root the root of that many entries.
fn check_against(note: &str, key: &str, tree: &MemoryTree, kept: bool) -> Result<Checkpoint, ExportError> {
    let said_size = note.lines().nth(1).and_then(|l| l.parse().ok()).unwrap_or(0);
    let signed = checkpoint::verify(note, key).map_err(|error| {
        if kept {
            ExportError::KeptUnsigned { size: said_size, error }
        } else {
            ExportError::Signature { size: said_size, error }
        }
    })?;
    let origin = key.trim().split('+').next().unwrap_or_default();
    if signed.origin != origin {
        return Err(ExportError::WrongOrigin { size: signed.size, origin: signed.origin });
    }
    if signed.size > tree.size() {
        return Err(ExportError::Truncated { size: signed.size, entries: tree.size() });
    }
    let root = merkle::root(tree, signed.size).unwrap_or_else(|never| match never {});
    if root != signed.root {
        return Err(ExportError::Rewritten { size: signed.size });
    }
    Ok(signed)
}

/// Verifies an export with the log's verifier key and, when given, a checkpoint kept from before.
pub fn verify(lines: &[Line], key: &str, kept: Option<&str>) -> Result<Verified, ExportError> {
    let Some(Line::Header { format, size: said, .. }) = lines.first() else { return Err(ExportError::NoHeader) };
    if format != FORMAT {
        return Err(ExportError::NoHeader);
    }
    let mut entries = Vec::new();
    let mut blobs = std::collections::BTreeMap::new();
    let mut notes = Vec::new();
    for line in &lines[1..] {
        match line {
            Line::Header { .. } => return Err(ExportError::NoHeader),
            Line::Entry(entry) => entries.push(entry.clone()),
            Line::Blob { sha256, content_sha256, size_bytes } => drop(blobs.insert(sha256.clone(), (content_sha256.clone(), *size_bytes))),
            Line::Checkpoint { note, .. } => notes.push(note.clone()),
        }
    }
    // A kept checkpoint first: it tells a truncated or rewritten log apart from a merely broken one.
    let mut tree = MemoryTree::default();
    for entry in &entries {
        tree.push(&entry.leaf_bytes());
    }
    if let Some(note) = kept {
        check_against(note, key, &tree, true)?;
    }
    verify_chain(&entries)?;
    if *said != entries.len() as u64 {
        return Err(ExportError::SizeMismatch { said: *said, held: entries.len() as u64 });
    }
    for (seq, sha256, size) in named_documents(&entries) {
        let Some((found, stored_size)) = blobs.get(&sha256) else { return Err(ExportError::MissingBlob { seq, sha256 }) };
        if *found != sha256 || size.is_some_and(|s| s != *stored_size) {
            return Err(ExportError::ChangedBlob { seq, sha256, found: found.clone(), size: *stored_size });
        }
    }
    let mut signed: Vec<Checkpoint> = notes.iter().map(|n| check_against(n, key, &tree, false)).collect::<Result<_, _>>()?;
    signed.sort_by_key(|c| c.size);
    for pair in signed.windows(2) {
        let (first, second) = (&pair[0], &pair[1]);
        let proof = merkle::consistency_proof(&tree, first.size, second.size).unwrap_or_else(|never| match never {}).unwrap_or_default();
        merkle::verify_consistency(first.size, second.size, &proof, &first.root, &second.root)
            .map_err(|_| ExportError::Inconsistent { first: first.size, second: second.size })?;
    }
    Ok(Verified {
        entries: tree.size(),
        root: merkle::root(&tree, tree.size()).unwrap_or_else(|never| match never {}),
        checkpoints: signed.len(),
        blobs: blobs.len(),
        signed_size: signed.last().map(|c| c.size),
    })
}

#[cfg(test)]
mod tests;
