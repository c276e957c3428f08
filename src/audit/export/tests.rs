//! The offline verifier against every way of changing a log the issue names: each single-byte
//! change to a stored entry, a dropped entry, two swapped, a truncated tail, a tail rewritten with
//! fresh hashes (and no key), a blob named but not exported, a checkpoint with a bad signature.

use super::*;
use crate::audit::checkpoint::LogSigner;
use crate::audit::{entry_hash, GENESIS_HASH};

const ORIGIN: &str = "onewindow.test/audit";

fn signer() -> LogSigner {
    LogSigner::from_seed(ORIGIN, [7; 32])
}

/// Rebuilds every entry's chain hash from `from` (0-based) on, as one who can write the
/// database but has no key would.
fn rechain(entries: &mut [AuditEntry], from: usize) {
    let mut prev = if from == 0 { GENESIS_HASH.to_string() } else { entries[from - 1].hash.clone() };
    for entry in &mut entries[from..] {
        entry.prev_hash = prev.clone();
        entry.hash = entry_hash(entry.seq, &entry.at, &entry.actor, &entry.kind, entry.application_id.as_deref(), &entry.payload, &prev);
        prev = entry.hash.clone();
    }
}

fn entries(n: i64) -> Vec<AuditEntry> {
    let mut entries: Vec<AuditEntry> = (1..=n)
        .map(|seq| {
            let (kind, payload) = if seq == 2 {
                ("document.stored", format!("{{\"sha256\":\"{}\",\"size_bytes\":3}}", "ab".repeat(32)))
            } else {
                ("application.decided", format!("{{\"n\":{seq},\"outcome\":\"issued\"}}"))
            };
            AuditEntry {
                seq,
                at: format!("2026-11-28T00:00:{seq:02}Z"),
                actor: "system:decider".into(),
                kind: kind.into(),
                application_id: Some("4b1c0a2e-0000-4000-8000-000000000001".into()),
                payload,
                prev_hash: String::new(),
                hash: String::new(),
            }
        })
        .collect();
    rechain(&mut entries, 0);
    entries
}

fn signed_at(entries: &[AuditEntry], size: u64) -> String {
    let mut tree = MemoryTree::default();
    entries.iter().for_each(|e| tree.push(&e.leaf_bytes()));
    signer().sign(size, &merkle::root(&tree, size).unwrap())
}

/// An export of ten entries with checkpoints at 3, 6 and 10, and the checkpoint of 10 an
/// auditor kept.
fn export(entries: &[AuditEntry], checkpoints: &[u64]) -> Vec<Line> {
    export_signed(entries, entries, checkpoints)
}

/// An export of `entries` with the checkpoints signed over `signed` (the log as it was).
fn export_signed(entries: &[AuditEntry], signed: &[AuditEntry], checkpoints: &[u64]) -> Vec<Line> {
    let notes: Vec<(u64, String)> = checkpoints.iter().map(|&s| (s, signed_at(signed, s))).collect();
    let mut out = Vec::new();
    write(&mut out, &lines(ORIGIN, entries.to_vec(), vec![blob("ab".repeat(32))], notes)).unwrap();
    read(out.as_slice()).unwrap()
}

fn blob(content_sha256: String) -> StoredBlob {
    StoredBlob { sha256: "ab".repeat(32), content_sha256, size_bytes: 3 }
}

fn key() -> String {
    signer().verifier_key()
}

#[test]
fn an_untouched_export_verifies_with_and_without_a_kept_checkpoint() {
    let log = entries(10);
    let kept = signed_at(&log, 10);
    let lines = export(&log, &[3, 6, 10]);
    let verified = verify(&lines, &key(), Some(&kept)).unwrap();
    assert_eq!((verified.entries, verified.checkpoints, verified.blobs, verified.signed_size), (10, 3, 1, Some(10)));
    assert_eq!(verify(&lines, &key(), None).unwrap().root, verified.root);
    let older = signed_at(&log[..4], 4);
    assert!(verify(&lines, &key(), Some(&older)).is_ok(), "a checkpoint kept from a smaller log is consistent with it");
}

#[test]
fn every_single_byte_change_to_a_stored_entry_is_found() {
    let log = entries(10);
    let kept = signed_at(&log, 10);
    let mut tried = 0;
    for i in 0..log.len() {
        for field in 0..7 {
            let text = |e: &AuditEntry| match field {
                0 => e.at.clone(),
                1 => e.actor.clone(),
                2 => e.kind.clone(),
                3 => e.application_id.clone().unwrap_or_default(),
                4 => e.payload.clone(),
                5 => e.prev_hash.clone(),
                _ => e.hash.clone(),
            };
            for at in 0..text(&log[i]).len() {
                let mut changed = log.clone();
                let mut bytes = text(&changed[i]).into_bytes();
                bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
                let value = String::from_utf8(bytes).unwrap();
                let entry = &mut changed[i];
                match field {
                    0 => entry.at = value,
                    1 => entry.actor = value,
                    2 => entry.kind = value,
                    3 => entry.application_id = Some(value),
                    4 => entry.payload = value,
                    5 => entry.prev_hash = value,
                    _ => entry.hash = value,
                }
                // The exporter serves what the database now holds; its own checkpoints are the old ones.
                let mut lines = export(&log, &[3, 6, 10]);
                for (line, entry) in lines[1..=10].iter_mut().zip(&changed) {
                    *line = Line::Entry(entry.clone());
                }
                assert!(verify(&lines, &key(), Some(&kept)).is_err(), "entry {} field {field} byte {at}", i + 1);
                assert!(verify(&lines, &key(), None).is_err(), "without a kept checkpoint too: entry {} field {field} byte {at}", i + 1);
                tried += 1;
            }
        }
    }
    assert!(tried > 1_500, "{tried} changes tried");
}

