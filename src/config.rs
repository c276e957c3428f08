//! Configuration: one typed struct per command, read from flags and `ONEWINDOW_*` variables.
//! The doc comment of each field is its `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::reading::{ReadLimits, Reader};

/// Limits on what an upload and its reading may cost, and the models that read it.
#[derive(Debug, Clone, Args)]
pub struct LimitsConfig {
    /// Largest accepted file, in bytes.
    #[arg(long, env = "ONEWINDOW_MAX_FILE_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub max_file_bytes: u64,
    /// Largest total of all files of one application, in bytes.
    #[arg(long, env = "ONEWINDOW_MAX_APPLICATION_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_application_bytes: u64,
    /// Most files one application may hold.
    #[arg(long, env = "ONEWINDOW_MAX_FILES", default_value_t = 40)]
    pub max_files: usize,
    /// Time limit for reading one PDF, in seconds.
    #[arg(long, env = "ONEWINDOW_PDF_TIMEOUT_SECS", default_value_t = 10)]
    pub pdf_timeout_secs: u64,
    /// Address-space limit of the isolated PDF reader, in MiB.
    #[arg(long, env = "ONEWINDOW_PDF_MEMORY_MIB", default_value_t = 1024)]
    pub pdf_memory_mib: u64,
    /// Largest width or height of an image (photo or scanned page), in pixels.
    #[arg(long, env = "ONEWINDOW_MAX_IMAGE_SIDE", default_value_t = 10_000)]
    pub max_image_side: u32,
    /// Most memory one image may take once decoded, in MiB.
    #[arg(long, env = "ONEWINDOW_MAX_IMAGE_MIB", default_value_t = 256)]
    pub max_image_mib: u64,
    /// Most decisions queued or running; a submission beyond it is answered 429 with Retry-After
    /// instead of waiting behind them.
    #[arg(long, env = "ONEWINDOW_MAX_QUEUED_DECISIONS", default_value_t = 200)]
    pub max_queued_decisions: usize,
    /// How many images are OCR'd at once in this process (each run uses every core).
    #[arg(long, env = "ONEWINDOW_OCR_CONCURRENCY", default_value_t = 1)]
    pub ocr_concurrency: usize,
    /// The models directory, with its MANIFEST.toml; the service refuses to start if a file is
    /// missing or differs from its pinned SHA-256.
    #[arg(long, env = "ONEWINDOW_MODELS_DIR", default_value_os_t = crate::models::default_models_dir())]
    pub models_dir: PathBuf,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: 20 * 1024 * 1024,
            max_application_bytes: 100 * 1024 * 1024,
            max_files: 40,
            pdf_timeout_secs: 10,
            pdf_memory_mib: 1024,
            max_image_side: 10_000,
            max_image_mib: 256,
            max_queued_decisions: 200,
            ocr_concurrency: 1,
            models_dir: crate::models::default_models_dir(),
        }
    }
}

impl LimitsConfig {
    pub fn read_limits(&self) -> ReadLimits {
        ReadLimits {
            max_file_bytes: self.max_file_bytes,
            pdf_timeout: Duration::from_secs(self.pdf_timeout_secs),
            pdf_memory_bytes: self.pdf_memory_mib * 1024 * 1024,
            image: crate::reading::image::ImageLimits { max_side: self.max_image_side, max_alloc_bytes: self.max_image_mib * 1024 * 1024 },
        }
    }

    /// The reading stage with its OCR models and the text encoder, verified against the manifest
    /// and loaded once. `helper_exe` is this project's binary, which reads PDFs in a child process.
    pub fn reader(&self, helper_exe: PathBuf) -> anyhow::Result<Reader> {
        let (ocr, encoder) = crate::models::load_all(&self.models_dir, self.ocr_concurrency)?;
        Ok(Reader::new(self.read_limits(), helper_exe).with_ocr(ocr).with_encoder(encoder))
    }
}

/// Where the rule set lives.
#[derive(Debug, Clone, Args)]
pub struct RulesConfig {
    /// Directory of the rule files (`rules/` of the repository).
    #[arg(long, env = "ONEWINDOW_RULES_DIR", default_value_os_t = default_rules_dir())]
    pub rules_dir: PathBuf,
}

/// The rules directory beside the binary's source tree when run from a checkout, else `./rules`.
pub fn default_rules_dir() -> PathBuf {
    let local = PathBuf::from("rules");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")
}

/// `onewindow serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "ONEWINDOW_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Data directory: the SQLite database and the stored documents (created if missing).
    #[arg(long, env = "ONEWINDOW_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL; default: the SQLite file `onewindow.db` in the data directory.
    #[arg(long, env = "ONEWINDOW_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The address the public reaches this service at; certificates' QR codes point below it.
    #[arg(long, env = "ONEWINDOW_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,
    /// Number of background decision workers in this process.
    #[arg(long, env = "ONEWINDOW_WORKERS", default_value_t = 2)]
    pub workers: usize,
    #[command(flatten)]
    pub rules: RulesConfig,
    #[command(flatten)]
    pub limits: LimitsConfig,
}
