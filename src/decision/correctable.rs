//! Which decision fields a reviewer may correct.

use serde_json::Value;

use crate::domain::credit_code::CreditCode;
use crate::rules::catalog::FieldKind;
use crate::rules::schema::{text_error, validate_field, FieldError, DEFAULT_MAX_CHARS};
use crate::rules::{CompiledService, RuleSet};

/// A form field, the service's category (`discharge_category`), or a field a document reader
/// produces (`licence.name`, `report.pollutants.cod`).
pub fn is_correctable(rules: &RuleSet, service: &CompiledService, key: &str) -> bool {
    if service.form_schema().contains_key(key) || service.steps().category.as_ref().is_some_and(|step| step.field == key) {
        return true;
    }
    let Some((variable, path)) = key.split_once('.') else { return false };
    rules.documents.kinds.values().filter(|k| k.variable.as_deref() == Some(variable)).any(|kind| {
        let result_item = kind.results.as_deref().and_then(|results| path.strip_prefix(results)?.strip_prefix('.'));
        kind.fields.contains_key(path) || result_item.is_some_and(|item| rules.water.items.contains_key(item))
    })
}

/// What is wrong with a reviewer's value for a correctable `key`, if anything: a form field is held
/// to its schema (as the applicant's value was), the category to the categories, a document field
/// to its type (a result is a non-negative number, a date a date, a credit code a valid one). A
/// correction that would put a blank holder or "lots" of cubic metres on a permit is refused.
pub fn correction_errors(rules: &RuleSet, service: &CompiledService, key: &str, value: &Value) -> Vec<FieldError> {
    if let Some(spec) = service.form_schema().get(key) {
        return validate_field(spec, value, key);
    }
    let error = |message: &str| vec![FieldError { field: key.to_string(), error: message.to_string() }];
    if service.steps().category.as_ref().is_some_and(|step| step.field == key) {
        return match value.as_str() {
            Some(category) if rules.categories.categories.contains_key(category) => Vec::new(),
            _ => error("应为排水类别之一"),
        };
    }
    let Some((variable, path)) = key.split_once('.') else { return error("不是可更正的字段") };
    for kind in rules.documents.kinds.values().filter(|k| k.variable.as_deref() == Some(variable)) {
        let result_item = kind.results.as_deref().and_then(|results| path.strip_prefix(results)?.strip_prefix('.'));
        if result_item.is_some_and(|item| rules.water.items.contains_key(item)) {
            return match value.as_f64() {
                Some(v) if (0.0..1e12).contains(&v) => Vec::new(),
                _ => error("检测结果应为不小于0的数字"),
            };
        }
        let Some(field) = kind.fields.get(path) else { continue };
        let text = value.as_str();
        let message = match field.kind {
            FieldKind::Text | FieldKind::Address => match text {
                Some(t) => text_error(key, t, DEFAULT_MAX_CHARS),
                None => Some(format!("{key}应为文字")),
            },
            FieldKind::Date => text
                .and_then(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
                .is_none()
                .then(|| "应为日期 YYYY-MM-DD".to_string()),
            FieldKind::ValidityEnd => (text != Some("long_term")
                && text.and_then(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()).is_none())
            .then(|| "应为日期 YYYY-MM-DD 或 long_term".to_string()),
            FieldKind::CreditCode => {
                text.is_none_or(|t| CreditCode::parse(t).is_err()).then(|| "应为校验正确的统一社会信用代码".to_string())
            }
            FieldKind::Months => {
                value.as_f64().is_none_or(|m| !(0.0..=1200.0).contains(&m) || m.fract() != 0.0).then(|| "应为0至1200的整数月数".to_string())
            }
        };
        return message.map(|m| error(&m)).unwrap_or_default();
    }
    error("不是可更正的字段")
}
