//! `onewindow load`: many applicants at once against a running service, over real connections.
//!
//! Each simulated applicant has an account of its own (made in the service's storage before the run,
//! so per-account quotas are what they are for real applicants) and goes through what an applicant
//! does: create the application with its form, upload the package's files in one multipart request,
//! submit with an idempotency key. All applicants start together. The command prints throughput,
//! each step's p50 and p99, how many answers were 429 (the service refusing politely: queue full,
//! quota) and how many were errors (5xx, or no answer at all); it fails when there was an error.
//!
//! The client is a few lines of HTTP/1.1 over tokio (one connection per request, `Connection:
//! close`), so the command needs nothing the service does not already build with. [`run`] returns
//! every acknowledged step too, which the fault test uses to check that nothing acknowledged was
//! lost when the service was killed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One applicant's package: the service, the form and the files to upload.
#[derive(Debug, Clone)]
pub struct Package {
    pub service: String,
    pub form: Value,
    pub files: Vec<(String, Vec<u8>)>,
}

impl Package {
    /// A fixture package directory (`form.json`, `expected.json` naming the files and the service).
    pub fn from_fixture(dir: &Path) -> anyhow::Result<Self> {
        let read_json = |name: &str| -> anyhow::Result<Value> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        };
        let form = read_json("form.json")?;
        let expected = read_json("expected.json")?;
        let service = expected["service"].as_str().unwrap_or("drainage-permit").to_string();
        let names: Vec<String> = expected["files"]
            .as_array()
            .context("expected.json has no files list")?
            .iter()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect();
        let mut files = Vec::with_capacity(names.len());
        for name in names {
            let bytes = std::fs::read(dir.join(&name)).with_context(|| format!("reading {name}"))?;
            files.push((name, bytes));
        }
        Ok(Self { service, form, files })
    }
}

/// The steps of one applicant, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    Create,
    Upload,
    Submit,
}

impl Step {
    const ALL: [Step; 3] = [Step::Create, Step::Upload, Step::Submit];

    fn name(self) -> &'static str {
        match self {
            Step::Create => "create",
            Step::Upload => "upload",
            Step::Submit => "submit",
        }
    }
}

/// One request's result: its status (`None`: no answer: refused connection, reset, timeout).
#[derive(Debug, Clone)]
pub struct Attempt {
    pub applicant: usize,
    pub step: Step,
    pub status: Option<u16>,
    pub latency: Duration,
}

/// What one applicant got acknowledged (a 2xx answer): the service promised to keep these.
#[derive(Debug, Clone, Default)]
pub struct Acknowledged {
    pub application_id: Option<String>,
    /// Document ids the upload answered with.
    pub documents: Vec<i64>,
    pub submitted: bool,
}

#[derive(Debug, Clone)]
pub struct LoadReport {
    pub attempts: Vec<Attempt>,
    pub acknowledged: Vec<Acknowledged>,
    pub elapsed: Duration,
}

impl LoadReport {
    /// Answers of 500 and above, and requests with no answer.
    pub fn errors(&self) -> usize {
        self.attempts.iter().filter(|a| a.status.is_none_or(|s| s >= 500)).count()
    }

    pub fn count(&self, status: u16) -> usize {
        self.attempts.iter().filter(|a| a.status == Some(status)).count()
    }

    /// Human-readable summary, one line per step.
    pub fn render(&self) -> String {
        let applicants = self.acknowledged.len();
        let submitted = self.acknowledged.iter().filter(|a| a.submitted).count();
        let seconds = self.elapsed.as_secs_f64().max(1e-9);
        let mut out = format!(
            "load: {applicants} applicants in {:.1} s: {submitted} submitted ({:.1} applications/s), {} answers 429, {} errors\n",
            seconds,
            submitted as f64 / seconds,
            self.count(429),
            self.errors()
        );
        for step in Step::ALL {
            let mut latencies: Vec<Duration> = self.attempts.iter().filter(|a| a.step == step).map(|a| a.latency).collect();
            latencies.sort();
            let statuses = {
                let mut by_status = std::collections::BTreeMap::<String, usize>::new();
                for a in self.attempts.iter().filter(|a| a.step == step) {
                    *by_status.entry(a.status.map_or("none".to_string(), |s| s.to_string())).or_default() += 1;
                }
                by_status.iter().map(|(s, n)| format!("{s}×{n}")).collect::<Vec<_>>().join(" ")
            };
            out.push_str(&format!(
                "  {:<7} n={:<4} p50 {:>6} ms  p99 {:>6} ms  [{statuses}]\n",
                step.name(),
                latencies.len(),
                percentile(&latencies, 50).as_millis(),
                percentile(&latencies, 99).as_millis()
            ));
        }
        out
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() * p).div_ceil(100)).clamp(1, sorted.len()) - 1]
}

/// Drives one applicant per token through create, upload and submit, all at once.
pub async fn run(address: &str, tokens: &[String], package: &Package) -> LoadReport {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (applicant, token) in tokens.iter().enumerate() {
        let (address, token, package) = (address.to_string(), token.clone(), package.clone());
        tasks.spawn(async move { (applicant, applicant_run(&address, applicant, &token, &package).await) });
    }
    let mut attempts = Vec::new();
    let mut acknowledged = vec![Acknowledged::default(); tokens.len()];
    while let Some(joined) = tasks.join_next().await {
        let Ok((applicant, (mine, ack))) = joined else { continue };
        attempts.extend(mine);
        acknowledged[applicant] = ack;
    }
    LoadReport { attempts, acknowledged, elapsed: started.elapsed() }
}

