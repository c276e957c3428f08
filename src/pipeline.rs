//! The decision pipeline: one application's form and files → a decision. No database, no network.
//!
//! Typed stages, each a function from one value to the next:
//! read ([`ReadDocument`]) → understand ([`UnderstoodDocument`]) → collect and assess
//! ([`decision::Assessment`]) → decide ([`Decision`]). Reading and understanding touch the models
//! and child processes; everything after is the pure [`decision`] module. Used by `onewindow
//! decide`, by the background worker and by replay, so all three decide alike.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use serde_json::Value;

use crate::decision::{self, Case};
use crate::domain::decision::Decision;
use crate::domain::sha256_hex;
use crate::reading::{Format, ReadDocument, ReadOutcome, Reader};
use crate::rules::schema::{validate_form, FieldError};
use crate::rules::{CompiledService, RuleSet};
use crate::telemetry::{self, Stage};
use crate::understanding::{Understander, UnderstoodDocument};

/// One uploaded file as the pipeline sees it.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub name: String,
    pub bytes: Arc<Vec<u8>>,
}

impl InputFile {
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self { name: name.into(), bytes: Arc::new(bytes) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("unknown service `{0}`")]
    UnknownService(String),
    #[error("the form has {} invalid field(s): {}", .0.len(), .0.iter().map(|e| format!("{}: {}", e.field, e.error)).collect::<Vec<_>>().join("; "))]
    InvalidForm(Vec<FieldError>),
    #[error("`{0}` is not a field of this service that can be corrected")]
    UnknownField(String),
    /// The machine could not read (not the document's fault); retry, never decide on it.
    #[error("reading failed: {0}")]
    System(String),
    /// Reading the application's documents took longer than its budget (in seconds): a person
    /// decides it, and running it again would only take the time again.
    #[error("reading the application's documents took longer than its budget of {0} s: a person decides it")]
    OverBudget(u64),
}

/// A file read and understood, with the machine's own failure to read it, if any.
type Read = (Option<String>, UnderstoodDocument);

/// Reads, understands, assesses and decides. Built once; shared by every request.
pub struct Pipeline {
    rules: Arc<RuleSet>,
    understander: Understander,
    reader: Reader,
    read_threads: usize,
}

impl Pipeline {
    pub fn new(rules: Arc<RuleSet>, reader: Reader, understander: Understander) -> Self {
        let read_threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 4);
        Self { rules, understander, reader, read_threads }
    }

    /// The reading limits, the application's reading budget among them.
    pub fn read_limits(&self) -> &crate::reading::ReadLimits {
        self.reader.limits()
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// `role → sha256:…` of the models the decisions rest on, as recorded in each.
    pub fn model_digests(&self) -> BTreeMap<String, String> {
        let mut digests = self.reader.model_digests();
        digests.extend(self.understander.model_digests());
        digests
    }

    /// Whether photos and scans can be read, and whether the encoder helps understand them.
    pub fn loaded(&self) -> (bool, bool) {
        (self.reader.has_ocr(), self.understander.has_encoder())
    }

    /// The service and a valid form, or the reasons they are not.
    pub fn check_form(&self, service: &str, form: &Value) -> Result<&CompiledService, PipelineError> {
        let compiled = self.rules.service(service).ok_or_else(|| PipelineError::UnknownService(service.to_string()))?;
        let errors = validate_form(compiled.form_schema(), form);
        if errors.is_empty() {
            Ok(compiled)
        } else {
            Err(PipelineError::InvalidForm(errors))
        }
    }

    pub fn run(&self, service: &str, form: &Value, files: &[InputFile], submitted_on: NaiveDate) -> Result<Decision, PipelineError> {
        self.run_corrected(service, form, files, submitted_on, &BTreeMap::new())
    }

    /// Decides with a reviewer's corrections (decision field key → value) taking the place of what
    /// was read; the readings stay in the decision as `corrected_from`.
    pub fn run_corrected(
        &self,
        service: &str,
        form: &Value,
        files: &[InputFile],
        submitted_on: NaiveDate,
        corrections: &BTreeMap<String, Value>,
    ) -> Result<Decision, PipelineError> {
        let compiled = self.check_form(service, form)?;
        if let Some(key) = corrections.keys().find(|key| !decision::is_correctable(&self.rules, compiled, key)) {
            return Err(PipelineError::UnknownField(key.clone()));
        }
        let documents = self.read_and_understand(files)?;
        let case = Case { rules: &self.rules, service: compiled, form, documents: &documents, corrections, submitted_on };
        let assessment = telemetry::timed(Stage::Rules, || {
            let collected = decision::collect(&case);
            // The one model reading between the pure stages: the category evidence, as collected.
            let inferred = compiled.steps().category.as_ref().and_then(|step| {
                let evidence = collected.category_evidence(step);
                self.understander.infer_category(&self.rules.categories, &evidence.scope, &evidence.name)
            });
            decision::assess(&case, collected, inferred)
        });
        Ok(telemetry::timed(Stage::Decide, || decision::decide(&case, assessment, self.model_digests())))
    }

    /// Reads and understands files on a few threads; each PDF is read in its own limited child
    /// process. A document is understood (its kind, with the encoder, and its fields) on the thread
    /// that read it, so that the encoder's work on text documents overlaps the OCR of photos and
    /// scans. A reading the machine failed (not the document) fails the whole run: never decide on it.
    fn read_and_understand(&self, files: &[InputFile]) -> Result<Vec<UnderstoodDocument>, PipelineError> {
        let next = AtomicUsize::new(0);
        let budget = self.reader.limits().application_budget;
        // A budget too large to add (replay reads without one) is no deadline.
        let deadline = std::time::Instant::now().checked_add(budget);
        let over_budget = std::sync::atomic::AtomicBool::new(false);
        let results: Mutex<Vec<Option<Read>>> = Mutex::new((0..files.len()).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..self.read_threads.min(files.len()) {
                scope.spawn(|| loop {
                    let idx = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(idx) else { break };
                    let Ok(outcome) = telemetry::timed(Stage::Read, || self.reader.read_within(&file.bytes, deadline)) else {
                        over_budget.store(true, Ordering::Relaxed);
                        break;
                    };
                    let read = self.read_one(file, outcome);
                    let system_error = read.read.system_error.clone();
                    let understood = telemetry::timed(Stage::Understand, || self.understander.understand_document(&read));
                    results.lock().unwrap_or_else(|e| e.into_inner())[idx] = Some((system_error, understood));
                });
            }
        });
        if over_budget.into_inner() {
            return Err(PipelineError::OverBudget(budget.as_secs()));
        }
        let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        let documents: Vec<Read> = files
            .iter()
            .zip(results)
            .map(|(file, document)| {
                document.unwrap_or_else(|| {
                    let read = self.read_one(file, ReadOutcome::unreadable(Format::Unknown, "读取失败"));
                    (None, self.understander.understand_document(&read))
                })
            })
            .collect();
        if let Some(error) = documents.iter().find_map(|(error, _)| error.clone()) {
            return Err(PipelineError::System(error));
        }
        Ok(documents.into_iter().map(|(_, document)| document).collect())
    }

    fn read_one(&self, file: &InputFile, read: ReadOutcome) -> ReadDocument {
        ReadDocument { file: file.name.clone(), sha256: sha256_hex(&file.bytes), read }
    }
}
