//! The decide use case: one application's form and files → a decision. No database, no network.
//!
//! Used by `onewindow decide`, by the background worker and by replay, so all three decide alike.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::decision::{self, PolicyInput};
use crate::domain::decision::{Decision, DocumentReport, Evidence, FieldReport, FieldSource, Finding, ItemDecision, Outcome, RuleResult};
use crate::reading::{ReadOutcome, Reader};
use crate::rules::engine::{format_number, limits_for};
use crate::rules::schema::{validate_form, FieldError};
use crate::rules::{CompiledService, Facts, RuleSet, RuleStatus};
use crate::understanding::{Understander, Understood};

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
pub enum DecideError {
    #[error("unknown service `{0}`")]
    UnknownService(String),
    #[error("the form has {} invalid field(s): {}", .0.len(), .0.iter().map(|e| format!("{}: {}", e.field, e.error)).collect::<Vec<_>>().join("; "))]
    InvalidForm(Vec<FieldError>),
    #[error("`{0}` is not a field of this service that can be corrected")]
    UnknownField(String),
    /// The machine could not read (not the document's fault); retry, never decide on it.
    #[error("reading failed: {0}")]
    System(String),
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads, understands, checks and decides. Built once; shared by every request.
pub struct Decider {
    rules: Arc<RuleSet>,
    understander: Understander,
    reader: Reader,
    read_threads: usize,
}

struct ReadDocument<'a> {
    file: &'a InputFile,
    sha256: String,
    read: ReadOutcome,
    understood: Option<Understood>,
}

const KIND_CONFIDENCE_DEFAULT: f64 = 0.7;
const FIELD_CONFIDENCE_DEFAULT: f64 = 0.9;
const CATEGORY_CONFIDENCE_DEFAULT: f64 = 0.8;

impl Decider {
    pub fn new(rules: Arc<RuleSet>, reader: Reader) -> Self {
        let understander = Understander::new(&rules, reader.encoder().cloned());
        let read_threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 4);
        Self { rules, understander, reader, read_threads }
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// The service and a valid form, or the reasons they are not.
    pub fn check_form(&self, service: &str, form: &Value) -> Result<&CompiledService, DecideError> {
        let compiled = self.rules.service(service).ok_or_else(|| DecideError::UnknownService(service.to_string()))?;
        let errors = validate_form(compiled.form_schema(), form);
        if errors.is_empty() {
            Ok(compiled)
        } else {
            Err(DecideError::InvalidForm(errors))
        }
    }

