//! Configuration: one typed struct per command, read from flags and `ONEWINDOW_*` variables.
//! The doc comment of each field is its `--help`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::reading::ReadLimits;
use crate::rules::{RuleFiles, RuleSet, RuleSetError};

use crate::reading::image::{DEFAULT_MAX_MIB, DEFAULT_MAX_SIDE};
use crate::reading::{DEFAULT_APPLICATION_READ_BUDGET_SECS, DEFAULT_MAX_FILE_BYTES, DEFAULT_PDF_MEMORY_MIB, DEFAULT_PDF_TIMEOUT_SECS};

/// The defaults of the limits that are not reading's own, written once.
pub const DEFAULT_MAX_APPLICATION_BYTES: u64 = 100 * 1024 * 1024;
pub const DEFAULT_MAX_FILES: usize = 40;
pub const DEFAULT_MAX_QUEUED_DECISIONS: usize = 200;
/// A business files a handful of applications a year; twenty in a day is a script.
pub const DEFAULT_MAX_APPLICATIONS_PER_DAY: usize = 20;
/// What one account may store over all its applications, withdrawn files included.
pub const DEFAULT_MAX_ACCOUNT_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Working days to close a work order opened by a bad rating (local rules use 5, 7 or 15).
pub const DEFAULT_WORK_ORDER_DAYS: u32 = 5;
pub const DEFAULT_OCR_CONCURRENCY: usize = 1;

/// Limits on what an upload and its reading may cost, and the models that read it.
#[derive(Debug, Clone, Args)]
pub struct LimitsConfig {
    /// Largest accepted file, in bytes.
    #[arg(long, env = "ONEWINDOW_MAX_FILE_BYTES", default_value_t = DEFAULT_MAX_FILE_BYTES)]
    pub max_file_bytes: u64,
    /// Largest total of all files of one application, in bytes.
    #[arg(long, env = "ONEWINDOW_MAX_APPLICATION_BYTES", default_value_t = DEFAULT_MAX_APPLICATION_BYTES)]
    pub max_application_bytes: u64,
    /// Most files one application may hold.
    #[arg(long, env = "ONEWINDOW_MAX_FILES", default_value_t = DEFAULT_MAX_FILES)]
    pub max_files: usize,
    /// Time limit for reading one PDF, in seconds.
    #[arg(long, env = "ONEWINDOW_PDF_TIMEOUT_SECS", default_value_t = DEFAULT_PDF_TIMEOUT_SECS)]
    pub pdf_timeout_secs: u64,
    /// Time limit for reading all of one application's documents (text layers and OCR), in seconds;
    /// over it the case goes to a person after that one attempt (checked between documents and
    /// pages, so a run may overrun by one PDF or one page).
    #[arg(long, env = "ONEWINDOW_APPLICATION_READ_BUDGET_SECS", default_value_t = DEFAULT_APPLICATION_READ_BUDGET_SECS)]
    pub application_read_budget_secs: u64,
    /// Address-space limit of the isolated PDF reader, in MiB.
    #[arg(long, env = "ONEWINDOW_PDF_MEMORY_MIB", default_value_t = DEFAULT_PDF_MEMORY_MIB)]
    pub pdf_memory_mib: u64,
    /// Largest width or height of an image (photo or scanned page), in pixels.
    #[arg(long, env = "ONEWINDOW_MAX_IMAGE_SIDE", default_value_t = DEFAULT_MAX_SIDE)]
    pub max_image_side: u32,
    /// Most memory one image may take once decoded, in MiB.
    #[arg(long, env = "ONEWINDOW_MAX_IMAGE_MIB", default_value_t = DEFAULT_MAX_MIB)]
    pub max_image_mib: u64,
    /// Most decisions queued or running; a submission beyond it is answered 429 with Retry-After
    /// instead of waiting behind them.
    #[arg(long, env = "ONEWINDOW_MAX_QUEUED_DECISIONS", default_value_t = DEFAULT_MAX_QUEUED_DECISIONS)]
    pub max_queued_decisions: usize,
    /// Most applications one account may create in a day (UTC).
    #[arg(long, env = "ONEWINDOW_MAX_APPLICATIONS_PER_DAY", default_value_t = DEFAULT_MAX_APPLICATIONS_PER_DAY)]
    pub max_applications_per_day: usize,
    /// Most bytes one account may store over all its applications, withdrawn files included.
    #[arg(long, env = "ONEWINDOW_MAX_ACCOUNT_BYTES", default_value_t = DEFAULT_MAX_ACCOUNT_BYTES)]
    pub max_account_bytes: u64,
    /// Working days a work order opened by a bad rating (差评) has to be closed in. The national
    /// text sets no number; local rules use 5, 7 or 15.
    #[arg(long, env = "ONEWINDOW_WORK_ORDER_DAYS", default_value_t = DEFAULT_WORK_ORDER_DAYS)]
    pub work_order_days: u32,
    /// How many images are OCR'd at once in this process (each run uses every core).
    #[arg(long, env = "ONEWINDOW_OCR_CONCURRENCY", default_value_t = DEFAULT_OCR_CONCURRENCY)]
    pub ocr_concurrency: usize,
    /// The models directory, with its MANIFEST.toml; the service refuses to start if a file is
    /// missing or differs from its pinned SHA-256.
    #[arg(long, env = "ONEWINDOW_MODELS_DIR", default_value_os_t = crate::models::default_models_dir())]
    pub models_dir: PathBuf,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_application_bytes: DEFAULT_MAX_APPLICATION_BYTES,
            max_files: DEFAULT_MAX_FILES,
            pdf_timeout_secs: DEFAULT_PDF_TIMEOUT_SECS,
            application_read_budget_secs: DEFAULT_APPLICATION_READ_BUDGET_SECS,
            pdf_memory_mib: DEFAULT_PDF_MEMORY_MIB,
            max_image_side: DEFAULT_MAX_SIDE,
            max_image_mib: DEFAULT_MAX_MIB,
            max_queued_decisions: DEFAULT_MAX_QUEUED_DECISIONS,
            max_applications_per_day: DEFAULT_MAX_APPLICATIONS_PER_DAY,
            max_account_bytes: DEFAULT_MAX_ACCOUNT_BYTES,
            work_order_days: DEFAULT_WORK_ORDER_DAYS,
            ocr_concurrency: DEFAULT_OCR_CONCURRENCY,
            models_dir: crate::models::default_models_dir(),
        }
    }
}

