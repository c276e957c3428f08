//! The command line: `serve`, `decide`, `replay`, `audit verify`, `bench`, and the hidden PDF reader.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use crate::config::{LimitsConfig, RulesConfig, ServeConfig};
use crate::pipeline::{InputFile, Pipeline};
use crate::rules::RuleSet;

mod audit;

#[derive(Debug, Parser)]
#[command(name = "onewindow", version, about = "一窗 onewindow: AI-assisted permit approval")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How logs are written to standard error: `text` for people, `json` (one object a line) for
    /// log collectors.
    #[arg(long, global = true, env = "ONEWINDOW_LOG_FORMAT", value_enum, ignore_case = true, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API and the background decision workers.
    Serve(ServeConfig),
    /// Decide one application from local files and print the decision JSON.
    Decide(DecideArgs),
    /// Re-run the recorded decisions of an application and check they reproduce byte for byte.
    Replay(ReplayArgs),
    /// Account commands.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Audit-log commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Read one file as the service would (PDF text layer, or OCR of a photo or scan) and print
    /// its lines with their confidence as JSON.
    Read(ReadArgs),
    /// Time the decision of every fixture package and print latency percentiles.
    Bench(BenchArgs),
    /// Drive many applicants at once through create, upload and submit against a running service;
    /// print throughput, p50/p99 per step, 429s and errors (fails on any 5xx or unanswered request).
    Load(crate::load::LoadArgs),
    /// Fit the encoder's document-kind and discharge-category heads on the labelled fixtures,
    /// measure their calibration on the held-out packages, write `models/encoder/heads.json` and pin it.
    TrainHeads(crate::train::TrainArgs),
    /// Fit how surely a label no synonym list holds must resemble a field's labels to be read as
    /// that field (leave-one-label-out over rules/documents.toml), and print the pair and its
    /// cross-fitted precision and recall.
    FitLabels(crate::train::labels::FitLabelsArgs),
    /// Read one PDF from stdin under resource limits (used by the service itself).
    #[command(name = "__read-pdf", hide = true)]
    ReadPdf {
        #[arg(long)]
        memory_bytes: u64,
        #[arg(long)]
        cpu_seconds: u64,
    },
}

#[derive(Debug, clap::Args)]
struct ReadArgs {
    /// The file to read.
    file: PathBuf,
    #[command(flatten)]
    limits: LimitsConfig,
}

