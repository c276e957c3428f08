//! Evaluation of a service's compiled CEL expressions over the facts of one application.
//!
//! Pure: the facts (form, fields read from documents with their values, materials present) come in,
//! rule outcomes come out. Models and readers are never called from here.

use std::collections::BTreeMap;
use std::sync::Arc;

use cel::{Context, ExecutionError, Program, Value as CelValue};
use chrono::NaiveDate;
use serde_json::{json, Value};

use super::catalog::{DocumentsFile, FormField, FormFieldKind, RuleSpec, ServiceFile, ServiceInfo, WaterStandard};
use super::{referenced_paths, KnownPaths, RuleSetError};
use chrono::Datelike;

mod needs;

use crate::domain::credit_code::CreditCode;
use crate::domain::id_number::{IdNumber, Sex};
use crate::domain::phone::is_valid_phone;
use crate::domain::retirement::{Age, RetirementTable};
use crate::understanding::normalize::name_key;

struct CompiledExpr {
    source: String,
    program: Program,
}

impl CompiledExpr {
    fn compile(file: &str, item: &str, source: &str, known: &KnownPaths) -> Result<Self, RuleSetError> {
        let program =
            Program::compile(source).map_err(|e| RuleSetError::Compile { file: file.into(), item: item.into(), error: e.to_string() })?;
        if let Some(path) = known.first_unknown(source) {
            return Err(RuleSetError::UnknownField { file: file.into(), item: item.into(), path });
        }
        Ok(Self { source: source.to_string(), program })
    }
}

struct CompiledRule {
    spec: RuleSpec,
    when: Option<CompiledExpr>,
    expr: CompiledExpr,
    /// Literal text and `{expression}` parts of the message.
    message: Vec<MessagePart>,
    /// Every path the rule reads, for evidence and for the confidence check.
    referenced: Vec<String>,
}

enum MessagePart {
    Text(String),
    Expr(CompiledExpr),
}

struct CompiledMaterial {
    id: String,
    required: Option<CompiledExpr>,
}

/// A service's rules, compiled and checked.
pub struct CompiledService {
    file: ServiceFile,
    retirement: Arc<RetirementTable>,
    materials: Vec<CompiledMaterial>,
    rules: Vec<CompiledRule>,
    spot_check: Option<CompiledExpr>,
    form_order: super::catalog::FormOrder,
}

/// Everything the rules may look at for one application.
#[derive(Debug, Clone)]
pub struct Facts {
    pub form: Value,
    /// Document fields by rule variable: `licence` → {name: …}, `report` → {…, pollutants: {…}}.
    pub documents: BTreeMap<String, Value>,
    pub materials: Vec<String>,
    pub category: String,
    pub limits: Value,
    pub required_items: Vec<String>,
    pub submitted: NaiveDate,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleStatus {
    Pass,
    Fail,
    /// The rule could not be decided (a field it needs was not read).
    Unknown(String),
    NotApplicable,
}

#[derive(Debug, Clone)]
pub struct RuleOutcome {
    pub id: String,
    pub basis: String,
    /// The bundle items the rule concerns; empty means all.
    pub items: Vec<String>,
    pub status: RuleStatus,
    pub message: String,
    pub referenced: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Material ids required under these facts but not among `facts.materials`, in rule-file order.
    pub missing_materials: Vec<String>,
    pub outcomes: Vec<RuleOutcome>,
    pub spot_check: bool,
}

impl CompiledService {
    pub(super) fn compile(
        file_name: &str,
        file: ServiceFile,
        known: &KnownPaths,
        documents: &DocumentsFile,
        water: &WaterStandard,
        retirement: Arc<RetirementTable>,
    ) -> Result<Self, RuleSetError> {
        let mut materials = Vec::new();
        for material in &file.materials {
            if !documents.kinds.contains_key(&material.id) {
                return Err(RuleSetError::Invalid {
                    file: file_name.into(),
                    item: format!("material {}", material.id),
                    error: "not a document kind in documents.toml".into(),
                });
            }
            let required = match &material.required {
                Some(src) => Some(CompiledExpr::compile(file_name, &format!("material {}", material.id), src, known)?),
                None => None,
            };
            materials.push(CompiledMaterial { id: material.id.clone(), required });
        }
        let unknown_item = file
            .rules
            .iter()
            .flat_map(|r| r.items.iter().map(move |i| (r.id.clone(), i)))
            .chain(file.materials.iter().flat_map(|m| m.items.iter().map(move |i| (m.id.clone(), i))))
            .find(|(_, item)| !file.items.contains_key(*item));
        if let Some((owner, item)) = unknown_item {
            return Err(RuleSetError::Invalid { file: file_name.into(), item: owner, error: format!("unknown bundle item `{item}`") });
        }
        let mut rules = Vec::new();
        for spec in &file.rules {
            if rules.iter().any(|r: &CompiledRule| r.spec.id == spec.id) {
                return Err(RuleSetError::Invalid { file: file_name.into(), item: spec.id.clone(), error: "duplicate rule id".into() });
            }
            let item = format!("rule {}", spec.id);
            let when = match &spec.when {
                Some(src) => Some(CompiledExpr::compile(file_name, &item, src, known)?),
                None => None,
            };
            let expr = CompiledExpr::compile(file_name, &item, &spec.expr, known)?;
            let message = compile_message(file_name, &item, &spec.message, known)?;
            let mut referenced = Vec::new();
            for src in spec.when.iter().chain(std::iter::once(&spec.expr)) {
                for path in referenced_paths(src) {
                    if !referenced.contains(&path) {
                        referenced.push(path);
                    }
                }
            }
            rules.push(CompiledRule { spec: spec.clone(), when, expr, message, referenced });
        }
        let spot_check = match &file.service.spot_check {
            Some(src) => Some(CompiledExpr::compile(file_name, "service.spot_check", src, known)?),
            None => None,
        };
        let service = Self { file, retirement, materials, rules, spot_check, form_order: Default::default() };
        service.check_against_sample(file_name, documents, water)?;
        Ok(service)
    }