impl LimitsConfig {
    pub fn case_limits(&self) -> crate::usecases::CaseLimits {
        crate::usecases::CaseLimits {
            max_file_bytes: self.max_file_bytes,
            max_files: self.max_files,
            max_application_bytes: self.max_application_bytes,
            max_queued_decisions: self.max_queued_decisions,
            max_applications_per_day: self.max_applications_per_day,
            max_account_bytes: self.max_account_bytes,
            work_order_days: self.work_order_days,
        }
    }

    pub fn read_limits(&self) -> ReadLimits {
        ReadLimits {
            max_file_bytes: self.max_file_bytes,
            pdf_timeout: Duration::from_secs(self.pdf_timeout_secs),
            application_budget: Duration::from_secs(self.application_read_budget_secs),
            pdf_memory_bytes: self.pdf_memory_mib * 1024 * 1024,
            image: crate::reading::image::ImageLimits { max_side: self.max_image_side, max_alloc_bytes: self.max_image_mib * 1024 * 1024 },
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

impl RuleSet {
    /// Reads every `.toml` file under `dir` (recursively) and loads them. The rule set itself reads
    /// no files: this is the one place its files come from disk.
    pub fn load_dir(dir: &Path) -> Result<Self, RuleSetError> {
        Self::from_files(read_rules_dir(dir)?)
    }
}

/// Every `.toml` file under `dir` (recursively), by path relative to it.
pub fn read_rules_dir(dir: &Path) -> Result<RuleFiles, RuleSetError> {
    let mut files = RuleFiles::new();
    collect_files(dir, dir, &mut files)?;
    Ok(files)
}

fn collect_files(root: &Path, dir: &Path, files: &mut RuleFiles) -> Result<(), RuleSetError> {
    let io = |error: std::io::Error| RuleSetError::Io { path: dir.display().to_string(), error: error.to_string() };
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(io)?.collect::<Result<_, _>>().map_err(io)?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, files)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            let text =
                std::fs::read_to_string(&path).map_err(|e| RuleSetError::Io { path: path.display().to_string(), error: e.to_string() })?;
            files.insert(relative, text);
        }
    }
    Ok(())
}

/// `onewindow serve`.
#[derive(Clone, Args)]
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
    /// Where the uploaded documents are kept: `file:///DIR` (a directory every instance mounts)
    /// or `s3://BUCKET/PREFIX` (with the `s3` build feature); default: the data directory's `blobs`.
    #[arg(long, env = "ONEWINDOW_BLOB_STORE")]
    pub blob_store: Option<String>,
    /// The address the public reaches this service at; certificates' QR codes point below it.
    #[arg(long, env = "ONEWINDOW_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,
    /// The audit log's name in its signed checkpoints (a schema-less URL); default: the public
    /// address without its scheme, with `/audit`.
    #[arg(long, env = "ONEWINDOW_AUDIT_ORIGIN")]
    pub audit_origin: Option<String>,
    /// Number of background decision workers in this process.
    #[arg(long, env = "ONEWINDOW_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// How long a claimed decision job is held before another worker (of any instance on the
    /// database) may take it over, in seconds. By default it outlasts the longest run the reading
    /// limits allow (at least 5 min); a shorter lease hands a dead instance's jobs over sooner but
    /// lets a slow decision be taken over too: it is still decided once, by the latest claim
    /// (the earlier run's result is discarded), and a decision slower than the lease every time
    /// reaches its last attempt and goes to a person.
    /// From 1 s to a week: a lease of 0 would hand every job to every worker.
    #[arg(long, env = "ONEWINDOW_JOB_LEASE_SECS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub job_lease_secs: Option<u64>,
    #[command(flatten)]
    pub rules: RulesConfig,
    #[command(flatten)]
    pub limits: LimitsConfig,
    #[command(flatten)]
    pub sessions: SessionConfig,
}

