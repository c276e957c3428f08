//! Rules as data: loading, validating and hashing the files under `rules/`, and evaluating them.
//!
//! Expressions are CEL (the `cel` crate). A rule set that does not parse, or that names a field the
//! service does not have, is refused at load time so the service never starts with a broken rule.

pub mod catalog;
pub mod engine;
pub mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use catalog::{CategoriesFile, DocumentsFile, FormField, FormFieldKind, ReviewReasonsFile, ServiceFile, TestItemsFile, WaterStandard};

pub use engine::{CompiledService, Evaluation, Facts, RuleOutcome, RuleStatus};

#[derive(Debug, thiserror::Error)]
pub enum RuleSetError {
    /// Reading the rule files failed (`config::read_rules_dir`): the filesystem's word, as text.
    #[error("cannot read rule files in {path}: {error}")]
    Io { path: String, error: String },
    #[error("rule file {file} is missing")]
    Missing { file: String },
    #[error("rule file {file} does not parse: {error}")]
    Toml { file: String, error: String },
    #[error("rule file {file}, {item}: expression does not compile: {error}")]
    Compile { file: String, item: String, error: String },
    #[error("rule file {file}, {item}: unknown field `{path}`")]
    UnknownField { file: String, item: String, path: String },
    #[error("rule file {file}, {item}: {error}")]
    Invalid { file: String, item: String, error: String },
}

/// Every file of a rule set, by path relative to the rules directory. Kept so a decision can be
/// replayed under exactly the rule set it was made under, even after the files changed.
pub type RuleFiles = BTreeMap<String, String>;

/// A loaded, validated rule set.
pub struct RuleSet {
    hash: String,
    files: RuleFiles,
    pub services: BTreeMap<String, CompiledService>,
    pub documents: DocumentsFile,
    pub water: WaterStandard,
    pub test_items: TestItemsFile,
    pub categories: CategoriesFile,
    pub review_reasons: ReviewReasonsFile,
    pub calendar: crate::domain::calendar::WorkCalendar,
    /// Retirement ages and minimum contributions (for the retirement service, issue 4).
    pub retirement: Arc<crate::domain::retirement::RetirementTable>,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet").field("hash", &self.hash).field("services", &self.services.keys()).finish()
    }
}

const DOCUMENTS_FILE: &str = "documents.toml";
const WATER_FILE: &str = "tables/gbt31962-2015.toml";
const TEST_ITEMS_FILE: &str = "tables/test-items.toml";
const CATEGORIES_FILE: &str = "tables/discharge-categories.toml";
const REVIEW_REASONS_FILE: &str = "tables/review-reasons.toml";
const CALENDAR_FILE: &str = "tables/calendar.toml";
const RETIREMENT_FILE: &str = "tables/retirement.toml";
/// Optional: rule sets recorded before it existed still load (and replay) without it.
const KEY_DISCHARGERS_FILE: &str = "tables/key-dischargers.toml";

/// The authority's list of key dischargers (重点排水户名录).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDischargersFile {
    #[serde(default)]
    dischargers: Vec<KeyDischarger>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDischarger {
    credit_code: String,
    #[allow(dead_code)]
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    listed_on: Option<String>,
}
/// The kind and field a documents file from before `results` was declared read results under.
const LEGACY_RESULTS_KIND: &str = "water_quality_report";
const LEGACY_RESULTS_FIELD: &str = "pollutants";