    pub fn info(&self) -> &ServiceInfo {
        &self.file.service
    }

    /// The service's own steps (the loader fills in a legacy file's, so there always are some).
    pub fn steps(&self) -> &super::catalog::ServiceSteps {
        static NONE: super::catalog::ServiceSteps = super::catalog::ServiceSteps { category: None, limits: None };
        self.file.steps.as_ref().unwrap_or(&NONE)
    }

    pub fn form_schema(&self) -> &BTreeMap<String, FormField> {
        &self.file.form
    }

    /// The form's fields in the order the service file writes them.
    pub fn form_order(&self) -> &super::catalog::FormOrder {
        &self.form_order
    }

    pub(super) fn set_form_order(&mut self, order: super::catalog::FormOrder) {
        self.form_order = order;
    }

    /// The bundle's items (id → name); empty for a single-outcome service.
    pub fn items(&self) -> &BTreeMap<String, super::catalog::ItemSpec> {
        &self.file.items
    }

    /// The items a material serves (empty: all).
    pub fn material_items(&self, material: &str) -> &[String] {
        self.file.materials.iter().find(|m| m.id == material).map(|m| m.items.as_slice()).unwrap_or(&[])
    }

    /// The materials as the service file declares them.
    pub fn materials(&self) -> &[super::catalog::MaterialSpec] {
        &self.file.materials
    }

    pub fn material_ids(&self) -> impl Iterator<Item = &str> {
        self.materials.iter().map(|m| m.id.as_str())
    }

    /// A numeric parameter of the service (`[params]`), if present.
    pub fn param_f64(&self, key: &str) -> Option<f64> {
        self.file.params.get(key).and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
    }

    fn params_json(&self) -> Value {
        serde_json::to_value(&self.file.params).unwrap_or(Value::Null)
    }

    /// Evaluates materials, rules and the spot-check condition. Never fails: an expression that
    /// cannot be evaluated makes its rule `unknown`.
    pub fn evaluate(&self, facts: &Facts) -> Evaluation {
        let context = build_context(facts, self.params_json(), &self.retirement);
        let mut missing_materials = Vec::new();
        for material in &self.materials {
            let required = match &material.required {
                None => true,
                // A requirement that cannot be decided is treated as required: asking for a
                // document too many is recoverable, issuing without one is not.
                Some(expr) => !matches!(eval_bool(expr, &context), Ok(false)),
            };
            if required && !facts.materials.contains(&material.id) {
                missing_materials.push(material.id.clone());
            }
        }
        let outcomes = self.rules.iter().map(|rule| evaluate_rule(rule, &context)).collect();
        let spot_check = match &self.spot_check {
            None => false,
            Some(expr) => matches!(eval_bool(expr, &context), Ok(true)),
        };
        Evaluation { missing_materials, outcomes, spot_check }
    }

