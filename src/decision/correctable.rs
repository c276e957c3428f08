//! Which decision fields a reviewer may correct.

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