/// How long a signed-in browser stays signed in.
#[derive(Debug, Clone, Args)]
pub struct SessionConfig {
    /// A session ends after this many minutes without a request.
    #[arg(long, env = "ONEWINDOW_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: u32,
    /// A session ends this many hours after signing in, however busy.
    #[arg(long, env = "ONEWINDOW_SESSION_MAX_HOURS", default_value_t = 12)]
    pub session_max_hours: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { session_idle_minutes: 30, session_max_hours: 12 }
    }
}

impl SessionConfig {
    pub fn limits(&self) -> crate::usecases::accounts::SessionLimits {
        crate::usecases::accounts::SessionLimits {
            idle_ms: i64::from(self.session_idle_minutes) * 60_000,
            absolute_ms: i64::from(self.session_max_hours) * 3_600_000,
        }
    }
}

impl ServeConfig {
    /// The audit log's origin: as set, or derived from the public address.
    pub fn audit_origin(&self) -> String {
        self.audit_origin.clone().unwrap_or_else(|| crate::audit::checkpoint::default_origin(&self.public_url))
    }
}

/// The database URL is redacted: it may carry a password.
impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("blob_store", &self.blob_store.as_deref().map(redact_url))
            .field("public_url", &self.public_url)
            .field("audit_origin", &self.audit_origin)
            .field("workers", &self.workers)
            .field("rules", &self.rules)
            .field("limits", &self.limits)
            .field("sessions", &self.sessions)
            .finish()
    }
}

/// `scheme://user:secret@host/db` → `scheme://user:***@host/db`; a URL without a password as it is.
pub fn redact_url(url: &str) -> String {
    // The password first, up to the last `@` (a password may hold `?`, `#`, `/` or `@` unescaped).
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    // Without a `:` before it, or with a user name holding `/`, `?` or `#` (which no user name
    // does), an `@` is no password's end (a user alone, or an `@` in the query).
    let userinfo = rest.rsplit_once('@').and_then(|(userinfo, after)| Some((userinfo.split_once(':')?, after)));
    let (prefix, after) = match userinfo.filter(|((user, _), _)| !user.contains(['/', '?', '#'])) {
        Some(((user, _secret), after)) => (format!("{scheme}://{user}:***@"), after),
        None => (format!("{scheme}://"), rest),
    };
    // Then secrets in the query (`?password=…`, `sslpassword=…`, a signed URL's key).
    let Some((host, query)) = after.split_once('?') else { return format!("{prefix}{after}") };
    let base = format!("{prefix}{host}");
    let secret = |name: &str| ["password", "secret", "token", "key", "signature"].iter().any(|s| name.to_ascii_lowercase().contains(s));
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if secret(name) => format!("{name}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_password_never_reaches_the_debug_output() {
        assert_eq!(redact_url("postgres://onewindow:s3cret@db.internal/onewindow"), "postgres://onewindow:***@db.internal/onewindow");
        assert_eq!(redact_url("postgres://onewindow@db/onewindow"), "postgres://onewindow@db/onewindow");
        assert_eq!(redact_url("sqlite://data/onewindow.db"), "sqlite://data/onewindow.db");
        assert_eq!(
            redact_url("postgres://db/onewindow?user=u&password=hunter2&sslmode=require&sslpassword=p2"),
            "postgres://db/onewindow?user=u&password=***&sslmode=require&sslpassword=***"
        );
        assert_eq!(redact_url("postgres://u:pw@db/x?sslmode=disable"), "postgres://u:***@db/x?sslmode=disable");
        assert_eq!(redact_url("postgres://db/x?password=a@b&user=u"), "postgres://db/x?password=***&user=u");
        assert_eq!(redact_url("postgres://db/x?password=a:c@b"), "postgres://db/x?password=***");
        for raw in ["postgres://u:p?ss@h/d", "postgres://u:p#ss@h/d", "postgres://u:p@ss@h/d", "postgres://u:p/ss@h/d"] {
            assert_eq!(redact_url(raw), "postgres://u:***@h/d", "{raw}");
        }
        let config = ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: "data".into(),
            database_url: Some("postgres://u:hunter2@h/d".into()),
            blob_store: Some("s3://bucket/p?secret_access_key=hunter3".into()),
            public_url: "http://x".into(),
            audit_origin: None,
            workers: 1,
            job_lease_secs: None,
            rules: RulesConfig { rules_dir: "rules".into() },
            limits: LimitsConfig::default(),
            sessions: SessionConfig::default(),
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("hunter3") && printed.contains("u:***@h"), "{printed}");
    }

    #[test]
    fn the_flags_defaults_are_the_limits_defaults() {
        use clap::Parser;
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            limits: LimitsConfig,
        }
        let parsed = Flags::try_parse_from(["onewindow"]).unwrap().limits;
        let default = LimitsConfig::default();
        assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
        assert_eq!(format!("{:?}", default.read_limits()), format!("{:?}", ReadLimits::default()));
    }
}
