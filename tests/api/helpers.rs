//! `spawn_app()` and typed request helpers: each test gets its own data directory and port.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use onewindow::app::{Application, BuildOptions, Inference};
use onewindow::clock::ManualClock;
use onewindow::config::{LimitsConfig, RulesConfig, ServeConfig, SessionConfig};
use onewindow::domain::user::{new_token, token_digest, Role};
use onewindow::pipeline::Pipeline;
use onewindow::reading::Reader;
use serde_json::{json, Value};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn onewindow_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_onewindow"))
}

/// A fixture package from `fixtures/drainage-permit/NAME`.
pub struct Fixture {
    pub dir: PathBuf,
    pub form: Value,
    pub expected: Value,
    pub files: Vec<(String, Vec<u8>)>,
}

impl Fixture {
    pub fn load(name: &str) -> Self {
        let dir = repo().join("fixtures/drainage-permit").join(name);
        let form = serde_json::from_str(&std::fs::read_to_string(dir.join("form.json")).unwrap()).unwrap();
        let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
        let files = expected["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .map(|f| (f.clone(), std::fs::read(dir.join(&f)).unwrap()))
            .collect();
        Self { dir, form, expected, files }
    }

    pub fn at(&self) -> NaiveDate {
        NaiveDate::parse_from_str(self.expected["at"].as_str().unwrap(), "%Y-%m-%d").unwrap()
    }

    pub fn names() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(repo().join("fixtures/drainage-permit"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        names
    }
}

pub struct TestApp {
    pub address: String,
    /// The token the request helpers send (an applicant's, unless a test swaps it).
    pub token: String,
    pub state: onewindow::http::AppState,
    pub clock: Arc<ManualClock>,
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _temp: Option<Arc<tempfile::TempDir>>,
}

#[derive(Clone)]
pub struct AppOptions {
    pub workers: usize,
    pub today: NaiveDate,
    pub limits: LimitsConfig,
    /// Reuse a data directory (for restart tests, and for instances sharing one).
    pub data_dir: Option<(PathBuf, Arc<tempfile::TempDir>)>,
    /// A database other than the data directory's SQLite file (a Postgres URL).
    pub database_url: Option<String>,
    /// Where the documents are (`file:///DIR`), other than the data directory's `blobs`.
    pub blob_store: Option<String>,
    /// The models the app runs: none by default (text PDFs are read from their text layer and
    /// understood by their keywords; photos and scans are unreadable). Tests about reading photos
    /// or about the encoder ask for the shipped ones.
    pub inference: Inference,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            workers: 2,
            today: NaiveDate::from_ymd_opt(2026, 10, 20).unwrap(),
            limits: LimitsConfig::default(),
            data_dir: None,
            database_url: None,
            blob_store: None,
            inference: Inference::default(),
        }
    }
}

impl AppOptions {
    /// With the shipped OCR and encoder, as the service runs.
    pub fn with_shipped_models() -> Self {
        Self { inference: shipped_inference(), ..Self::default() }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let (data_dir, temp) = match options.data_dir {
        Some((dir, temp)) => (dir, temp),
        None => {
            let temp = Arc::new(tempfile::tempdir().unwrap());
            (temp.path().join("data"), temp)
        }
    };
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.clone(),
        database_url: options.database_url,
        blob_store: options.blob_store,
        workers: options.workers,
        job_lease_secs: None,
        public_url: "https://onewindow.example.gov.cn".into(),
        audit_origin: None,
        rules: RulesConfig { rules_dir: repo().join("rules") },
        limits: options.limits,
        sessions: SessionConfig::default(),
    };
    let clock = Arc::new(ManualClock::new(options.today));
    let build = BuildOptions { reader_exe: Some(onewindow_exe()), clock: Some(clock.clone()), inference: Some(options.inference) };
    let application = Application::build(config, build).await.expect("the app builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let state = application.state();
    let token = add_user(&state, Role::Applicant).await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(application.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        address,
        token,
        state,
        clock,
        data_dir,
        client: reqwest::Client::new(),
        shutdown: Some(tx),
        handle: Some(handle),
        _temp: Some(temp),
    }
}

/// Creates an account with a unique name and returns its token.
pub async fn add_user(state: &onewindow::http::AppState, role: Role) -> String {
    add_user_with_id(state, role).await.0
}

/// Creates an account and returns its token and id.
pub async fn add_user_with_id(state: &onewindow::http::AppState, role: Role) -> (String, i64) {
    let token = new_token();
    let name = format!("{}-{}", role.as_str(), uuid::Uuid::new_v4());
    let user = state.usecases().store().create_user(&name, role.as_str(), &token_digest(&token), "admin:test").await.unwrap();
    (token, user.id)
}

impl TestApp {
    /// Stops the server and its workers, keeping the data directory for another app.
    pub async fn stop(mut self) -> (PathBuf, Arc<tempfile::TempDir>) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
        (self.data_dir.clone(), self._temp.take().unwrap())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// POST JSON with a given token.
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.client.post(self.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
    }