impl RuleSet {
    pub fn from_files(files: RuleFiles) -> Result<Self, RuleSetError> {
        let hash = hash_files(&files);
        let mut documents: DocumentsFile = parse_file(&files, DOCUMENTS_FILE)?;
        // A documents file recorded before kinds declared their results table: the water-quality
        // report's was then read under `pollutants`, and decisions recorded under it replay so.
        if documents.kinds.values().all(|k| k.results.is_none()) {
            if let Some(report) = documents.kinds.get_mut(LEGACY_RESULTS_KIND) {
                report.results = Some(LEGACY_RESULTS_FIELD.into());
            }
        }
        let water: WaterStandard = parse_file(&files, WATER_FILE)?;
        let test_items: TestItemsFile = parse_file(&files, TEST_ITEMS_FILE)?;
        let categories: CategoriesFile = parse_file(&files, CATEGORIES_FILE)?;
        let review_reasons: ReviewReasonsFile = parse_file(&files, REVIEW_REASONS_FILE)?;
        let calendar_file: crate::domain::calendar::CalendarFile = parse_file(&files, CALENDAR_FILE)?;
        let calendar = crate::domain::calendar::WorkCalendar::new(&calendar_file);
        let retirement: Arc<crate::domain::retirement::RetirementTable> = Arc::new(parse_file(&files, RETIREMENT_FILE)?);
        for reason in &review_reasons.reasons {
            if !matches!(reason.action.as_str(), "issue" | "refuse" | "request_materials") {
                return Err(RuleSetError::Invalid {
                    file: REVIEW_REASONS_FILE.into(),
                    item: reason.code.clone(),
                    error: format!("unknown action {}", reason.action),
                });
            }
        }
        if let Some(m) = documents.label_meaning {
            if !(m.similarity > 0.0 && m.similarity <= 1.0 && (0.0..1.0).contains(&m.margin)) {
                return Err(RuleSetError::Invalid {
                    file: DOCUMENTS_FILE.into(),
                    item: "label_meaning".into(),
                    error: format!("similarity must be in (0, 1] and margin in [0, 1), not {} and {}", m.similarity, m.margin),
                });
            }
        }
        for (category, items) in &test_items.required {
            for item in items {
                if !water.items.contains_key(item) {
                    return Err(RuleSetError::UnknownField { file: TEST_ITEMS_FILE.into(), item: category.clone(), path: item.clone() });
                }
            }
        }
        let key_dischargers: Option<Vec<String>> = match files.contains_key(KEY_DISCHARGERS_FILE) {
            false => None,
            true => {
                let list: KeyDischargersFile = parse_file(&files, KEY_DISCHARGERS_FILE)?;
                if let Some(bad) = list.dischargers.iter().find(|d| crate::domain::credit_code::CreditCode::parse(&d.credit_code).is_err())
                {
                    return Err(RuleSetError::Invalid {
                        file: KEY_DISCHARGERS_FILE.into(),
                        item: bad.credit_code.clone(),
                        error: "not a valid unified social credit code".into(),
                    });
                }
                Some(list.dischargers.iter().map(|d| crate::domain::credit_code::code_key(&d.credit_code)).collect())
            }
        };
        let mut services = BTreeMap::new();
        let mut rule_ids: Vec<String> = Vec::new();
        for name in files.keys().filter(|f| !f.contains('/') && f.as_str() != DOCUMENTS_FILE) {
            let mut service: ServiceFile = parse_file(&files, name)?;
            rule_ids.extend(service.rules.iter().map(|r| r.id.clone()));
            if let Some(codes) = &key_dischargers {
                // The list is a table every service's rules may read, as params.key_dischargers.
                if service.params.contains_key("key_dischargers") {
                    return Err(RuleSetError::Invalid {
                        file: name.clone(),
                        item: "params.key_dischargers".into(),
                        error: format!("is given by {KEY_DISCHARGERS_FILE}"),
                    });
                }
                let list = codes.iter().map(|c| toml::Value::String(c.clone())).collect();
                service.params.insert("key_dischargers".into(), toml::Value::Array(list));
            }
            if service.steps.is_none() {
                service.steps = Some(catalog::ServiceSteps::legacy(&service.form));
            }
            // After the expressions compile, so a misspelt path is named as such first.
            let checked = every_measured_item_checked(name, &service, &documents, &water);
            let known = KnownPaths::build(&service, &documents, &water);
            check_value_labels(name, "form", &service.form)?;
            let order: catalog::FormOrder = parse_file(&files, name)?;
            let mut compiled = CompiledService::compile(name, service, &known, &documents, &water, Arc::clone(&retirement))?;
            compiled.set_form_order(order);
            checked?;
            services.insert(compiled.info().id.clone(), compiled);
        }
        // A reason that settles a rule no service has would settle nothing, silently.
        for reason in &review_reasons.reasons {
            if let Some(unknown) = reason.settles.iter().find(|id| !rule_ids.contains(id)) {
                return Err(RuleSetError::Invalid {
                    file: REVIEW_REASONS_FILE.into(),
                    item: reason.code.clone(),
                    error: format!("settles unknown rule {unknown}"),
                });
            }
        }
        Ok(Self { hash, files, services, documents, water, test_items, categories, review_reasons, calendar, retirement })
    }