    /// Runs every expression against a sample application in which every known field is present,
    /// so a misspelt variable or a type error is found at start-up, not on the first application.
    fn check_against_sample(&self, file_name: &str, documents: &DocumentsFile, water: &WaterStandard) -> Result<(), RuleSetError> {
        let mut doc_values = BTreeMap::new();
        for kind in documents.kinds.values() {
            if let Some(variable) = &kind.variable {
                let mut fields = serde_json::Map::new();
                for (name, spec) in &kind.fields {
                    let sample = match spec.kind {
                        super::catalog::FieldKind::Date => json!("2026-01-01"),
                        super::catalog::FieldKind::ValidityEnd => json!("2036-01-01"),
                        super::catalog::FieldKind::Months => json!(360.0),
                        _ => json!("示例"),
                    };
                    fields.insert(name.clone(), sample);
                }
                if let Some(results) = &kind.results {
                    let values: serde_json::Map<String, Value> = water.items.keys().map(|k| (k.clone(), json!(1.0))).collect();
                    fields.insert(results.clone(), Value::Object(values));
                }
                doc_values.insert(variable.clone(), Value::Object(fields));
            }
        }
        let facts = Facts {
            form: sample_form(&self.file.form),
            documents: doc_values,
            materials: documents.kinds.keys().cloned().collect(),
            category: "other".into(),
            limits: limits_for(water, "B"),
            required_items: water.items.keys().cloned().collect(),
            submitted: NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date"),
        };
        let context = build_context(&facts, self.params_json(), &self.retirement);
        let check = |item: &str, expr: &CompiledExpr| -> Result<(), RuleSetError> {
            match expr.program.execute(&context) {
                Ok(CelValue::Bool(_)) => Ok(()),
                // A project function refusing the sample's placeholder data (an ID number "示例") is
                // about the data, not the rule; names, keys and types are what this check is for.
                Err(ExecutionError::FunctionError { .. }) => Ok(()),
                Ok(other) => Err(format!("expected a boolean, got {other:?}")),
                Err(error) => Err(error.to_string()),
            }
            .map_err(|error| RuleSetError::Invalid {
                file: file_name.into(),
                item: item.into(),
                error: format!("`{}` fails on a complete sample application: {error}", expr.source),
            })
        };
        for material in &self.materials {
            if let Some(expr) = &material.required {
                check(&format!("material {}", material.id), expr)?;
            }
        }
        for rule in &self.rules {
            let item = format!("rule {}", rule.spec.id);
            if let Some(when) = &rule.when {
                check(&item, when)?;
            }
            check(&item, &rule.expr)?;
            for part in &rule.message {
                if let MessagePart::Expr(expr) = part {
                    if let Err(ExecutionError::FunctionError { .. }) = expr.program.execute(&context) {
                        continue;
                    }
                    expr.program.execute(&context).map_err(|error| RuleSetError::Invalid {
                        file: file_name.into(),
                        item: item.clone(),
                        error: format!("message part `{}` fails on a sample: {error}", expr.source),
                    })?;
                }
            }
        }
        if let Some(expr) = &self.spot_check {
            check("service.spot_check", expr)?;
        }
        Ok(())
    }
}

fn compile_message(file: &str, item: &str, message: &str, known: &KnownPaths) -> Result<Vec<MessagePart>, RuleSetError> {
    let mut parts = Vec::new();
    let mut rest = message;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        if open > 0 {
            parts.push(MessagePart::Text(rest[..open].to_string()));
        }
        parts.push(MessagePart::Expr(CompiledExpr::compile(file, item, &rest[open + 1..open + close], known)?));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        parts.push(MessagePart::Text(rest.to_string()));
    }
    Ok(parts)
}

fn sample_form(schema: &BTreeMap<String, FormField>) -> Value {
    let mut map = serde_json::Map::new();
    for (name, field) in schema {
        let value = match field.kind {
            FormFieldKind::String => json!("示例"),
            FormFieldKind::Bool => json!(true),
            FormFieldKind::Number => json!(1.0),
            FormFieldKind::Enum => json!(field.values.first().cloned().unwrap_or_default()),
            FormFieldKind::Date => json!("2026-01-01"),
            FormFieldKind::Object => sample_form(&field.fields),
            FormFieldKind::List if field.item.is_empty() => json!(field.values.clone()),
            FormFieldKind::List => json!([sample_form(&field.item)]),
        };
        map.insert(name.clone(), value);
    }
    Value::Object(map)
}

