//! The content-addressed blob store: uploaded bytes on disk under their SHA-256, never modified.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::domain::sha256_hex;

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("xx");
        self.root.join(prefix).join(sha256)
    }

    /// Stores `bytes` and returns their hash. Written to a temporary file, synced, then renamed, so
    /// a crash never leaves a partial blob under a valid name. Storing the same bytes twice is a no-op.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        let sha256 = sha256_hex(bytes);
        let path = self.path(&sha256);
        if path.exists() {
            return Ok(sha256);
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        // The rename itself must survive a power loss before a row may name the blob.
        std::fs::File::open(dir)?.sync_all()?;
        Ok(sha256)
    }

    /// What is stored under `sha256` now: its bytes' own hash and its size (for the audit export,
    /// which reports an edited file rather than refusing it).
    pub fn content_hash(&self, sha256: &str) -> std::io::Result<(String, u64)> {
        let bytes = std::fs::read(self.path(sha256))?;
        Ok((sha256_hex(&bytes), bytes.len() as u64))
    }

    /// Reads a blob and checks it still has the hash it is stored under.
    pub fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        let bytes = std::fs::read(self.path(sha256))?;
        if sha256_hex(&bytes) != sha256 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("blob {sha256} does not match its hash")));
        }
        Ok(bytes)
    }
}