#[test]
fn a_dropped_entry_two_swapped_and_a_truncated_tail_are_found() {
    let log = entries(10);
    let kept = signed_at(&log, 10);
    let mut dropped = log.clone();
    dropped.remove(4);
    assert_eq!(verify(&export(&dropped, &[3]), &key(), Some(&kept)), Err(ExportError::Truncated { size: 10, entries: 9 }));
    assert!(matches!(verify(&export(&dropped, &[3]), &key(), None), Err(ExportError::Chain(ChainError::Gap { seq: 6, .. }))));
    let mut swapped = log.clone();
    swapped.swap(3, 4);
    assert!(matches!(verify(&export(&swapped, &[3]), &key(), None), Err(ExportError::Chain(_))));
    // Cut to seven entries, with every checkpoint past them deleted: only the kept one tells.
    let truncated = &log[..7];
    assert!(verify(&export(truncated, &[3, 6]), &key(), None).is_ok());
    assert_eq!(verify(&export(truncated, &[3, 6]), &key(), Some(&kept)), Err(ExportError::Truncated { size: 10, entries: 7 }));
    let mut lines = export(&log, &[3, 6, 10]);
    lines.truncate(8);
    let checkpoints: Vec<Line> = export(&log, &[3, 6, 10]).into_iter().filter(|l| matches!(l, Line::Checkpoint { .. })).collect();
    lines.extend(checkpoints);
    assert!(matches!(verify(&lines, &key(), None), Err(ExportError::SizeMismatch { .. } | ExportError::Truncated { .. })));
}

#[test]
fn a_tail_rewritten_with_fresh_hashes_fails_against_a_checkpoint_signed_before() {
    let log = entries(10);
    let kept = signed_at(&log, 10);
    let mut rewritten = log.clone();
    rewritten[7].payload = "{\"n\":8,\"outcome\":\"refused\"}".into();
    rechain(&mut rewritten, 7);
    assert!(crate::audit::verify_chain(&rewritten).is_ok(), "the chain alone is fooled");
    // The server's checkpoints of 10 would give it away; one who rewrites the log deletes them.
    assert_eq!(verify(&export_signed(&rewritten, &log, &[3, 6, 10]), &key(), None), Err(ExportError::Rewritten { size: 10 }));
    let without = export_signed(&rewritten, &log, &[3, 6]);
    assert_eq!(verify(&without, &key(), None).unwrap().signed_size, Some(6), "the unsigned tail is reported, not vouched for");
    assert_eq!(verify(&without, &key(), Some(&kept)), Err(ExportError::Rewritten { size: 10 }));
}

#[test]
fn a_bad_signature_a_foreign_key_and_a_missing_blob_are_refused() {
    let log = entries(10);
    let mut lines = export(&log, &[3, 10]);
    if let Some(Line::Checkpoint { note, .. }) = lines.last_mut() {
        // A byte of the signature itself, past the key id's base64.
        let at = note.trim_end().len() - 5;
        let mut bytes = note.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        *note = String::from_utf8(bytes).unwrap();
    }
    assert!(
        matches!(verify(&lines, &key(), None), Err(ExportError::Signature { size: 10, error: CheckpointError::BadSignature(_) })),
        "a signature that does not verify"
    );
    let stranger = LogSigner::from_seed(ORIGIN, [9; 32]);
    let foreign = stranger.sign(10, &verify(&export(&log, &[]), &key(), None).unwrap().root);
    assert!(matches!(verify(&export(&log, &[3]), &key(), Some(&foreign)), Err(ExportError::KeptUnsigned { .. })));
    let mut unlisted = export(&log, &[3]);
    unlisted.retain(|l| !matches!(l, Line::Blob { .. }));
    assert!(matches!(verify(&unlisted, &key(), None), Err(ExportError::MissingBlob { seq: 2, .. })));
    let mut edited = export(&log, &[3]);
    for line in &mut edited {
        if let Line::Blob { content_sha256, .. } = line {
            *content_sha256 = "cd".repeat(32);
        }
    }
    assert!(matches!(verify(&edited, &key(), None), Err(ExportError::ChangedBlob { seq: 2, .. })), "a document edited on disk");
    assert_eq!(verify(&[], &key(), None), Err(ExportError::NoHeader));
}