async fn applicant_run(address: &str, applicant: usize, token: &str, package: &Package) -> (Vec<Attempt>, Acknowledged) {
    let mut attempts = Vec::new();
    let mut ack = Acknowledged::default();
    let mut record = |step, status, latency| attempts.push(Attempt { applicant, step, status, latency });

    let body = serde_json::json!({"service": package.service, "form": package.form}).to_string();
    let started = Instant::now();
    let created = request(address, "POST", "/api/v1/applications", token, &[("Content-Type", "application/json")], body.as_bytes()).await;
    record(Step::Create, created.as_ref().ok().map(|r| r.0), started.elapsed());
    let Ok((201, created)) = created else { return (attempts, ack) };
    let Some(id) = created["id"].as_str().map(str::to_string) else { return (attempts, ack) };
    ack.application_id = Some(id.clone());

    let boundary = format!("onewindow-load-{applicant}-{}", uuid::Uuid::new_v4().simple());
    let mut multipart = Vec::new();
    for (name, bytes) in &package.files {
        multipart.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        multipart.extend_from_slice(bytes);
        multipart.extend_from_slice(b"\r\n");
    }
    multipart.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let started = Instant::now();
    let path = format!("/api/v1/applications/{id}/documents");
    let uploaded = request(address, "POST", &path, token, &[("Content-Type", &content_type)], &multipart).await;
    record(Step::Upload, uploaded.as_ref().ok().map(|r| r.0), started.elapsed());
    let Ok((201, uploaded)) = uploaded else { return (attempts, ack) };
    ack.documents = uploaded["documents"].as_array().into_iter().flatten().filter_map(|d| d["id"].as_i64()).collect();

    let started = Instant::now();
    let path = format!("/api/v1/applications/{id}/submit");
    let key = format!("load-{id}");
    let submitted = request(address, "POST", &path, token, &[("Idempotency-Key", &key)], b"").await;
    record(Step::Submit, submitted.as_ref().ok().map(|r| r.0), started.elapsed());
    ack.submitted = matches!(submitted, Ok((202, _)));
    (attempts, ack)
}

/// How long one request may take before it counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// One HTTP/1.1 request on its own connection: the status and the body as JSON (`Null` when the
/// body is not JSON).
pub async fn request(
    address: &str,
    method: &str,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Value)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        // A service that answers before reading the whole body (a 413, a 429) may close its side
        // while this one still writes: the answer it sent is read all the same.
        let written = async {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body).await
        }
        .await;
        let mut response = Vec::new();
        let read = stream.read_to_end(&mut response).await;
        if response.is_empty() {
            written?;
            read?;
        }
        parse_response(&response).ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response"))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange).await.map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))?
}

fn parse_response(response: &[u8]) -> Option<(u16, Value)> {
    let end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&response[..end]).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let raw = &response[end + 4..];
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(raw)? } else { raw.to_vec() };
    Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).ok()?.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

/// `onewindow load`'s arguments.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The running service's address (host:port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub address: String,
    /// How many applicants at once; each gets an account of its own.
    #[arg(long, default_value_t = 200)]
    pub applicants: usize,
    /// The package every applicant uploads.
    #[arg(long, default_value = "fixtures/drainage-permit/clean-catering-stsong")]
    pub fixture: PathBuf,
    /// The service's data directory, where the applicants' accounts are made.
    #[arg(long, env = "ONEWINDOW_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL; default: the SQLite file in the data directory.
    #[arg(long, env = "ONEWINDOW_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// Makes `count` applicant accounts in the service's storage and returns their tokens.
pub async fn make_applicants(data_dir: &Path, database_url: Option<&str>, count: usize) -> anyhow::Result<Vec<String>> {
    let store = crate::app::open_database(data_dir, database_url).await?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut tokens = Vec::with_capacity(count);
    for i in 0..count {
        let token = crate::domain::user::new_token();
        let digest = crate::domain::user::token_digest(&token);
        store.create_user(&format!("load-{}-{i}", &run[..8]), crate::domain::user::Role::Applicant.as_str(), &digest, "admin:load").await?;
        tokens.push(token);
    }
    Ok(tokens)
}

/// The command: accounts, the run, the report; an error when any request failed with 5xx or no answer.
pub async fn command(args: LoadArgs) -> anyhow::Result<()> {
    let package = Package::from_fixture(&args.fixture)?;
    let tokens = make_applicants(&args.data_dir, args.database_url.as_deref(), args.applicants).await?;
    let report = run(&args.address, &tokens, &package).await;
    print!("{}", report.render());
    anyhow::ensure!(report.errors() == 0, "{} requests failed with a server error or no answer", report.errors());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_parsed_with_or_without_chunks() {
        let plain = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n{\"id\":\"a\"}";
        assert_eq!(parse_response(plain), Some((201, serde_json::json!({"id": "a"}))));
        let chunked = b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked), Some((429, serde_json::json!({"a": 1}))));
        assert_eq!(parse_response(b"garbage"), None);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let ms = |v: &[u64]| v.iter().map(|m| Duration::from_millis(*m)).collect::<Vec<_>>();
        assert_eq!(percentile(&ms(&[1, 2, 3, 4]), 50), Duration::from_millis(2));
        assert_eq!(percentile(&ms(&[1, 2, 3, 4]), 99), Duration::from_millis(4));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }
}
