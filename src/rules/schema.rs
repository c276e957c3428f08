//! Validation of a submitted form against the service's field schema, naming every bad field.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::catalog::{FormField, FormFieldKind};

/// The longest a text field may be unless its schema says otherwise: a business name, an address.
pub const DEFAULT_MAX_CHARS: usize = 200;

/// Characters no name or address carries: control characters (NUL, BEL, line breaks) and the
/// invisible bidirectional controls that make text display in another order than it is stored
/// (U+202E turns "exe.txt" around).
pub fn forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{2028}' | '\u{2029}' | '\u{2060}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

/// What is wrong with a text value, if anything: empty, control characters, too long.
pub fn text_error(label: &str, text: &str, max_chars: usize) -> Option<String> {
    if text.trim().is_empty() {
        Some(format!("{label}不能为空"))
    } else if text.chars().any(forbidden_char) {
        Some(format!("{label}含有不允许的控制字符"))
    } else if text.chars().count() > max_chars {
        Some(format!("{label}不能超过{max_chars}个字"))
    } else {
        None
    }
}

/// The same checks for one value of a field (a reviewer's correction of it, say).
pub fn validate_field(spec: &FormField, value: &Value, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if value.is_null() && !spec.optional {
        errors.push(FieldError { field: path.to_string(), error: format!("缺少必填项：{}", spec.label) });
    } else if !value.is_null() {
        validate_value(spec, value, path, &mut errors);
    }
    errors
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Dotted path of the field, with list indexes: `outlets[1].kind`.
    pub field: String,
    pub error: String,
}

/// Checks `form` against `schema`. Unknown fields are rejected too: a misspelt optional field would
/// otherwise be silently ignored and change the decision.
pub fn validate_form(schema: &BTreeMap<String, FormField>, form: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match form {
        Value::Object(map) => validate_object(schema, map, "", &mut errors),
        _ => errors.push(FieldError { field: "".into(), error: "表单应为JSON对象".into() }),
    }
    errors
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn validate_object(schema: &BTreeMap<String, FormField>, map: &serde_json::Map<String, Value>, prefix: &str, errors: &mut Vec<FieldError>) {
    for (name, spec) in schema {
        let path = join(prefix, name);
        match map.get(name) {
            None | Some(Value::Null) if spec.optional => {}
            None | Some(Value::Null) => errors.push(FieldError { field: path, error: format!("缺少必填项：{}", spec.label) }),
            Some(value) => validate_value(spec, value, &path, errors),
        }
    }
    // Fields the schema does not name are allowed (the contract may be extended) and ignored by
    // the rules, which can only name fields of the schema.
}

/// The form with every missing field that has a default filled in (recursively).
pub fn apply_defaults(schema: &BTreeMap<String, FormField>, form: &Value) -> Value {
    let mut form = form.clone();
    let Some(map) = form.as_object_mut() else { return form };
    for (name, spec) in schema {
        match map.get(name) {
            None | Some(Value::Null) => {
                if let Some(default) = &spec.default {
                    map.insert(name.clone(), serde_json::to_value(default).unwrap_or(Value::Null));
                }
            }
            Some(value) if spec.kind == FormFieldKind::Object => {
                let filled = apply_defaults(&spec.fields, value);
                map.insert(name.clone(), filled);
            }
            Some(_) => {}
        }
    }
    form
}

fn validate_value(spec: &FormField, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let mut bad = |error: String| errors.push(FieldError { field: path.to_string(), error });
    match spec.kind {
        FormFieldKind::String => match value.as_str() {
            Some(s) => {
                if let Some(error) = text_error(&spec.label, s, spec.max_chars.unwrap_or(DEFAULT_MAX_CHARS)) {
                    bad(error);
                }
            }
            None => bad(format!("{}应为字符串", spec.label)),
        },
        FormFieldKind::Bool => {
            if !value.is_boolean() {
                bad(format!("{}应为 true 或 false", spec.label));
            }
        }
        FormFieldKind::Number => match value.as_f64() {
            Some(n) if spec.min.is_some_and(|min| n < min) => bad(format!("{}不能小于{}", spec.label, spec.min.unwrap_or_default())),
            Some(n) if spec.max.is_some_and(|max| n > max) => bad(format!("{}不能大于{}", spec.label, spec.max.unwrap_or_default())),
            Some(_) => {}
            None => bad(format!("{}应为数字", spec.label)),
        },
        FormFieldKind::Enum => match value.as_str() {
            Some(s) if spec.values.iter().any(|v| v == s) => {}
            _ => bad(format!("{}应为以下之一：{}", spec.label, spec.values.join(", "))),
        },
        FormFieldKind::Date => match value.as_str().map(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")) {
            Some(Ok(_)) => {}
            _ => bad(format!("{}应为日期 YYYY-MM-DD", spec.label)),
        },
        FormFieldKind::Object => match value.as_object() {
            Some(map) => validate_object(&spec.fields, map, path, errors),
            None => bad(format!("{}应为对象", spec.label)),
        },
        FormFieldKind::List => match value.as_array() {
            // A list of choices (`items`: ["pension", "medical"]).
            Some(items) if spec.item.is_empty() => {
                for (idx, item) in items.iter().enumerate() {
                    if !item.as_str().is_some_and(|v| spec.values.iter().any(|allowed| allowed == v)) {
                        errors.push(FieldError {
                            field: format!("{path}[{idx}]"),
                            error: format!("应为以下之一：{}", spec.values.join(", ")),
                        });
                    }
                }
                if items.is_empty() && !spec.optional {
                    errors.push(FieldError { field: path.to_string(), error: format!("{}至少选择一项", spec.label) });
                }
            }
            Some(items) => {
                for (idx, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{idx}]");
                    match item.as_object() {
                        Some(map) => validate_object(&spec.item, map, &item_path, errors),
                        None => errors.push(FieldError { field: item_path, error: "应为对象".into() }),
                    }
                }
            }
            None => bad(format!("{}应为列表", spec.label)),
        },
    }
}