/// Limits of the water standard for one plant grade: `<item>` for a maximum, `<item>_min` and
/// `<item>_max` for a range.
pub fn limits_for(water: &WaterStandard, grade: &str) -> Value {
    let mut map = serde_json::Map::new();
    for (key, spec) in &water.items {
        let max = spec.max.get(grade).copied();
        if spec.min.is_empty() {
            if let Some(max) = max {
                map.insert(key.clone(), json!(max));
            }
        } else {
            if let Some(min) = spec.min.get(grade) {
                map.insert(format!("{key}_min"), json!(min));
            }
            if let Some(max) = max {
                map.insert(format!("{key}_max"), json!(max));
            }
        }
    }
    Value::Object(map)
}

/// Every number becomes a double: CEL does not compare int with double, and rule authors should not
/// have to care whether a form said `500` or `500.0`.
fn all_doubles(value: &Value) -> Value {
    match value {
        Value::Number(n) => n.as_f64().map(|f| json!(f)).unwrap_or(Value::Null),
        Value::Array(items) => Value::Array(items.iter().map(all_doubles).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), all_doubles(v))).collect()),
        other => other.clone(),
    }
}

fn to_cel(value: &Value) -> CelValue {
    cel::to_value(all_doubles(value)).unwrap_or(CelValue::Null)
}

fn build_context(facts: &Facts, params: Value, retirement: &Arc<RetirementTable>) -> Context<'static, 'static> {
    let mut context = Context::default();
    context.add_variable_from_value("form", to_cel(&facts.form));
    for (variable, value) in &facts.documents {
        context.add_variable_from_value(variable.clone(), to_cel(value));
    }
    context.add_variable_from_value("materials", to_cel(&json!(facts.materials)));
    context.add_variable_from_value("category", to_cel(&json!(facts.category)));
    context.add_variable_from_value("limits", to_cel(&facts.limits));
    context.add_variable_from_value("required_items", to_cel(&json!(facts.required_items)));
    context.add_variable_from_value("params", to_cel(&params));
    context.add_variable_from_value("submitted", to_cel(&json!(facts.submitted.format("%Y-%m-%d").to_string())));
    // Names are fixed and distinct from the standard library, so registration cannot fail.
    let _ = context.add_function("valid_uscc", |code: Arc<String>| CreditCode::parse(&code).is_ok());
    let _ = context.add_function("valid_phone", |phone: Arc<String>| is_valid_phone(&phone));
    let _ = context.add_function("same_name", |a: Arc<String>, b: Arc<String>| name_key(&a) == name_key(&b));
    // A credit code as a list holds it: half-width, no spaces, upper case.
    let _ = context.add_function("uscc_key", |code: Arc<String>| crate::domain::credit_code::code_key(&code));
    let _ = context.add_function("same_place", |a: Arc<String>, b: Arc<String>| crate::domain::address::same_place(&a, &b));
    let _ = context.add_function("days_between", days_between);
    let _ = context
        .add_function("year_of", |date: Arc<String>| -> Result<f64, ExecutionError> { Ok(parse_date("year_of", &date)?.year() as f64) });
    let _ = context.add_function("valid_id", |id: Arc<String>, on: Arc<String>| -> Result<bool, ExecutionError> {
        Ok(IdNumber::parse(&id, parse_date("valid_id", &on)?).is_ok())
    });
    let _ = context.add_function("birth_of", |id: Arc<String>| -> Result<Arc<String>, ExecutionError> {
        Ok(Arc::new(id_number("birth_of", &id)?.birth_date().format("%Y-%m-%d").to_string()))
    });
    let _ = context.add_function("sex_of", |id: Arc<String>| -> Result<Arc<String>, ExecutionError> {
        Ok(Arc::new(match id_number("sex_of", &id)?.sex() {
            Sex::Male => "male".to_string(),
            Sex::Female => "female".to_string(),
        }))
    });
    let _ = context.add_function("age_months_on", |birth: Arc<String>, on: Arc<String>| -> Result<f64, ExecutionError> {
        let (birth, on) = (parse_date("age_months_on", &birth)?, parse_date("age_months_on", &on)?);
        let mut months = (on.year() - birth.year()) * 12 + on.month() as i32 - birth.month() as i32;
        if on.day() < birth.day() {
            months -= 1;
        }
        Ok(months.max(0) as f64)
    });
    let table = Arc::clone(retirement);
    let _ = context.add_function(
        "retirement_age_months",
        move |sex: Arc<String>, original: f64, birth: Arc<String>| -> Result<f64, ExecutionError> {
            let birth = parse_date("retirement_age_months", &birth)?;
            let age = table
                .statutory_age(&sex, original as u32, birth)
                .map_err(|e| ExecutionError::function_error("retirement_age_months", e))?;
            Ok(age.months as f64)
        },
    );
    let table = Arc::clone(retirement);
    let _ = context.add_function("min_contribution_months", move |year: f64| table.minimum_contribution_months(year as i32) as f64);
    let table = Arc::clone(retirement);
    let _ = context.add_function("earliest_retirement_months", move |statutory: f64, original: f64| {
        table.earliest_age(Age { months: statutory as u32 }, original as u32).months as f64
    });
    let table = Arc::clone(retirement);
    let _ = context
        .add_function("latest_retirement_months", move |statutory: f64| table.latest_age(Age { months: statutory as u32 }).months as f64);
    let _ = context.add_function("years_months", |months: f64| -> Arc<String> {
        let months = months.max(0.0) as u32;
        Arc::new(if months.is_multiple_of(12) { format!("{}岁", months / 12) } else { format!("{}岁{}个月", months / 12, months % 12) })
    });
    context
}

