//! Signed checkpoints of the audit log's Merkle tree: the C2SP `tlog-checkpoint` text (origin,
//! tree size, base64 root hash) signed as a C2SP signed note with Ed25519.
//!
//! A note is its text, a blank line, and one signature line `— <key name> <base64(key id ‖
//! signature)>` per signer; the key id is the first four bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖
//! public key), and the verifier key is written `<key name>+<key id as 8 hex digits>+<base64(0x01 ‖
//! public key)>`. The key name is the log's origin.

use std::path::Path;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// The signing key's file in the data directory (a 32-byte Ed25519 seed, mode 0600).
pub const KEY_FILE: &str = "audit-signing.key";
const ED25519: u8 = 0x01;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0A, ED25519]);
    h.update(public);
    h.finalize()[..4].try_into().expect("four bytes")
}

/// The log's signer: its origin (the key's name) and its key.
pub struct LogSigner {
    origin: String,
    key: SigningKey,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSigner").field("origin", &self.origin).finish_non_exhaustive()
    }
}

/// A checkpoint's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note's text: origin, size and root, each on its line.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, b64().encode(self.root))
    }
}

impl LogSigner {
    /// The data directory's signing key, made on first start.
    pub fn load_or_create(data_dir: &Path, origin: &str) -> std::io::Result<Self> {
        let seed = crate::issuance::verification::load_or_create_secret(data_dir, KEY_FILE)?;
        Ok(Self::from_seed(origin, seed))
    }

    pub fn from_seed(origin: &str, seed: [u8; 32]) -> Self {
        Self { origin: origin.to_string(), key: SigningKey::from_bytes(&seed) }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key, in the note `vkey` format.
    pub fn verifier_key(&self) -> String {
        let public = self.key.verifying_key().to_bytes();
        let mut encoded = vec![ED25519];
        encoded.extend_from_slice(&public);
        format!("{}+{}+{}", self.origin, hex::encode(key_id(&self.origin, &public)), b64().encode(encoded))
    }

    /// The signed note of a checkpoint of this log.
    pub fn sign(&self, size: u64, root: &Hash) -> String {
        let body = Checkpoint { origin: self.origin.clone(), size, root: *root }.body();
        let public = self.key.verifying_key().to_bytes();
        let mut signature = key_id(&self.origin, &public).to_vec();
        signature.extend_from_slice(&self.key.sign(body.as_bytes()).to_bytes());
        format!("{body}\n\u{2014} {} {}\n", self.origin, b64().encode(signature))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the verifier key is not `name+keyid+base64(0x01 ‖ key)`")]
    BadKey,
    #[error("the note is not a signed checkpoint (text, blank line, signature lines)")]
    Malformed,
    #[error("no signature by {0} on the checkpoint")]
    Unsigned(String),
    #[error("the signature by {0} does not verify")]
    BadSignature(String),
}

/// Checks a signed checkpoint with a verifier key and returns what it says.
pub fn verify(note: &str, verifier_key: &str) -> Result<Checkpoint, CheckpointError> {
    let mut parts = verifier_key.trim().splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else { return Err(CheckpointError::BadKey) };
    let key = b64().decode(key).map_err(|_| CheckpointError::BadKey)?;
    let (Some(&ED25519), Ok(public)) = (key.first(), <[u8; 32]>::try_from(&key[1.min(key.len())..])) else {
        return Err(CheckpointError::BadKey);
    };
    if hex::encode(key_id(name, &public)) != id {
        return Err(CheckpointError::BadKey);
    }
    let verifying = VerifyingKey::from_bytes(&public).map_err(|_| CheckpointError::BadKey)?;
    let (body, signatures) = note.split_once("\n\n").ok_or(CheckpointError::Malformed)?;
    let body = format!("{body}\n");
    let mut lines = body.lines();
    let (Some(origin), Some(size), Some(root), None) = (lines.next(), lines.next(), lines.next(), lines.next()) else {
        return Err(CheckpointError::Malformed);
    };
    let size: u64 = size.parse().map_err(|_| CheckpointError::Malformed)?;
    let root: Hash = b64().decode(root).ok().and_then(|r| r.try_into().ok()).ok_or(CheckpointError::Malformed)?;
    let prefix = format!("\u{2014} {name} ");
    let mut found = false;
    for line in signatures.lines().filter(|l| !l.is_empty()) {
        let Some(encoded) = line.strip_prefix(&prefix) else { continue };
        let signature = b64().decode(encoded).map_err(|_| CheckpointError::Malformed)?;
        if signature.len() != 68 || hex::encode(&signature[..4]) != id {
            continue;
        }
        found = true;
        let sig = ed25519_dalek::Signature::from_slice(&signature[4..]).map_err(|_| CheckpointError::Malformed)?;
        verifying.verify(body.as_bytes(), &sig).map_err(|_| CheckpointError::BadSignature(name.to_string()))?;
    }
    if !found {
        return Err(CheckpointError::Unsigned(name.to_string()));
    }
    Ok(Checkpoint { origin: origin.to_string(), size, root })
}

/// The default origin: the public address without its scheme, with `/audit` (C2SP origins are
/// schema-less URLs naming the log).
pub fn default_origin(public_url: &str) -> String {
    let bare = public_url.split_once("://").map_or(public_url, |(_, rest)| rest).trim_end_matches('/');
    format!("{bare}/audit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_verifies_with_its_key_and_nothing_else_does() {
        let signer = LogSigner::from_seed("wuxi.example/audit", [7; 32]);
        let root = super::super::merkle::leaf_hash(b"x");
        let note = signer.sign(42, &root);
        let lines: Vec<&str> = note.lines().collect();
        assert_eq!(&lines[..4], ["wuxi.example/audit", "42", b64().encode(root).as_str(), ""]);
        assert!(lines[4].starts_with("\u{2014} wuxi.example/audit "), "{note}");
        let key = signer.verifier_key();
        assert!(key.starts_with("wuxi.example/audit+") && key.split('+').nth(1).unwrap().len() == 8, "{key}");
        assert_eq!(verify(&note, &key), Ok(Checkpoint { origin: "wuxi.example/audit".into(), size: 42, root }));

        let forged = note.replace("\n42\n", "\n43\n");
        assert_eq!(verify(&forged, &key), Err(CheckpointError::BadSignature("wuxi.example/audit".into())));
        let other = LogSigner::from_seed("wuxi.example/audit", [8; 32]);
        assert!(matches!(verify(&note, &other.verifier_key()), Err(CheckpointError::Unsigned(_))), "another key's id does not match");
        let mut flipped = note.clone().into_bytes();
        let at = note.rfind(' ').unwrap() + 10;
        flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
        assert!(verify(&String::from_utf8(flipped).unwrap(), &key).is_err(), "a changed signature byte");
        assert_eq!(verify("no note", &key), Err(CheckpointError::Malformed));
        assert_eq!(verify(&note, "garbage"), Err(CheckpointError::BadKey));
        assert_eq!(default_origin("https://zwfw.wuxi.example/"), "zwfw.wuxi.example/audit");
    }

    #[cfg(unix)]
    #[test]
    fn the_signing_key_is_made_once_with_mode_0600_and_kept() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let first = LogSigner::load_or_create(dir.path(), "o/audit").unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = LogSigner::load_or_create(dir.path(), "o/audit").unwrap();
        assert_eq!(first.verifier_key(), again.verifier_key());
        assert!(!format!("{first:?}").contains(&hex::encode(first.key.to_bytes())), "the key is never printed");
    }
}
