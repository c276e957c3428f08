//! Which decision fields a reviewer may correct.

use serde_json::Value;

use crate::domain::credit_code::CreditCode;
use crate::rules::catalog::FieldKind;
use crate::rules::schema::{text_error, validate_field, FieldError, DEFAULT_MAX_CHARS};
use crate::rules::{CompiledService, RuleSet};

/// What a correctable key names.
enum Target<'a> {
    Form(&'a crate::rules::catalog::FormField),
    Category,
    /// A result of a kind's results table (`report.pollutants.cod`).
    Result,
    /// A field a document reader produces (`licence.name`), of this kind.
    Document(FieldKind),
}

/// The one lookup both questions below ask: a form field, the service's category, or a field a
/// document reader produces.
fn target<'a>(rules: &RuleSet, service: &'a CompiledService, key: &str) -> Option<Target<'a>> {
    if let Some(spec) = service.form_schema().get(key) {
        return Some(Target::Form(spec));
    }
    if service.steps().category.as_ref().is_some_and(|step| step.field == key) {
        return Some(Target::Category);
    }
    let (variable, path) = key.split_once('.')?;
    rules.documents.kinds.values().filter(|k| k.variable.as_deref() == Some(variable)).find_map(|kind| {
        let result_item = kind.results.as_deref().and_then(|results| path.strip_prefix(results)?.strip_prefix('.'));
        if result_item.is_some_and(|item| rules.water.items.contains_key(item)) {
            Some(Target::Result)
        } else {
            kind.fields.get(path).map(|field| Target::Document(field.kind))
        }
    })
}

/// A form field, the service's category (`discharge_category`), or a field a document reader
/// produces (`licence.name`, `report.pollutants.cod`).
pub fn is_correctable(rules: &RuleSet, service: &CompiledService, key: &str) -> bool {
    target(rules, service, key).is_some()
}

/// A reviewer's correction as typed (a page's text box) as the JSON value `key` takes: a number for
/// a number field, a result or a count of months (full-width digits and thousands separators
/// allowed), a truth value for a yes/no field (是/否), text otherwise. What does not convert stays
/// text, and `correction_errors` then names what the field needs.
pub fn typed_correction(rules: &RuleSet, service: &CompiledService, key: &str, text: &str) -> Value {
    let text = text.trim();
    let number = || {
        let compact: String =
            crate::understanding::normalize::halfwidth(text).chars().filter(|c| *c != ',' && !c.is_whitespace()).collect();
        compact.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number)
    };
    let converted = match target(rules, service, key) {
        Some(Target::Form(spec)) if spec.kind == crate::rules::catalog::FormFieldKind::Number => number(),
        Some(Target::Form(spec)) if spec.kind == crate::rules::catalog::FormFieldKind::Bool => match text {
            "是" | "true" => Some(Value::Bool(true)),
            "否" | "false" => Some(Value::Bool(false)),
            _ => None,
        },
        Some(Target::Result | Target::Document(FieldKind::Months)) => number(),
        _ => None,
    };
    converted.unwrap_or_else(|| Value::String(text.to_string()))
}

/// What is wrong with a reviewer's value for a correctable `key`, if anything: a form field is held
/// to its schema (as the applicant's value was), the category to the categories, a document field
/// to its type (a result is a non-negative number, a date a date, a credit code a valid one). A
/// correction that would put a blank holder or "lots" of cubic metres on a permit is refused.
pub fn correction_errors(rules: &RuleSet, service: &CompiledService, key: &str, value: &Value) -> Vec<FieldError> {
    let error = |message: &str| vec![FieldError { field: key.to_string(), error: message.to_string() }];
    let text = value.as_str();
    let is_date = |t: &str| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok();
    let message = match target(rules, service, key) {
        None => Some("不是可更正的字段".to_string()),
        Some(Target::Form(spec)) => return validate_field(spec, value, key),
        Some(Target::Category) => text.is_none_or(|c| !rules.categories.categories.contains_key(c)).then(|| "应为排水类别之一".to_string()),
        Some(Target::Result) => value.as_f64().is_none_or(|v| !(0.0..1e12).contains(&v)).then(|| "检测结果应为不小于0的数字".to_string()),
        Some(Target::Document(FieldKind::Text | FieldKind::Address)) => match text {
            Some(t) => text_error(key, t, DEFAULT_MAX_CHARS),
            None => Some(format!("{key}应为文字")),
        },
        Some(Target::Document(FieldKind::Date)) => (!text.is_some_and(is_date)).then(|| "应为日期 YYYY-MM-DD".to_string()),
        Some(Target::Document(FieldKind::ValidityEnd)) => {
            (text != Some("long_term") && !text.is_some_and(is_date)).then(|| "应为日期 YYYY-MM-DD 或 long_term".to_string())
        }
        Some(Target::Document(FieldKind::CreditCode)) => {
            text.is_none_or(|t| CreditCode::parse(t).is_err()).then(|| "应为校验正确的统一社会信用代码".to_string())
        }
        Some(Target::Document(FieldKind::Months)) => {
            value.as_f64().is_none_or(|m| !(0.0..=1200.0).contains(&m) || m.fract() != 0.0).then(|| "应为0至1200的整数月数".to_string())
        }
    };
    message.map(|m| error(&m)).unwrap_or_default()
}