fn parse_date(function: &str, date: &str) -> Result<NaiveDate, ExecutionError> {
    NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|e| ExecutionError::function_error(function, format!("{date}: {e}")))
}

/// An ID number checked as of a far date (the rules check "not born in the future" with `valid_id`).
fn id_number(function: &str, id: &str) -> Result<IdNumber, ExecutionError> {
    let far = NaiveDate::from_ymd_opt(9999, 12, 31).expect("valid date");
    IdNumber::parse(id, far).map_err(|e| ExecutionError::function_error(function, e))
}

/// Days from `from` to `to`, both `YYYY-MM-DD`, as a double (negative when `from` is later).
fn days_between(from: Arc<String>, to: Arc<String>) -> Result<f64, ExecutionError> {
    let parse =
        |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| ExecutionError::function_error("days_between", format!("{s}: {e}")));
    Ok((parse(&to)? - parse(&from)?).num_days() as f64)
}

fn eval_bool(expr: &CompiledExpr, context: &Context) -> Result<bool, String> {
    match expr.program.execute(context) {
        Ok(CelValue::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("expected a boolean, got {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

fn evaluate_rule(rule: &CompiledRule, context: &Context) -> RuleOutcome {
    let status = match rule.when.as_ref().map(|w| eval_bool(w, context)) {
        Some(Ok(false)) => RuleStatus::NotApplicable,
        Some(Err(e)) => RuleStatus::Unknown(e),
        None | Some(Ok(true)) => match eval_bool(&rule.expr, context) {
            Ok(true) => RuleStatus::Pass,
            Ok(false) => RuleStatus::Fail,
            Err(e) => RuleStatus::Unknown(e),
        },
    };
    let message = match &status {
        RuleStatus::Fail => render_message(&rule.message, context),
        RuleStatus::Unknown(_) => format!("无法判定（所需信息未能从材料中读取）：{}", render_message(&rule.message, context)),
        _ => String::new(),
    };
    RuleOutcome {
        id: rule.spec.id.clone(),
        basis: rule.spec.basis.clone(),
        items: rule.spec.items.clone(),
        status,
        message,
        referenced: rule.referenced.clone(),
    }
}

fn render_message(parts: &[MessagePart], context: &Context) -> String {
    parts
        .iter()
        .map(|part| match part {
            MessagePart::Text(text) => text.clone(),
            MessagePart::Expr(expr) => match expr.program.execute(context) {
                Ok(value) => display(&value),
                Err(_) => "（未读取）".into(),
            },
        })
        .collect()
}

/// A value as a person reads it: `236` not `236.0`, lists joined with 、.
fn display(value: &CelValue) -> String {
    match value {
        CelValue::Float(f) => format_number(*f),
        CelValue::Int(i) => i.to_string(),
        CelValue::UInt(u) => u.to_string(),
        CelValue::String(s) => s.to_string(),
        CelValue::Bool(b) => b.to_string(),
        CelValue::List(items) => items.iter().map(display).collect::<Vec<_>>().join("、"),
        CelValue::Null => "（空）".into(),
        // Map entries sorted by key, so a message never depends on hash order.
        CelValue::Map(map) => {
            let mut entries: Vec<String> = map
                .map
                .iter()
                .map(|(key, value)| {
                    let key = match key {
                        cel::objects::Key::String(s) => s.to_string(),
                        cel::objects::Key::Int(i) => i.to_string(),
                        cel::objects::Key::Uint(u) => u.to_string(),
                        cel::objects::Key::Bool(b) => b.to_string(),
                    };
                    format!("{key}：{}", display(value))
                })
                .collect();
            entries.sort();
            entries.join("、")
        }
        other => format!("{other:?}"),
    }
}

pub fn format_number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        let s = format!("{f:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
