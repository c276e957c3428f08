//! The content-addressed blob store: uploaded bytes under their SHA-256, never modified, checked
//! against that hash whenever they are read. Where the bytes live is a [`BlobBackend`]: a local
//! directory (the default, `DATA_DIR/blobs`; several instances on one machine may share it), or
//! any `object_store` store (`--blob-store file:///srv/blobs`; `s3://bucket/prefix` with the `s3`
//! build feature), so that instances on several machines share their documents. The hashing and the
//! check live here, once, so that no backend can skip them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::domain::sha256_hex;

/// Where blobs are kept: raw bytes by name. A backend stores each name once and never changes it.
#[async_trait::async_trait]
pub trait BlobBackend: Send + Sync + std::fmt::Debug {
    /// Stores `bytes` under `sha256` unless something is stored there already. Durable (as far as
    /// the backend can make it) before it returns, since a database row will name it.
    async fn put_new(&self, sha256: &str, bytes: Vec<u8>) -> std::io::Result<()>;
    /// What is stored under `sha256`, as it is; `NotFound` when nothing is.
    async fn read(&self, sha256: &str) -> std::io::Result<Vec<u8>>;
}

/// The blob store every part of the service uses. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobStore {
    backend: Arc<dyn BlobBackend>,
}

impl BlobStore {
    /// A local directory, created if missing.
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        Ok(Self::new(Arc::new(LocalDir::open(root)?)))
    }

    pub fn new(backend: Arc<dyn BlobBackend>) -> Self {
        Self { backend }
    }

    /// Opens the store `url` names (`file:///dir`, `s3://bucket/prefix`), or, without one, the
    /// local directory `default_dir`.
    pub fn open_url(url: Option<&str>, default_dir: &Path) -> anyhow::Result<Self> {
        match url {
            None => Ok(Self::open(default_dir)?),
            Some(url) => Ok(Self::new(Arc::new(objects::Objects::from_url(url)?))),
        }
    }

    /// Stores `bytes` and returns their hash. Storing the same bytes twice is a no-op.
    pub async fn put(&self, bytes: Vec<u8>) -> std::io::Result<String> {
        let (bytes, sha256) = hashed(bytes).await?;
        self.backend.put_new(&sha256, bytes).await?;
        Ok(sha256)
    }

    /// What is stored under `sha256` now: its bytes' own hash and its size (for the audit export,
    /// which reports an edited file rather than refusing it).
    pub async fn content_hash(&self, sha256: &str) -> std::io::Result<(String, u64)> {
        let (bytes, found) = hashed(self.backend.read(sha256).await?).await?;
        Ok((found, bytes.len() as u64))
    }

    /// Reads a blob and checks it still has the hash it is stored under.
    pub async fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        let (bytes, found) = hashed(self.backend.read(sha256).await?).await?;
        if found != sha256 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("blob {sha256} does not match its hash")));
        }
        Ok(bytes)
    }
}

/// The bytes with their hash, hashed off the async runtime (a document may be a hundred MiB).
async fn hashed(bytes: Vec<u8>) -> std::io::Result<(Vec<u8>, String)> {
    tokio::task::spawn_blocking(move || {
        let sha256 = sha256_hex(&bytes);
        (bytes, sha256)
    })
    .await
    .map_err(std::io::Error::other)
}

/// A hash is 64 lowercase hex digits; anything else names no blob (and no path outside the store).
fn checked(sha256: &str) -> std::io::Result<&str> {
    if sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(sha256)
    } else {
        Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{sha256:?} is not a SHA-256")))
    }
}

/// Blobs as files under `root/ab/abcd…`.
#[derive(Debug)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    fn path(&self, sha256: &str) -> std::io::Result<PathBuf> {
        let sha256 = checked(sha256)?;
        Ok(self.root.join(&sha256[..2]).join(sha256))
    }

    /// Written to a temporary file, synced, then renamed, so a crash never leaves a partial blob
    /// under a valid name.
    fn put_blocking(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if path.exists() {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        // The rename itself must survive a power loss before a row may name the blob.
        std::fs::File::open(dir)?.sync_all()
    }
}

#[async_trait::async_trait]
impl BlobBackend for LocalDir {
    async fn put_new(&self, sha256: &str, bytes: Vec<u8>) -> std::io::Result<()> {
        let path = self.path(sha256)?;
        tokio::task::spawn_blocking(move || Self::put_blocking(&path, &bytes)).await.map_err(std::io::Error::other)?
    }

    async fn read(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        tokio::fs::read(self.path(sha256)?).await
    }
}

pub mod objects {
    //! Blobs in an `object_store` store, under `PREFIX/blobs/ab/abcd…`.

    use std::sync::Arc;