#[derive(Debug, clap::Args)]
struct DecideArgs {
    /// Service id, e.g. `drainage-permit`.
    #[arg(long)]
    service: String,
    /// The application form, a JSON file.
    #[arg(long)]
    form: PathBuf,
    /// Submission date (YYYY-MM-DD); default today.
    #[arg(long)]
    at: Option<NaiveDate>,
    /// The uploaded materials.
    files: Vec<PathBuf>,
    #[command(flatten)]
    rules: RulesConfig,
    #[command(flatten)]
    limits: LimitsConfig,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Create an account and print its API token (last line, shown once; only its hash is stored).
    Add {
        /// What the account may do.
        #[arg(long, value_enum)]
        role: crate::domain::user::Role,
        /// A unique name, e.g. the reviewer's name.
        name: String,
        /// Read the account's password for the pages from standard input (its first line), so it
        /// never appears in the process list or the shell's history.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Set an existing account's password (first line of standard input); ends its sessions.
    Password {
        name: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify the audit log: its hash chain, its Merkle tree, every kept checkpoint's signature
    /// and root, and (on a data directory) every stored document and decision the entries name,
    /// re-hashed; or, with `--offline`, an export with no server and no database. Fails naming the
    /// first thing wrong.
    Verify(audit::VerifyArgs),
    /// Write every entry, the stored documents' hashes and every checkpoint to a file (JSON
    /// lines) for `audit verify --offline`.
    Export {
        #[command(flatten)]
        storage: StorageArgs,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the verifier key of the log's signed checkpoints (the signing key is made in the data
    /// directory on first use, mode 0600, and never printed).
    Key {
        #[command(flatten)]
        storage: StorageArgs,
        /// As for `serve`: the origin is derived from it unless `--audit-origin` is given.
        #[arg(long, env = "ONEWINDOW_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
        public_url: String,
        #[arg(long, env = "ONEWINDOW_AUDIT_ORIGIN")]
        audit_origin: Option<String>,
    },
}

/// Where the data lives (as for `serve`).
#[derive(Debug, clap::Args)]
pub(crate) struct StorageArgs {
    /// Data directory: the SQLite database and the stored documents.
    #[arg(long, env = "ONEWINDOW_DATA_DIR", default_value = "./data")]
    pub(crate) data_dir: PathBuf,
    /// Database URL; default: the SQLite file in the data directory.
    #[arg(long, env = "ONEWINDOW_DATABASE_URL")]
    pub(crate) database_url: Option<String>,
    /// Where the documents are: `file:///DIR` or `s3://BUCKET/PREFIX`; default: the data
    /// directory's `blobs`.
    #[arg(long, env = "ONEWINDOW_BLOB_STORE")]
    pub(crate) blob_store: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The application whose decisions to replay.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    application_id: Option<String>,
    /// Replay every recorded decision of every application, with a progress bar, and report each
    /// one that differs.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    limits: LimitsConfig,
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Directory of fixture packages (one sub-directory per case, with form.json and expected.json).
    #[arg(long, default_value = "fixtures/drainage-permit")]
    fixtures: PathBuf,
    /// How many times to decide the whole set.
    #[arg(long, default_value_t = 5)]
    iterations: usize,
    /// Instead: time OCR of a licence photo and a one-page scan from this photo fixture directory,
    /// beside rapidocr-onnxruntime on the same images when python3 has it.
    #[arg(long, value_name = "PHOTO_FIXTURES")]
    ocr: Option<PathBuf>,
    /// Instead: time the understanding (keyword and encoder readings) of this fixture package's
    /// documents, read once beforehand, and of one business scope's category.
    #[arg(long, value_name = "PACKAGE", conflicts_with = "ocr")]
    encoder: Option<PathBuf>,
    /// Instead: appends per second and proof latency of the audit log, on generated logs of
    /// these sizes (for example `--audit 100000,1000000`).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["ocr", "encoder"])]
    audit: Vec<u64>,
    /// With `--audit`: on this empty database (a Postgres URL; one size), not a fresh SQLite file.
    /// It is filled with generated entries: never point it at a service's database.
    #[arg(long, requires = "audit")]
    database_url: Option<String>,
    /// Print the time each OCR network spends per operator kind, on every run (to stderr).
    #[arg(long, env = "ONEWINDOW_GRAPH_PROFILE")]
    graph_profile: bool,
    #[command(flatten)]
    rules: RulesConfig,
    #[command(flatten)]
    limits: LimitsConfig,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                error.exit();
            }
            // Scripts rely on one line (CONTRACT.md): clap's first line names the problem.
            // Scripts rely on one line (CONTRACT.md): clap's message up to its usage block, joined.
            let rendered = error.render().to_string();
            let message: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("onewindow: {}", message.join(" ").trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    if let Command::ReadPdf { memory_bytes, cpu_seconds } = cli.command {
        return match crate::reading::pdf::run_child(memory_bytes, cpu_seconds) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    crate::models::keep_freed_memory_for_reuse();
    init_tracing(cli.log_format);
    if let Command::Bench(args) = &cli.command {
        vision::graph::profile_operators(args.graph_profile);
    }
    let result = match cli.command {
        Command::Serve(config) => crate::app::serve(config),
        Command::Decide(args) => decide(args),
        Command::Read(args) => read(args),
        Command::TrainHeads(args) => crate::train::train(args),
        Command::FitLabels(args) => crate::train::labels::fit_labels(args),
        Command::Replay(args) => replay(args),
        Command::Users { command: UsersCommand::Add { role, name, password_stdin, storage } } => {
            users_add(role, &name, password_stdin, storage)
        }
        Command::Users { command: UsersCommand::Password { name, storage } } => users_password(&name, storage),
        Command::Audit { command: AuditCommand::Verify(args) } => audit::verify(args),
        Command::Audit { command: AuditCommand::Export { storage, out } } => audit::export(&storage, &out),
        Command::Audit { command: AuditCommand::Key { storage, public_url, audit_origin } } => {
            audit::key(&storage, &public_url, audit_origin)
        }
        Command::Load(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")
            .and_then(|runtime| runtime.block_on(crate::load::command(args))),
        Command::Bench(args) if !args.audit.is_empty() => crate::bench::run_audit(&args.audit, args.database_url.as_deref()),
        Command::Bench(args) => match (args.ocr, args.encoder) {
            (Some(photos), _) => crate::bench::run_ocr(photos, args.iterations, || shipped_reader(&args.limits)),
            (None, Some(package)) => RuleSet::load_dir(&args.rules.rules_dir)
                .with_context(|| format!("loading rules from {}", args.rules.rules_dir.display()))
                .and_then(|rules| crate::bench::run_encoder(package, args.iterations, rules, || shipped_reader_and_encoder(&args.limits))),
            (None, None) => crate::bench::run(args.fixtures, args.iterations, build_pipeline(&args.rules, &args.limits)),
        },
        Command::ReadPdf { .. } => unreachable!("handled above"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("onewindow: {}", format!("{error:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ONEWINDOW_LOG").unwrap_or_else(|_| "onewindow=info,warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().flatten_event(true).try_init(),
    };
}

/// The rule set and the pipeline with the shipped models, for commands that decide without a server.
pub fn build_pipeline(rules: &RulesConfig, limits: &LimitsConfig) -> anyhow::Result<Pipeline> {
    let ruleset = RuleSet::load_dir(&rules.rules_dir).with_context(|| format!("loading rules from {}", rules.rules_dir.display()))?;
    Ok(crate::app::pipeline(Arc::new(ruleset), limits, crate::app::this_exe()?, crate::app::Inference::load(limits)?))
}

fn decide(args: DecideArgs) -> anyhow::Result<()> {
    let pipeline = build_pipeline(&args.rules, &args.limits)?;
    let form_text = std::fs::read_to_string(&args.form).with_context(|| format!("reading form {}", args.form.display()))?;
    let form: serde_json::Value =
        serde_json::from_str(&form_text).with_context(|| format!("form {} is not valid JSON", args.form.display()))?;
    let mut files = Vec::new();
    for path in &args.files {
        let bytes = std::fs::read(path).with_context(|| format!("cannot open {}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| path.display().to_string());
        files.push(InputFile::new(name, bytes));
    }
    let at = args.at.unwrap_or_else(|| chrono::Local::now().date_naive());
    let decision = pipeline.run(&args.service, &form, &files, at)?;
    println!("{}", serde_json::to_string_pretty(&decision)?);
    Ok(())
}

/// The reader with the shipped OCR, and the shipped encoder, for commands that read without deciding.
fn shipped_reader_and_encoder(
    limits: &LimitsConfig,
) -> anyhow::Result<(crate::reading::Reader, Option<crate::understanding::encoded::EncoderReader>)> {
    let inference = crate::app::Inference::load(limits)?;
    Ok((crate::app::reader(limits, crate::app::this_exe()?, inference.ocr), inference.encoder))
}

fn shipped_reader(limits: &LimitsConfig) -> anyhow::Result<crate::reading::Reader> {
    Ok(shipped_reader_and_encoder(limits)?.0)
}

fn read(args: ReadArgs) -> anyhow::Result<()> {
    let reader = shipped_reader(&args.limits)?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    println!("{}", serde_json::to_string_pretty(&reader.read(&bytes))?);
    Ok(())
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")
}

fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    if args.all {
        return audit::replay_all(&args.storage, &args.limits);
    }
    runtime()?.block_on(async {
        let (store, blobs) =
            crate::app::open_storage(&args.storage.data_dir, args.storage.database_url.as_deref(), args.storage.blob_store.as_deref())
                .await?;
        let inference = crate::app::Inference::load(&args.limits)?;
        let given = args.application_id.unwrap_or_default();
        let id = crate::domain::application::ApplicationId::parse(&given).with_context(|| format!("{given} is not an application id"))?;
        let reports = crate::replay::replay(store.as_ref(), &blobs, &args.limits, inference, crate::app::this_exe()?, &id).await?;
        let mut all = true;
        for report in &reports {
            if report.reproduced {
                println!("submission {}: reproduced byte for byte (sha256 {})", report.submission, report.recorded_sha256);
            } else {
                all = false;
                println!("submission {}: NOT reproduced: {}", report.submission, audit::difference(report));
            }
        }
        anyhow::ensure!(all, "replay did not reproduce every recorded decision");
        Ok(())
    })
}

/// The first line of standard input, as a password the account `name` may have.
fn password_from_stdin(name: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
    let password = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line).to_string();
    if let Some(problem) = crate::domain::user::password_problem(name, &password) {
        anyhow::bail!("the password cannot be used: {problem}");
    }
    Ok(password)
}

fn users_add(role: crate::domain::user::Role, name: &str, password_stdin: bool, args: StorageArgs) -> anyhow::Result<()> {
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "a user name must not be empty");
    let password = if password_stdin { Some(password_from_stdin(name)?) } else { None };
    runtime()?.block_on(async {
        let store = crate::app::open_database(&args.data_dir, args.database_url.as_deref()).await?;
        let hash = match password {
            Some(password) => Some(crate::usecases::accounts::hash_password(password).await?),
            None => None,
        };
        let token = crate::domain::user::new_token();
        let digest = crate::domain::user::token_digest(&token);
        let new = crate::storage::NewUser { name, role: role.as_str(), token_sha256: &digest, password_hash: hash.as_deref(), phone: None };
        let user = store.create_account(&new, "admin:cli").await?;
        let signs_in = if hash.is_some() { ", may sign in on the site" } else { "" };
        println!("created {} {} (id {}{signs_in})", user.role, user.name, user.id);
        println!("{token}");
        Ok(())
    })
}

fn users_password(name: &str, args: StorageArgs) -> anyhow::Result<()> {
    let password = password_from_stdin(name.trim())?;
    runtime()?.block_on(async {
        let store = crate::app::open_database(&args.data_dir, args.database_url.as_deref()).await?;
        let user = store.user_by_name(name.trim()).await?.with_context(|| format!("no account named {name}"))?;
        let hash = crate::usecases::accounts::hash_password(password).await?;
        store.set_password(user.id, &hash, None, "admin:cli").await?;
        println!("password set for {} {}; its sessions have ended", user.role, user.name);
        Ok(())
    })
}
