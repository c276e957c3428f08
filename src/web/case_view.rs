//! What a case page shows, worked out from the use cases' `ApplicationView`: the state in words,
//! the task list of materials, the files with what each was read as, and the outcome's notice.
//! Presentation only: every fact comes from the view (the decision, the rules' material needs).

use serde_json::Value;

use crate::domain::application::ApplicationState;
use crate::domain::decision::Decision;
use crate::usecases::applications::ApplicationView;

/// A state as the applicant reads it, with the tag's colour.
pub fn state_label(state: ApplicationState) -> (&'static str, &'static str) {
    match state {
        ApplicationState::Draft => ("未提交", "grey"),
        ApplicationState::Submitted => ("审批中", "blue"),
        ApplicationState::Issued => ("已办结：准予许可", "green"),
        ApplicationState::NeedsReview => ("人工审核中", "yellow"),
        ApplicationState::NeedsMaterials => ("需补正材料", "red"),
        ApplicationState::Refused => ("已办结：不予许可", "red"),
    }
}

/// One line of the task list.
#[derive(Debug, Clone)]
pub struct Task {
    pub name: String,
    pub status: &'static str,
    pub tag: &'static str,
    pub detail: String,
}

/// One uploaded file as the page lists it.
#[derive(Debug, Clone)]
pub struct FileRow {
    pub id: i64,
    pub name: String,
    pub size: String,
    pub read_as: String,
    pub problem: String,
    pub withdrawn: bool,
}

pub fn size_text(bytes: i64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", (bytes as f64 / 1024.0).ceil().max(1.0))
    }
}

/// The machine's decision on the latest submission, if any.
pub fn latest_decision(view: &ApplicationView) -> Option<Decision> {
    view.decisions.last().and_then(|d| serde_json::from_str(&d.decision).ok())
}

/// The task list: every material the form needs (or may need), and where each stands. Before a
/// decision a file's material is not known yet (files are recognised when the case is submitted);
/// after one, the decision says which material each file was read as and what is missing.
pub fn tasks(needs: &[(String, String, Option<bool>)], decision: Option<&Decision>, has_files: bool) -> Vec<Task> {
    needs
        .iter()
        .filter(|(_, _, need)| *need != Some(false))
        .map(|(id, name, need)| {
            let conditional = if need.is_none() { "（视情况需要）" } else { "" };
            let name = format!("{name}{conditional}");
            let Some(decision) = decision else {
                let (status, tag) = if has_files { ("提交后识别", "blue") } else { ("未上传", "grey") };
                return Task { name, status, tag, detail: String::new() };
            };
            let read: Vec<&crate::domain::decision::DocumentReport> = decision.documents.iter().filter(|d| d.kind == *id).collect();
            if decision.missing_materials.contains(id) {
                let unreadable: Vec<String> = decision
                    .documents
                    .iter()
                    .filter(|d| !d.readable)
                    .map(|d| format!("“{}”{}", d.file, d.reason.clone().unwrap_or_default()))
                    .collect();
                let detail =
                    if unreadable.is_empty() { String::new() } else { format!("无法识别的文件：{}", unreadable.join("；")) };
                Task { name, status: "缺少", tag: "red", detail }
            } else if read.iter().any(|d| d.readable) {
                let files: Vec<&str> = read.iter().map(|d| d.file.as_str()).collect();
                Task { name, status: "已提供", tag: "green", detail: format!("识别自：{}", files.join("、")) }
            } else {
                Task { name, status: "不需要", tag: "grey", detail: String::new() }
            }
        })
        .collect()
}

/// The files of the case, current first, with what the latest decision read each as.
pub fn files(view: &ApplicationView, decision: Option<&Decision>, kind_name: impl Fn(&str) -> String) -> Vec<FileRow> {
    let mut rows: Vec<FileRow> = view
        .documents
        .iter()
        .map(|d| {
            let report = decision.and_then(|dec| dec.documents.iter().find(|r| r.sha256 == d.sha256));
            let (read_as, problem) = match report {
                None => (String::new(), String::new()),
                Some(r) if !r.readable => ("无法识别".to_string(), r.reason.clone().unwrap_or_default()),
                Some(r) => (kind_name(&r.kind), String::new()),
            };
            FileRow {
                id: d.id,
                name: d.file_name.clone(),
                size: size_text(d.size_bytes),
                read_as,
                problem,
                withdrawn: d.withdrawn_at.is_some(),
            }
        })
        .collect();
    rows.sort_by_key(|r| r.withdrawn);
    rows
}

/// What the applicant is told the decision found: for materials asked for, each missing one by
/// name; for a case with a person, the findings' messages (a reviewer will decide on them).
pub fn findings(decision: &Decision) -> Vec<(String, String)> {
    decision.findings.iter().map(|f| (f.message.clone(), f.basis.clone())).collect()
}

/// A person's last written decision on the case (a refusal with its reasons, basis and remedies;
/// a notice of materials; an issue with its reason), as a title and its paragraphs.
pub fn person_notice(view: &ApplicationView) -> Option<(String, Vec<String>)> {
    let review = view.reviews.last()?;
    let document: Value = serde_json::from_str(&review.document).unwrap_or(Value::Null);
    let text = |key: &str| document.get(key).and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_string);
    let title = text("title").unwrap_or_else(|| "审核决定".into());
    let mut lines: Vec<String> = Vec::new();
    if let Some(reasons) = document.get("reasons").and_then(Value::as_array) {
        lines.extend(reasons.iter().filter_map(Value::as_str).filter(|t| !t.is_empty()).map(|t| format!("理由：{t}")));
    }
    lines.extend(["reason", "message", "text", "basis", "remedies"].iter().filter_map(|k| text(k)));
    if lines.is_empty() && !review.text.is_empty() {
        lines.push(review.text.clone());
    }
    Some((title, lines))
}

/// A decision field's key (`licence.name`, `report.pollutants.ni`, `form.applicant_name`) as a
/// person reads it: the rule files' own words for it (the document kind's first label, the water
/// standard's item name, the form's label), or the key itself when the files name it nowhere.
pub fn field_label(rules: &crate::rules::RuleSet, service: &crate::rules::CompiledService, key: &str) -> String {
    let mut parts = key.split('.');
    let variable = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let named = if variable == "form" {
        let mut fields = service.form_schema();
        let mut label = None;
        for part in rest.iter().filter(|p| p.parse::<usize>().is_err()) {
            let Some(spec) = fields.get(*part) else {
                // A part the schema does not name: no label rather than its parent's.
                label = None;
                break;
            };
            label = Some(spec.label.clone());
            fields = if spec.fields.is_empty() { &spec.item } else { &spec.fields };
        }
        label
    } else {
        rules.documents.kinds.values().find(|k| k.variable.as_deref() == Some(variable)).and_then(|kind| match rest.as_slice() {
            [table, item] if kind.results.as_deref() == Some(*table) => rules.water.items.get(*item).map(|i| i.name.clone()),
            [field] => kind.fields.get(*field).and_then(|f| f.labels.first().cloned()),
            _ => None,
        })
    };
    named.unwrap_or_else(|| key.to_string())
}