    use object_store::path::Path as ObjectPath;
    use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};

    use super::{checked, BlobBackend};

    #[derive(Debug)]
    pub struct Objects {
        store: Arc<dyn ObjectStore>,
        prefix: ObjectPath,
    }

    impl Objects {
        pub fn new(store: Arc<dyn ObjectStore>, prefix: ObjectPath) -> Self {
            Self { store, prefix }
        }

        /// `file:///dir` (a local or shared file system, through `object_store`), or `s3://bucket/prefix`
        /// (built with the `s3` feature; credentials and endpoint from the usual `AWS_*` variables).
        pub fn from_url(url: &str) -> anyhow::Result<Self> {
            if let Some(dir) = url.strip_prefix("file://") {
                anyhow::ensure!(dir.starts_with('/'), "a file:// blob store needs an absolute path (file:///srv/blobs), not {url}");
                std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("creating the blob directory {dir}: {e}"))?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(dir)?.with_fsync(true);
                return Ok(Self::new(Arc::new(store), ObjectPath::from("blobs")));
            }
            if url.starts_with("s3://") {
                return s3(url);
            }
            anyhow::bail!("the blob store must be file:///DIR or s3://BUCKET/PREFIX, not {}", crate::config::redact_url(url))
        }

        fn path(&self, sha256: &str) -> std::io::Result<ObjectPath> {
            let sha256 = checked(sha256)?;
            Ok(self.prefix.clone().join(&sha256[..2]).join(sha256))
        }
    }

    #[cfg(feature = "s3")]
    fn s3(url: &str) -> anyhow::Result<Objects> {
        let store = object_store::aws::AmazonS3Builder::from_env().with_url(url).build()?;
        let prefix = url.strip_prefix("s3://").and_then(|rest| rest.split_once('/')).map(|(_, prefix)| prefix).unwrap_or_default();
        Ok(Objects::new(Arc::new(store), ObjectPath::from(prefix).join("blobs")))
    }

    #[cfg(not(feature = "s3"))]
    fn s3(_url: &str) -> anyhow::Result<Objects> {
        anyhow::bail!("this build has no S3 support: build with `--features s3`, or use a file:/// blob store")
    }

    fn io_error(error: object_store::Error) -> std::io::Error {
        match error {
            object_store::Error::NotFound { .. } => std::io::Error::new(std::io::ErrorKind::NotFound, error),
            other => std::io::Error::other(other),
        }
    }

    #[async_trait::async_trait]
    impl BlobBackend for Objects {
        async fn put_new(&self, sha256: &str, bytes: Vec<u8>) -> std::io::Result<()> {
            let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
            match self.store.put_opts(&self.path(sha256)?, PutPayload::from(bytes), options).await {
                // Content-addressed: what is there already is these bytes (reads check it).
                Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
                Err(error) => Err(io_error(error)),
            }
        }

        async fn read(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
            let found = self.store.get(&self.path(sha256)?).await.map_err(io_error)?;
            Ok(found.bytes().await.map_err(io_error)?.to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn behaves(store: BlobStore, tamper: impl AsyncFn(&str, &[u8])) {
        let sha = store.put(b"hello".to_vec()).await.unwrap();
        assert_eq!(sha, sha256_hex(b"hello"));
        assert_eq!(store.put(b"hello".to_vec()).await.unwrap(), sha, "storing again is a no-op");
        assert_eq!(store.get(&sha).await.unwrap(), b"hello");
        let missing = sha256_hex(b"never stored");
        assert_eq!(store.get(&missing).await.unwrap_err().kind(), std::io::ErrorKind::NotFound);
        assert_eq!(store.get("../../etc/passwd").await.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        tamper(&sha, b"HELLO").await;
        assert_eq!(store.get(&sha).await.unwrap_err().kind(), std::io::ErrorKind::InvalidData, "verified on read");
        assert_eq!(store.content_hash(&sha).await.unwrap(), (sha256_hex(b"HELLO"), 5));
    }

    #[tokio::test]
    async fn a_local_directory_stores_by_hash_and_checks_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        let store = BlobStore::open(&root).unwrap();
        behaves(store, async |sha, bytes| std::fs::write(root.join(&sha[..2]).join(sha), bytes).unwrap()).await;
    }

    #[tokio::test]
    async fn an_object_store_stores_by_hash_and_checks_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("shared").display());
        let store = BlobStore::open_url(Some(&url), Path::new("unused")).unwrap();
        let root = dir.path().join("shared/blobs");
        behaves(store, async |sha, bytes| std::fs::write(root.join(&sha[..2]).join(sha), bytes).unwrap()).await;
        // Two instances opening one store see each other's blobs.
        let other = BlobStore::open_url(Some(&url), Path::new("unused")).unwrap();
        let sha = other.put(b"from the other instance".to_vec()).await.unwrap();
        let first = BlobStore::open_url(Some(&url), Path::new("unused")).unwrap();
        assert_eq!(first.get(&sha).await.unwrap(), b"from the other instance");
    }

    /// On an S3-compatible store (a build with `--features s3`): `ONEWINDOW_TEST_S3_URL` names an
    /// existing bucket (`s3://bucket/prefix`), the `AWS_*` variables its endpoint and credentials.
    /// Skipped without it; `tools/s3-test` runs it against a local moto server.
    #[cfg(feature = "s3")]
    #[tokio::test]
    async fn an_s3_store_stores_by_hash_and_checks_on_read() {
        let Ok(url) = std::env::var("ONEWINDOW_TEST_S3_URL") else {
            eprintln!("skipped: ONEWINDOW_TEST_S3_URL names no bucket");
            return;
        };
        let url = format!("{url}/{}", uuid::Uuid::new_v4());
        let store = BlobStore::open_url(Some(&url), Path::new("unused")).unwrap();
        let raw = object_store::aws::AmazonS3Builder::from_env().with_url(&url).build().unwrap();
        let prefix = url.strip_prefix("s3://").and_then(|r| r.split_once('/')).map(|(_, p)| p.to_string()).unwrap();
        behaves(store, async |sha, bytes| {
            use object_store::ObjectStoreExt as _;
            let path = object_store::path::Path::from(prefix.as_str()).join("blobs").join(&sha[..2]).join(sha);
            raw.put(&path, bytes.to_vec().into()).await.unwrap();
        })
        .await;
    }

    #[test]
    fn a_blob_store_url_must_be_one_it_knows() {
        for url in ["file://relative/dir", "ftp://host/x", "postgres://u:secret@h/d"] {
            let error = BlobStore::open_url(Some(url), Path::new("unused")).unwrap_err().to_string();
            assert!(!error.contains("secret"), "{error}");
        }
    }
}