    /// Creates, uploads and submits a fixture package as the helper's applicant; returns the id.
    pub async fn submit_fixture(&self, name: &str, key: &str) -> String {
        let fixture = Fixture::load(name);
        let id = self.create_ok(&fixture.form).await;
        assert_eq!(self.upload(&id, &fixture.files).await.status(), 201);
        assert_eq!(self.submit(&id, key).await.status(), 202);
        id
    }

    /// GET with the helper's token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(&self.token).send().await.unwrap()
    }

    pub async fn create_application(&self, service: &str, form: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/applications"))
            .bearer_auth(&self.token)
            .json(&json!({"service": service, "form": form}))
            .send()
            .await
            .unwrap()
    }

    /// Creates an application and returns its id, asserting success.
    pub async fn create_ok(&self, form: &Value) -> String {
        let response = self.create_application("drainage-permit", form).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
    }

    pub async fn upload(&self, id: &str, files: &[(String, Vec<u8>)]) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new();
        for (name, bytes) in files {
            form = form.part("file", reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.clone()));
        }
        self.client
            .post(self.url(&format!("/api/v1/applications/{id}/documents")))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn submit(&self, id: &str, key: &str) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/api/v1/applications/{id}/submit")))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_application(&self, id: &str) -> Value {
        let response = self.get(&format!("/api/v1/applications/{id}")).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Polls until the application holds `n_decisions` decisions; returns the application.
    pub async fn wait_for_decisions(&self, id: &str, n_decisions: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let application = self.get_application(id).await;
            if application["decisions"].as_array().map(|d| d.len()).unwrap_or(0) >= n_decisions && application["state"] != "submitted" {
                return application;
            }
            assert!(Instant::now() < deadline, "no decision in time: {application}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A fixture package in `dir`: its form, its expected decision, the files expected.json lists (in
/// that order) and the submission date.
/// The shipped OCR and encoder, verified and loaded once for every test of the binary.
pub fn shipped_inference() -> Inference {
    static INFERENCE: std::sync::OnceLock<Inference> = std::sync::OnceLock::new();
    INFERENCE.get_or_init(|| Inference::load(&LimitsConfig::default()).expect("the shipped models load")).clone()
}

/// The pipeline as the service runs it: the shipped rules, OCR and encoder, built once.
pub fn model_pipeline() -> &'static Pipeline {
    static PIPELINE: std::sync::OnceLock<Pipeline> = std::sync::OnceLock::new();
    PIPELINE.get_or_init(|| pipeline_with(shipped_inference()))
}

/// A pipeline over the shipped rules with these models (`Inference::default()`: none).
pub fn pipeline_with(inference: Inference) -> Pipeline {
    let rules = onewindow::rules::RuleSet::load_dir(&repo().join("rules")).unwrap();
    onewindow::app::pipeline(Arc::new(rules), &LimitsConfig::default(), onewindow_exe(), inference)
}

/// The reader with the shipped OCR, as the service reads photos and scans.
pub fn model_reader() -> Reader {
    let ocr = shipped_inference().ocr.expect("the shipped OCR loads");
    onewindow::app::reader(&LimitsConfig::default(), onewindow_exe(), Some(ocr))
}

pub fn load_package(dir: &Path) -> (Value, Value, Vec<onewindow::pipeline::InputFile>, NaiveDate) {
    let expected: Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let form: Value = serde_json::from_slice(&std::fs::read(dir.join("form.json")).unwrap()).unwrap();
    let files = expected["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .map(|f| onewindow::pipeline::InputFile::new(f, std::fs::read(dir.join(f)).unwrap()))
        .collect();
    let at = NaiveDate::parse_from_str(expected["at"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    (form, expected, files, at)
}

pub fn finding_rules(decision: &Value) -> Vec<String> {
    decision["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap().to_string()).collect()
}

pub fn data_db(dir: &Path) -> PathBuf {
    dir.join("onewindow.db")
}

/// Every file under `dir`, at any depth.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}