    /// `sha256:` over every file's path and bytes, in path order.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn files(&self) -> &RuleFiles {
        &self.files
    }

    pub fn service(&self, id: &str) -> Option<&CompiledService> {
        self.services.get(id)
    }

    /// Every service, by id.
    pub fn services(&self) -> impl Iterator<Item = &CompiledService> {
        self.services.values()
    }
}

/// A field's `labels`, if given, name each of its `values` once.
fn check_value_labels(file: &str, prefix: &str, fields: &BTreeMap<String, catalog::FormField>) -> Result<(), RuleSetError> {
    for (name, field) in fields {
        let path = format!("{prefix}.{name}");
        if !field.labels.is_empty() && field.labels.len() != field.values.len() {
            return Err(RuleSetError::Invalid {
                file: file.into(),
                item: path,
                error: format!("has {} labels for {} values", field.labels.len(), field.values.len()),
            });
        }
        check_value_labels(file, &path, &field.fields)?;
        check_value_labels(file, &path, &field.item)?;
    }
    Ok(())
}

fn parse_file<T: serde::de::DeserializeOwned>(files: &RuleFiles, name: &str) -> Result<T, RuleSetError> {
    let text = files.get(name).ok_or_else(|| RuleSetError::Missing { file: name.into() })?;
    toml::from_str(text).map_err(|e| RuleSetError::Toml { file: name.into(), error: e.to_string() })
}

