//! Collecting what was understood of an application's files: which material each file was taken
//! for, and every field the decision may rest on, with a reviewer's corrections in place.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{round3, Case};
use crate::domain::decision::{DocumentReport, Evidence, FieldReport, FieldSource, Finding, RuleResult};
use crate::understanding::Understood;

/// A document kind read less surely than this goes to a person (a service may set `kind_confidence`).
const KIND_CONFIDENCE_DEFAULT: f64 = 0.7;

/// The first stage of the decision: the documents, the fields and the values the rules will see.
#[derive(Debug, Clone)]
pub struct Collected {
    /// The form the rules see: the applicant's (absent optional fields at their defaults) with a
    /// reviewer's corrections of form fields in place. `fields` keeps the applicant's values, so a
    /// correction can name them.
    pub form: Value,
    /// Every field by its decision key: the form's, then each document kind's under its variable.
    pub fields: BTreeMap<String, FieldReport>,
    /// Document fields by rule variable (`licence` → {name: …}), as the rules see them.
    pub documents: BTreeMap<String, Value>,
    /// What each file was taken for, in upload order.
    pub reports: Vec<DocumentReport>,
    /// The material ids among the readable documents, in upload order.
    pub materials: Vec<String>,
    /// Files that could not be read, and readable ones of unsure kind.
    pub findings: Vec<Finding>,
    pub any_unreadable: bool,
    /// Names of the files read by OCR.
    pub read_by_ocr: Vec<String>,
}

/// Collects documents and fields for `case`.
pub fn collect(case: &Case<'_>) -> Collected {
    let schema = case.service.form_schema();
    let form = crate::rules::schema::apply_defaults(schema, case.form);
    let mut decided_form = form.clone();
    for (key, value) in case.corrections {
        if form.get(key).is_some() || schema.contains_key(key) {
            decided_form[key] = value.clone();
        }
    }
    let (reports, materials, findings) = documents(case);
    let mut fields = form_fields(&form);
    let mut documents = document_fields(case, &mut fields);
    apply_corrections(case.corrections, &mut fields, &mut documents);
    Collected {
        form: decided_form,
        fields,
        documents,
        reports,
        materials,
        findings,
        any_unreadable: case.documents.iter().any(|d| !d.is_readable()),
        read_by_ocr: case.documents.iter().filter(|d| d.read_by_ocr).map(|d| d.file.clone()).collect(),
    }
}

/// What each file was taken for, the materials present, and the findings about files themselves.
fn documents(case: &Case<'_>) -> (Vec<DocumentReport>, Vec<String>, Vec<Finding>) {
    let kind_threshold = case.service.param_f64("kind_confidence").unwrap_or(KIND_CONFIDENCE_DEFAULT);
    let basis = &case.service.info().basis;
    let kinds = &case.rules.documents.kinds;
    let (mut reports, mut materials, mut findings) = (Vec::new(), Vec::new(), Vec::new());
    for document in case.documents {
        let (kind, confidence) = match &document.understood {
            Some(u) => (u.classification.kind.clone(), u.classification.confidence),
            None => ("unknown".to_string(), 0.0),
        };
        if let Some(reason) = &document.unreadable {
            findings.push(Finding {
                rule: "documents.unreadable".into(),
                result: RuleResult::Fail,
                message: format!("文件“{}”无法读取：{}。请重新上传清晰、完整、未加密的材料", document.file, reason),
                basis: basis.clone(),
                evidence: vec![Evidence { document: Some(document.file.clone()), field: "file".into(), value: json!(document.file) }],
            });
        } else if kind == "unknown" || confidence < kind_threshold {
            let kind_name = kinds.get(&kind).map(|k| k.name.as_str()).unwrap_or("未知材料");
            findings.push(Finding {
                rule: "documents.kind_confidence".into(),
                result: RuleResult::Unknown,
                message: format!("无法确定文件“{}”是何种材料（最接近：{}，置信度{:.2}），需人工确认", document.file, kind_name, confidence),
                basis: basis.clone(),
                evidence: vec![Evidence { document: Some(document.file.clone()), field: "kind".into(), value: json!(kind) }],
            });
        }
        // A rebuilt file counts for its kind, but a person checks it against the original: a
        // material with no fields (a drainage plan) would otherwise issue on whatever survived.
        if document.repaired && document.is_readable() {
            findings.push(Finding {
                rule: "documents.repaired".into(),
                result: RuleResult::Unknown,
                message: format!("文件“{}”的结构已损坏，经修复后读取，内容可能不完整，需人工核对", document.file),
                basis: basis.clone(),
                evidence: vec![Evidence { document: Some(document.file.clone()), field: "file".into(), value: json!(document.file) }],
            });
        }
        if let Some(finding) = document.understood.as_ref().and_then(|u| unread_finding(case, &document.file, u)) {
            findings.push(finding);
        }
        if document.is_readable() && kind != "unknown" && !materials.contains(&kind) {
            materials.push(kind.clone());
        }
        reports.push(DocumentReport {
            file: document.file.clone(),
            sha256: document.sha256.clone(),
            kind,
            confidence,
            readable: document.is_readable(),
            reason: document.unreadable.clone(),
        });
    }
    (reports, materials, findings)
}