    /// Reads and understands files on a few threads; each PDF is read in its own limited child
    /// process. A document is understood (its kind, with the encoder, and its fields) on the thread
    /// that read it, so that the encoder's work on text documents overlaps the OCR of photos and scans.
    fn read_all<'a>(&self, files: &'a [InputFile]) -> Vec<ReadDocument<'a>> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: std::sync::Mutex<Vec<Option<ReadDocument<'a>>>> = std::sync::Mutex::new((0..files.len()).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..self.read_threads.min(files.len()) {
                scope.spawn(|| loop {
                    let idx = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(file) = files.get(idx) else { break };
                    let document = self.read_one(file, self.reader.read(&file.bytes));
                    results.lock().unwrap_or_else(|e| e.into_inner())[idx] = Some(document);
                });
            }
        });
        let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        files
            .iter()
            .zip(results)
            .map(|(file, document)| {
                document.unwrap_or_else(|| self.read_one(file, ReadOutcome::unreadable(crate::reading::Format::Unknown, "读取失败")))
            })
            .collect()
    }

    fn read_one<'a>(&self, file: &'a InputFile, read: ReadOutcome) -> ReadDocument<'a> {
        // Defence in depth: a reader bug on strange text must not take the decision down; the
        // document is then of unknown kind and the case goes to a person.
        let understood = read.is_readable().then(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.understander.understand(&read.lines))).unwrap_or_else(|_| {
                tracing::error!(file = %file.name, "understanding panicked");
                Understood {
                    classification: crate::understanding::Classification { kind: "unknown".into(), confidence: 0.0 },
                    fields: vec![],
                }
            })
        });
        ReadDocument { file, sha256: sha256_hex(&file.bytes), read, understood }
    }

    pub fn decide(&self, service: &str, form: &Value, files: &[InputFile], submitted_on: NaiveDate) -> Result<Decision, DecideError> {
        self.decide_corrected(service, form, files, submitted_on, &BTreeMap::new())
    }

    /// Decides with a reviewer's corrections (decision field key → value) taking the place of what
    /// was read; the readings stay in the decision as `corrected_from`.
    pub fn decide_corrected(
        &self,
        service: &str,
        form: &Value,
        files: &[InputFile],
        submitted_on: NaiveDate,
        corrections: &BTreeMap<String, Value>,
    ) -> Result<Decision, DecideError> {
        let compiled = self.check_form(service, form)?;
        for key in corrections.keys() {
            if !self.is_correctable(compiled, key) {
                return Err(DecideError::UnknownField(key.clone()));
            }
        }
        let documents = self.read_all(files);
        if let Some(error) = documents.iter().find_map(|d| d.read.system_error.clone()) {
            return Err(DecideError::System(error));
        }
        Ok(self.decide_read(compiled, form, &documents, submitted_on, corrections))
    }

    /// A form field, `discharge_category`, or a field a document reader produces (`licence.name`,
    /// `report.pollutants.cod`).
    pub fn is_correctable(&self, service: &CompiledService, key: &str) -> bool {
        if key == "discharge_category" || service.form_schema().contains_key(key) {
            return true;
        }
        let Some((variable, path)) = key.split_once('.') else { return false };
        self.rules.documents.kinds.values().filter(|k| k.variable.as_deref() == Some(variable)).any(|kind| {
            kind.fields.contains_key(path) || path.strip_prefix("pollutants.").is_some_and(|item| self.rules.water.items.contains_key(item))
        })
    }

    fn decide_read(
        &self,
        service: &CompiledService,
        form: &Value,
        documents: &[ReadDocument<'_>],
        submitted_on: NaiveDate,
        corrections: &BTreeMap<String, Value>,
    ) -> Decision {
        // Absent optional fields take their defaults (no pledges when `pledges` is left out).
        let form = &crate::rules::schema::apply_defaults(service.form_schema(), form);
        // The form the rules see: a reviewer's corrections of form fields in place of the applicant's
        // values. `fields` keeps reporting the applicant's values, so a correction can name them.
        let mut decided_form = form.clone();
        for (key, value) in corrections {
            if form.get(key).is_some() || service.form_schema().contains_key(key) {
                decided_form[key] = value.clone();
            }
        }
        let rules = &self.rules;
        let kind_threshold = service.param_f64("kind_confidence").unwrap_or(KIND_CONFIDENCE_DEFAULT);
        let field_threshold = service.param_f64("field_confidence").unwrap_or(FIELD_CONFIDENCE_DEFAULT);
        let category_threshold = service.param_f64("category_confidence").unwrap_or(CATEGORY_CONFIDENCE_DEFAULT);
        let basis = service.info().basis.clone();
        let mut findings: Vec<Finding> = Vec::new();

        // Documents: what each file was taken for.
        let mut reports = Vec::new();
        let mut materials: Vec<String> = Vec::new();
        for doc in documents {
            let (kind, confidence) = match &doc.understood {
                Some(u) => (u.classification.kind.clone(), u.classification.confidence),
                None => ("unknown".to_string(), 0.0),
            };
            if let Some(reason) = &doc.read.unreadable {
                findings.push(Finding {
                    rule: "documents.unreadable".into(),
                    result: RuleResult::Fail,
                    message: format!("文件“{}”无法读取：{}。请重新上传清晰、完整、未加密的材料", doc.file.name, reason),
                    basis: basis.clone(),
                    evidence: vec![Evidence { document: Some(doc.file.name.clone()), field: "file".into(), value: json!(doc.file.name) }],
                });
            } else if kind == "unknown" || confidence < kind_threshold {
                let kind_name = rules.documents.kinds.get(&kind).map(|k| k.name.as_str()).unwrap_or("未知材料");
                findings.push(Finding {
                    rule: "documents.kind_confidence".into(),
                    result: RuleResult::Unknown,
                    message: format!(
                        "无法确定文件“{}”是何种材料（最接近：{}，置信度{:.2}），需人工确认",
                        doc.file.name, kind_name, confidence
                    ),
                    basis: basis.clone(),
                    evidence: vec![Evidence { document: Some(doc.file.name.clone()), field: "kind".into(), value: json!(kind) }],
                });
            }
            if doc.read.is_readable() && kind != "unknown" && !materials.contains(&kind) {
                materials.push(kind.clone());
            }
            reports.push(DocumentReport {
                file: doc.file.name.clone(),
                sha256: doc.sha256.clone(),
                kind,
                confidence,
                readable: doc.read.is_readable(),
                reason: doc.read.unreadable.clone(),
            });
        }

        // Fields: the form, then each document kind's fields under its rule variable.
        let mut fields: BTreeMap<String, FieldReport> = BTreeMap::new();
        if let Some(map) = form.as_object() {
            for (key, value) in map {
                fields.insert(
                    key.clone(),
                    FieldReport {
                        value: value.clone(),
                        source: FieldSource::Form,
                        confidence: 1.0,
                        document: None,
                        page: None,
                        line: None,
                        corrected_from: None,
                    },
                );
            }
        }
        let mut doc_values: BTreeMap<String, Value> = BTreeMap::new();
        for (kind_id, kind) in &rules.documents.kinds {
            let Some(variable) = &kind.variable else { continue };
            let mut object = json!({});
            if kind_id == "water_quality_report" {
                object["pollutants"] = json!({});
            }
            for doc in documents.iter().filter(|d| d.understood.as_ref().is_some_and(|u| &u.classification.kind == kind_id)) {
                for field in &doc.understood.as_ref().expect("filtered").fields {
                    let key = format!("{variable}.{}", field.path);
                    match fields.get_mut(&key) {
                        Some(existing) if existing.value != field.value => existing.confidence = existing.confidence.min(0.5),
                        Some(_) => {}
                        None => {
                            set_path(&mut object, &field.path, field.value.clone());
                            fields.insert(
                                key,
                                FieldReport {
                                    value: field.value.clone(),
                                    source: FieldSource::Document,
                                    confidence: round3(field.confidence),
                                    document: Some(doc.file.name.clone()),
                                    page: Some(field.page),
                                    line: Some(field.line.clone()),
                                    corrected_from: None,
                                },
                            );
                        }
                    }
                }
            }
            doc_values.insert(variable.clone(), object);
        }

        // A reviewer's corrections take the place of the readings; the readings stay on record.
        for (key, value) in corrections {
            let original = fields.get(key).map(|f| f.value.clone());
            if let Some((variable, path)) = key.split_once('.') {
                if let Some(object) = doc_values.get_mut(variable) {
                    set_path(object, path, value.clone());
                }
            }
            let previous = fields.remove(key);
            fields.insert(
                key.clone(),
                FieldReport {
                    value: value.clone(),
                    source: FieldSource::Correction,
                    confidence: 1.0,
                    document: previous.as_ref().and_then(|f| f.document.clone()),
                    page: previous.as_ref().and_then(|f| f.page),
                    line: previous.and_then(|f| f.line),
                    corrected_from: original.or(Some(Value::Null)),
                },
            );
        }
        let form = &decided_form;

        // The discharge category: the applicant's word, or worked out from the licence.
        // Only a service whose form has a discharge category works one out (the drainage permit).
        let category = if service.form_schema().contains_key("discharge_category") {
            self.category(form, &doc_values, &mut fields, category_threshold, &basis, &mut findings)
        } else {
            String::new()
        };
        let grade = form.get("plant_grade").and_then(Value::as_str).unwrap_or("C");
        let facts = Facts {
            form: form.clone(),
            documents: doc_values,
            materials: materials.clone(),
            required_items: rules.test_items.required.get(&category).cloned().unwrap_or_default(),
            category,
            limits: limits_for(&rules.water, grade),
            submitted: submitted_on,
        };
        let evaluation = service.evaluate(&facts);

        for missing in &evaluation.missing_materials {
            let name = rules.documents.kinds.get(missing).map(|k| k.name.as_str()).unwrap_or(missing);
            findings.push(Finding {
                rule: format!("materials.{missing}"),
                result: RuleResult::Fail,
                message: format!("缺少申请材料：{name}"),
                basis: basis.clone(),
                evidence: vec![],
            });
        }
        // A value read from a document with less confidence than its threshold (the category has
        // a threshold and a finding of its own) is not one to decide on.
        let doubtful = |key: &str| {
            let field = &fields[key];
            key != "discharge_category" && field.source != FieldSource::Form && field.confidence < field_threshold
        };
        // What an OCR'd document does not show may only not have been read: a rule that fails on a
        // collection of such a document (`report.pollutants`) and names none of its values (a
        // required test item not found) is a question for a person, like a doubtful value.
        let read_by_ocr: Vec<&str> =
            documents.iter().filter(|d| d.read.lines.iter().any(|l| !l.pieces.is_empty())).map(|d| d.file.name.as_str()).collect();
        let under = |key: &str, path: &str| key.len() > path.len() && key.starts_with(path) && key.as_bytes()[path.len()] == b'.';
        let absent_from_ocr = |path: &str, keys: &[String]| {
            !fields.contains_key(path)
                && !keys.iter().any(|k| under(k, path))
                && fields.iter().any(|(k, f)| under(k, path) && f.document.as_deref().is_some_and(|d| read_by_ocr.contains(&d)))
        };
        let mut rested_on: Vec<String> = Vec::new();
        for outcome in &evaluation.outcomes {
            if outcome.status == RuleStatus::NotApplicable {
                continue;
            }
            let keys: Vec<String> = outcome.referenced.iter().filter_map(|p| field_key(p)).filter(|k| fields.contains_key(k)).collect();
            for key in &keys {
                if !rested_on.contains(key) {
                    rested_on.push(key.clone());
                }
            }
            let mut message = outcome.message.clone();
            let result = match outcome.status {
                // A rule failed on a doubtful reading is a question for a person, not a finding:
                // a decimal point lost on a scan must not be reported as a limit exceeded.
                RuleStatus::Fail if keys.iter().any(|k| doubtful(k)) => {
                    message.push_str("（所依据的识别结果置信度不足，需人工核对）");
                    RuleResult::Unknown
                }
                RuleStatus::Fail if outcome.referenced.iter().any(|p| absent_from_ocr(p, &keys)) => {
                    message.push_str("（该材料经图像识别，未识别到的内容需人工核对）");
                    RuleResult::Unknown
                }
                RuleStatus::Fail => RuleResult::Fail,
                RuleStatus::Unknown(ref reason) => {
                    tracing::debug!(rule = %outcome.id, reason = %reason, "rule could not be evaluated");
                    RuleResult::Unknown
                }
                _ => continue,
            };
            let evidence = keys
                .iter()
                .map(|k| Evidence { document: fields[k].document.clone(), field: k.clone(), value: fields[k].value.clone() })
                .collect();
            findings.push(Finding { rule: outcome.id.clone(), result, message, basis: outcome.basis.clone(), evidence });
        }
        for key in &rested_on {
            let field = &fields[key];
            if doubtful(key) {
                findings.push(Finding {
                    rule: "fields.low_confidence".into(),
                    result: RuleResult::Unknown,
                    message: format!(
                        "“{}”的识别置信度{}低于阈值{}，需人工核对",
                        key,
                        format_number(field.confidence),
                        format_number(field_threshold)
                    ),
                    basis: basis.clone(),
                    evidence: vec![Evidence { document: field.document.clone(), field: key.clone(), value: field.value.clone() }],
                });
            }
        }

        let any_unreadable = documents.iter().any(|d| !d.read.is_readable());
        let any_uncertain_kind = findings.iter().any(|f| f.rule == "documents.kind_confidence");
        let (outcome, spot_check) = decision::decide(&PolicyInput {
            any_unreadable,
            any_uncertain_kind,
            missing_materials: &evaluation.missing_materials,
            findings: &findings,
            auto_issue: service.info().auto_issue,
            pledge_based: evaluation.spot_check,
        });
        let mut missing_materials = evaluation.missing_materials.clone();
        let (mut outcome, mut findings) = (outcome, findings);
        let mut items = Vec::new();
        if !service.items().is_empty() {
            // A bundle: each requested item is decided on the findings and materials that concern it,
            // so a failed tax confirmation does not hold up the employment registration.
            let requested: Vec<String> =
                form.get("items").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
            let rule_items: BTreeMap<&str, &[String]> = evaluation.outcomes.iter().map(|o| (o.id.as_str(), o.items.as_slice())).collect();
            let concerns = |scope: &[String], item: &str| scope.is_empty() || scope.iter().any(|i| i == item);
            let finding_concerns = |f: &Finding, item: &str| match f.rule.strip_prefix("materials.") {
                Some(material) => concerns(service.material_items(material), item),
                None => rule_items.get(f.rule.as_str()).is_none_or(|scope| concerns(scope, item)),
            };
            for item in &requested {
                let item_findings: Vec<Finding> = findings.iter().filter(|f| finding_concerns(f, item)).cloned().collect();
                let item_missing: Vec<String> =
                    evaluation.missing_materials.iter().filter(|m| concerns(service.material_items(m), item)).cloned().collect();
                let (item_outcome, _) = decision::decide(&PolicyInput {
                    any_unreadable,
                    any_uncertain_kind,
                    missing_materials: &item_missing,
                    findings: &item_findings,
                    auto_issue: service.info().auto_issue,
                    pledge_based: false,
                });
                items.push(ItemDecision { item: item.clone(), outcome: item_outcome, findings: item_findings });
            }
            // The notice and the findings cover what the requested items need, all at once.
            findings.retain(|f| requested.iter().any(|item| finding_concerns(f, item)));
            missing_materials.retain(|m| requested.iter().any(|item| concerns(service.material_items(m), item)));
            let rank = |o: Outcome| match o {
                Outcome::Issued => 0,
                Outcome::NeedsReview => 1,
                Outcome::NeedsMaterials => 2,
            };
            outcome = items.iter().map(|i| i.outcome).max_by_key(|o| rank(*o)).unwrap_or(Outcome::NeedsReview);
        }
        missing_materials.sort();
        Decision {
            service: service.info().id.clone(),
            outcome,
            spot_check,
            findings,
            missing_materials,
            documents: reports,
            fields,
            items,
            ruleset: rules.hash().to_string(),
            models: self.reader.model_digests(),
            submitted_on: submitted_on.format("%Y-%m-%d").to_string(),
        }
    }

    fn category(
        &self,
        form: &Value,
        doc_values: &BTreeMap<String, Value>,
        fields: &mut BTreeMap<String, FieldReport>,
        threshold: f64,
        basis: &str,
        findings: &mut Vec<Finding>,
    ) -> String {
        let licence = doc_values.get("licence");
        let text = |key: &str| licence.and_then(|l| l.get(key)).and_then(Value::as_str).unwrap_or_default().to_string();
        let (scope, name) = (text("business_scope"), text("name"));
        let inferred = self.understander.infer_category(&self.rules.categories, &scope, &name);
        if let Some(category) = form.get("discharge_category").and_then(Value::as_str) {
            // The applicant's word decides which tests are required, so it must agree with what the
            // business is registered to do: a restaurant declaring "construction" would escape the
            // oil and LAS tests.
            if let Some(inferred) = inferred.filter(|i| i.category != category && i.confidence >= threshold) {
                findings.push(Finding {
                    rule: "fields.discharge_category".into(),
                    result: RuleResult::Unknown,
                    message: format!(
                        "申请表排水类别“{}”与营业执照经营范围（{}）推断的“{}”不一致，需人工确认",
                        category,
                        inferred.cues.join("、"),
                        inferred.category
                    ),
                    basis: basis.to_string(),
                    evidence: vec![Evidence {
                        document: fields.get("licence.business_scope").and_then(|f| f.document.clone()),
                        field: "licence.business_scope".into(),
                        value: json!(scope),
                    }],
                });
            }
            return category.to_string();
        }
        let scope_field = fields.get("licence.business_scope").cloned();
        match inferred {
            Some(inferred) => {
                // As sure as the weaker of the two: the category reading and the scope it was read from.
                let confidence = round3(inferred.confidence.min(scope_field.as_ref().map(|f| f.confidence).unwrap_or(1.0)));
                fields.insert(
                    "discharge_category".into(),
                    FieldReport {
                        value: json!(inferred.category),
                        source: FieldSource::Derived,
                        confidence,
                        document: scope_field.as_ref().and_then(|f| f.document.clone()),
                        page: scope_field.as_ref().and_then(|f| f.page),
                        line: Some(format!("依据：{}", inferred.cues.join("、"))),
                        corrected_from: None,
                    },
                );
                if confidence < threshold {
                    findings.push(Finding {
                        rule: "fields.discharge_category".into(),
                        result: RuleResult::Unknown,
                        message: format!(
                            "根据营业执照推断排水类别为“{}”，但把握不足（置信度{}），需人工确认",
                            inferred.category,
                            format_number(confidence)
                        ),
                        basis: basis.to_string(),
                        evidence: vec![Evidence {
                            document: scope_field.and_then(|f| f.document),
                            field: "licence.business_scope".into(),
                            value: json!(scope),
                        }],
                    });
                }
                inferred.category
            }
            None => {
                findings.push(Finding {
                    rule: "fields.discharge_category".into(),
                    result: RuleResult::Unknown,
                    message: "申请表未填排水类别，且无法从营业执照经营范围判定，需人工确认".into(),
                    basis: basis.to_string(),
                    evidence: vec![],
                });
                "other".into()
            }
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The decision's field key for a path an expression reads: `form.credit_code` → `credit_code`,
/// `licence.name` → `licence.name`, `category` → `discharge_category`.
fn field_key(path: &str) -> Option<String> {
    if let Some(rest) = path.strip_prefix("form.") {
        return Some(rest.split('.').next().unwrap_or(rest).to_string());
    }
    if path == "category" {
        return Some("discharge_category".into());
    }
    path.contains('.').then(|| path.to_string())
}

fn set_path(object: &mut Value, path: &str, value: Value) {
    let mut target = object;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            target[part] = value;
            return;
        }
        if !target.get(part).is_some_and(Value::is_object) {
            target[part] = json!({});
        }
        target = &mut target[part];
    }
}