fn hash_files(files: &RuleFiles) -> String {
    let mut hasher = Sha256::new();
    for (path, text) in files {
        hasher.update((path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// The dotted paths a service's expressions may name, for the load-time check.
pub(crate) struct KnownPaths {
    paths: BTreeSet<String>,
    /// Variables whose members are checked; members of others (macro variables) are not.
    checked_roots: BTreeSet<String>,
}

impl KnownPaths {
    fn build(service: &ServiceFile, documents: &DocumentsFile, water: &WaterStandard) -> Self {
        let mut paths = BTreeSet::new();
        fn add_form(prefix: &str, fields: &BTreeMap<String, FormField>, paths: &mut BTreeSet<String>) {
            for (name, field) in fields {
                let path = format!("{prefix}.{name}");
                if field.kind == FormFieldKind::Object {
                    add_form(&path, &field.fields, paths);
                }
                paths.insert(path);
            }
        }
        add_form("form", &service.form, &mut paths);
        let mut checked_roots: BTreeSet<String> = ["form", "limits", "params"].map(String::from).into();
        for kind in documents.kinds.values() {
            if let Some(variable) = &kind.variable {
                checked_roots.insert(variable.clone());
                for field in kind.fields.keys() {
                    paths.insert(format!("{variable}.{field}"));
                }
            }
        }
        for kind in documents.kinds.values() {
            let (Some(variable), Some(results)) = (&kind.variable, &kind.results) else { continue };
            paths.insert(format!("{variable}.{results}"));
            for item in water.items.keys() {
                paths.insert(format!("{variable}.{results}.{item}"));
            }
        }
        for (key, spec) in &water.items {
            if spec.min.is_empty() {
                paths.insert(format!("limits.{key}"));
            } else {
                paths.insert(format!("limits.{key}_min"));
                paths.insert(format!("limits.{key}_max"));
            }
        }
        for key in service.params.keys() {
            paths.insert(format!("params.{key}"));
        }
        Self { paths, checked_roots }
    }

    /// The first dotted path in `expr` that names a member the service does not have.
    pub(crate) fn first_unknown(&self, expr: &str) -> Option<String> {
        referenced_paths(expr).into_iter().find(|p| {
            let root = p.split('.').next().unwrap_or_default();
            self.checked_roots.contains(root) && p.contains('.') && !self.paths.contains(p)
        })
    }
}

/// A service that checks limits must check every item of the standard a report may measure: an
/// item with a limit in the table and no rule reading it would be read and then ignored, and a
/// permit issued over it (domain.md §1.10: every measured item is checked).
fn every_measured_item_checked(
    file: &str,
    service: &ServiceFile,
    documents: &DocumentsFile,
    water: &WaterStandard,
) -> Result<(), RuleSetError> {
    if service.steps.as_ref().is_none_or(|s| s.limits.is_none()) {
        return Ok(());
    }
    let read: BTreeSet<String> = service
        .rules
        .iter()
        .flat_map(|r| referenced_paths(&r.expr).into_iter().chain(r.when.iter().flat_map(|w| referenced_paths(w))))
        .collect();
    for kind in documents.kinds.values() {
        let (Some(variable), Some(results)) = (&kind.variable, &kind.results) else { continue };
        if let Some(item) = water.items.keys().find(|item| !read.contains(&format!("{variable}.{results}.{item}"))) {
            return Err(RuleSetError::Invalid {
                file: file.into(),
                item: item.clone(),
                error: format!("{variable}.{results}.{item} has a limit in the standard but no rule checks it"),
            });
        }
    }
    Ok(())
}

static STRING_LITERAL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*""#).unwrap());
static DOTTED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*").unwrap());

/// Every dotted path an expression names, without string literals and with method names dropped:
/// `form.outlets.exists(o, o.kind == 'foul')` names `form.outlets` and `o.kind`.
pub(crate) fn referenced_paths(expr: &str) -> Vec<String> {
    let stripped = STRING_LITERAL.replace_all(expr, "''");
    let mut out = Vec::new();
    for m in DOTTED.find_iter(&stripped) {
        let before = stripped[..m.start()].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_digit() || c == '.') {
            continue;
        }
        let mut path = m.as_str().to_string();
        if stripped[m.end()..].trim_start().starts_with('(') {
            // A call: a bare function (`valid_uscc(`) names nothing; a method drops its last segment.
            match path.rfind('.') {
                Some(dot) => path.truncate(dot),
                None => continue,
            }
        }
        if matches!(path.as_str(), "in" | "true" | "false" | "null") {
            continue;
        }
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_paths_drop_methods_and_literals() {
        assert_eq!(referenced_paths("form.outlets.exists(o, o.kind == 'foul.x')"), vec!["form.outlets", "o", "o.kind"]);
        assert_eq!(
            referenced_paths("valid_uscc(licence.credit_code) && 'cod' in report.pollutants"),
            vec!["licence.credit_code", "report.pollutants"]
        );
        assert_eq!(referenced_paths("report.pollutants.ph >= 6.5"), vec!["report.pollutants.ph"]);
    }

    #[test]
    fn an_item_of_the_standard_without_a_rule_that_checks_it_is_refused_at_load() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let mut files = crate::config::read_rules_dir(&dir).unwrap();
        assert!(RuleSet::from_files(files.clone()).is_ok());
        let drainage = files.get_mut("drainage-permit.toml").unwrap();
        let start = drainage.find("[[rules]]\nid = \"water.ni_limit\"").expect("the nickel rule");
        let end = start + drainage[start + 1..].find("[[rules]]").unwrap() + 1;
        drainage.replace_range(start..end, "");
        let Err(error) = RuleSet::from_files(files) else { panic!("a rule set with an unchecked item loaded") };
        let error = error.to_string();
        assert!(error.contains("report.pollutants.ni") && error.contains("no rule checks it"), "{error}");
    }
}