/// Rows the readers saw and could not read keep the document from counting as read: a person reads
/// them (a result of an item no alias names may be over its limit).
fn unread_finding(case: &Case<'_>, file: &str, understood: &Understood) -> Option<Finding> {
    understood.unread.first()?;
    let variable =
        case.rules.documents.kinds.get(&understood.classification.kind).and_then(|k| k.variable.as_deref()).unwrap_or("documents");
    let rows: Vec<String> = understood.unread.iter().map(|u| format!("第{}页“{}”（{}）", u.page, u.text.trim(), u.reason)).collect();
    Some(Finding {
        rule: format!("{variable}.rows_unread"),
        result: RuleResult::Unknown,
        message: format!("文件“{file}”中有{}处内容未能读取，未经核对不能作出决定：{}", understood.unread.len(), rows.join("；")),
        basis: case.service.info().basis.clone(),
        evidence: understood
            .unread
            .iter()
            .map(|u| Evidence { document: Some(file.to_string()), field: format!("page{}", u.page), value: json!(u.text) })
            .collect(),
    })
}

fn form_fields(form: &Value) -> BTreeMap<String, FieldReport> {
    let Some(map) = form.as_object() else { return BTreeMap::new() };
    map.iter()
        .map(|(key, value)| {
            let report = FieldReport {
                value: value.clone(),
                source: FieldSource::Form,
                confidence: 1.0,
                document: None,
                page: None,
                line: None,
                corrected_from: None,
                note: None,
            };
            (key.clone(), report)
        })
        .collect()
}

/// Each document kind's fields under its rule variable. The first document of a kind to give a
/// field gives its value; another document of the kind that disagrees leaves it doubtful.
fn document_fields(case: &Case<'_>, fields: &mut BTreeMap<String, FieldReport>) -> BTreeMap<String, Value> {
    let mut values = BTreeMap::new();
    for (kind_id, kind) in &case.rules.documents.kinds {
        let Some(variable) = &kind.variable else { continue };
        let mut object = json!({});
        if let Some(results) = &kind.results {
            object[results] = json!({});
        }
        let of_kind = case.documents.iter().filter_map(|d| d.understood.as_ref().map(|u| (d, u)));
        for (document, understood) in of_kind.filter(|(_, u)| &u.classification.kind == kind_id) {
            for field in &understood.fields {
                let key = format!("{variable}.{}", field.path);
                match fields.get_mut(&key) {
                    Some(existing) if existing.value != field.value => existing.confidence = existing.confidence.min(0.5),
                    Some(_) => {}
                    None => {
                        set_path(&mut object, &field.path, field.value.clone());
                        let report = FieldReport {
                            value: field.value.clone(),
                            source: FieldSource::Document,
                            confidence: round3(field.confidence),
                            document: Some(document.file.clone()),
                            page: Some(field.page),
                            line: Some(field.line.clone()),
                            corrected_from: None,
                            note: field.note.clone(),
                        };
                        fields.insert(key, report);
                    }
                }
            }
        }
        values.insert(variable.clone(), object);
    }
    values
}

/// A reviewer's corrections take the place of the readings; the readings stay on record.
fn apply_corrections(
    corrections: &BTreeMap<String, Value>,
    fields: &mut BTreeMap<String, FieldReport>,
    documents: &mut BTreeMap<String, Value>,
) {
    for (key, value) in corrections {
        let original = fields.get(key).map(|f| f.value.clone());
        if let Some((variable, path)) = key.split_once('.') {
            if let Some(object) = documents.get_mut(variable) {
                set_path(object, path, value.clone());
            }
        }
        let previous = fields.remove(key);
        let report = FieldReport {
            value: value.clone(),
            source: FieldSource::Correction,
            confidence: 1.0,
            document: previous.as_ref().and_then(|f| f.document.clone()),
            page: previous.as_ref().and_then(|f| f.page),
            line: previous.and_then(|f| f.line),
            corrected_from: original.or(Some(Value::Null)),
            // The reading's note (按含义读作…, 按 0.05 计) is about the value the person replaced.
            note: None,
        };
        fields.insert(key.clone(), report);
    }
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
