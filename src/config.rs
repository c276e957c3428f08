//! Configuration: one typed struct per command, read from flags and `ONEWINDOW_*` variables.
//! The doc comment of each field is its `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::reading::ReadLimits;

/// Limits on what an upload and its reading may cost.
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
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: 20 * 1024 * 1024,
            max_application_bytes: 100 * 1024 * 1024,
            max_files: 40,
            pdf_timeout_secs: 10,
            pdf_memory_mib: 1024,
        }
    }
}

impl LimitsConfig {
    pub fn read_limits(&self) -> ReadLimits {
        ReadLimits {
            max_file_bytes: self.max_file_bytes,
            pdf_timeout: Duration::from_secs(self.pdf_timeout_secs),
            pdf_memory_bytes: self.pdf_memory_mib * 1024 * 1024,
        }
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
