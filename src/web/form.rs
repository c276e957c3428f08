//! The one form (一表申请) as HTML: a service's schema in `rules/` turned into inputs, in the order
//! its file writes them, and the browser's posted pairs turned back into the JSON form the use
//! cases validate. Nothing here is written per service: a new field in a rule file appears on the
//! page, with its label, hint and choices.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::rules::catalog::{FieldOrder, FormField, FormFieldKind};
use crate::rules::engine::format_number;
use crate::rules::engine::CompiledService;

/// `text` as a URL query value (RFC 3986 unreserved characters and `/` kept, the rest %XX).
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The form as posted: each name with its values, in order (checkboxes repeat a name).
pub type Posted = Vec<(String, String)>;

/// One choice of a radio group or a set of checkboxes.
#[derive(Debug, Clone)]
pub struct Choice {
    pub id: String,
    pub value: String,
    pub label: String,
    pub checked: bool,
}

/// How a field is asked.
#[derive(Debug, Clone)]
pub enum Control {
    /// `<input type=…>`: `text`, `date`, or `text` with a decimal keyboard for numbers.
    Input {
        kind: &'static str,
        numeric: bool,
    },
    Radios(Vec<Choice>),
    Checkboxes(Vec<Choice>),
}

/// One line of the form's page, flattened so a template needs no recursion.
#[derive(Debug, Clone)]
pub enum Row {
    Field(FieldView),
    /// A fieldset around an object's fields or one element of a list.
    Open {
        legend: String,
        hint: String,
    },
    Close,
    /// The "add another" button of a list of objects (no JavaScript needed).
    AddAnother {
        list: String,
        label: String,
    },
    Remove {
        element: String,
        label: String,
    },
}

#[derive(Debug, Clone)]
pub struct FieldView {
    /// The input's name and id: `applicant_name`, `pledges.water_quality`, `outlets[0].kind`.
    pub id: String,
    pub label: String,
    pub hint: String,
    pub optional: bool,
    pub value: String,
    pub control: Control,
    pub error: Option<String>,
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The fields of `schema` in the order of `order`, then any the order does not know, by name.
fn ordered<'a>(
    schema: &'a BTreeMap<String, FormField>,
    order: &'a indexmap::IndexMap<String, FieldOrder>,
) -> Vec<(&'a str, &'a FormField, Option<&'a FieldOrder>)> {
    let mut out: Vec<(&str, &FormField, Option<&FieldOrder>)> =
        order.iter().filter_map(|(name, o)| schema.get(name).map(|spec| (name.as_str(), spec, Some(o)))).collect();
    for (name, spec) in schema {
        if !order.contains_key(name) {
            out.push((name.as_str(), spec, None));
        }
    }
    out
}

/// The posted values of one name.
fn values<'a>(posted: &'a Posted, name: &'a str) -> impl Iterator<Item = &'a str> {
    posted.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn first(posted: &Posted, name: &str) -> String {
    values(posted, name).next().unwrap_or_default().to_string()
}

/// The element indexes of list `path` the browser sent (`outlets[0].kind`, `outlets[2].id`).
fn indexes(posted: &Posted, path: &str) -> Vec<usize> {
    let prefix = format!("{path}[");
    let mut found: Vec<usize> = posted
        .iter()
        .filter_map(|(n, _)| n.strip_prefix(&prefix)?.split_once(']')?.0.parse().ok())
        .filter(|i| *i < MAX_LIST_ELEMENTS)
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// Most elements a list of objects may have on the page (an outlet list of 50 is already long).
pub const MAX_LIST_ELEMENTS: usize = 50;

/// The page's rows for `service`'s form, filled from `posted` (what was typed, or a stored form
/// as pairs), with `errors` (by field path) beside their fields. `extra` adds an element to a list
/// (the add-another button), `remove` drops one.
pub fn rows(service: &CompiledService, posted: &Posted, errors: &BTreeMap<String, String>) -> Vec<Row> {
    let mut out = Vec::new();
    add_rows(service.form_schema(), &service.form_order().form, "", posted, errors, &mut out);
    out
}

fn add_rows(
    schema: &BTreeMap<String, FormField>,
    order: &indexmap::IndexMap<String, FieldOrder>,
    prefix: &str,
    posted: &Posted,
    errors: &BTreeMap<String, String>,
    out: &mut Vec<Row>,
) {
    let none = indexmap::IndexMap::new();
    for (name, spec, sub) in ordered(schema, order) {
        let path = join(prefix, name);
        let hint = spec.hint.clone().unwrap_or_default();
        match spec.kind {
            FormFieldKind::Object => {
                out.push(Row::Open { legend: spec.label.clone(), hint });
                add_rows(&spec.fields, sub.map_or(&none, |o| &o.fields), &path, posted, errors, out);
                out.push(Row::Close);
            }
            FormFieldKind::List if !spec.item.is_empty() => {
                let mut elements = indexes(posted, &path);
                if elements.is_empty() {
                    elements.push(0);
                }
                let many = elements.len() > 1;
                for (n, i) in elements.iter().enumerate() {
                    let element = format!("{path}[{i}]");
                    out.push(Row::Open {
                        legend: format!("{}（第{}项）", spec.label, n + 1),
                        hint: if n == 0 { hint.clone() } else { String::new() },
                    });
                    add_rows(&spec.item, sub.map_or(&none, |o| &o.item), &element, posted, errors, out);
                    if many {
                        out.push(Row::Remove { element: element.clone(), label: format!("删除{}第{}项", spec.label, n + 1) });
                    }
                    out.push(Row::Close);
                }
                if elements.len() < MAX_LIST_ELEMENTS {
                    out.push(Row::AddAnother { list: path.clone(), label: format!("再添加一项{}", spec.label) });
                }
            }
            _ => out.push(Row::Field(field_view(spec, &path, hint, posted, errors))),
        }
    }
}

fn choices(spec: &FormField, path: &str, checked: impl Fn(&str) -> bool) -> Vec<Choice> {
    spec.values
        .iter()
        .enumerate()
        .map(|(i, value)| Choice {
            id: if i == 0 { path.to_string() } else { format!("{path}-{}", i + 1) },
            value: value.clone(),
            label: spec.label_of(value).to_string(),
            checked: checked(value),
        })
        .collect()
}

fn field_view(spec: &FormField, path: &str, hint: String, posted: &Posted, errors: &BTreeMap<String, String>) -> FieldView {
    let value = first(posted, path);
    let control = match spec.kind {
        FormFieldKind::Bool => {
            let yes_no =
                FormField { values: vec!["true".into(), "false".into()], labels: vec!["是".into(), "否".into()], ..spec.clone() };
            Control::Radios(choices(&yes_no, path, |v| v == value))
        }
        FormFieldKind::Enum => Control::Radios(choices(spec, path, |v| v == value)),
        FormFieldKind::List => {
            let chosen: Vec<&str> = values(posted, path).collect();
            Control::Checkboxes(choices(spec, path, |v| chosen.contains(&v)))
        }
        FormFieldKind::Date => Control::Input { kind: "date", numeric: false },
        FormFieldKind::Number => Control::Input { kind: "text", numeric: true },
        _ => Control::Input { kind: "text", numeric: false },
    };
    FieldView {
        id: path.to_string(),
        label: spec.label.clone(),
        hint,
        optional: spec.optional,
        value,
        control,
        error: errors.get(path).cloned(),
    }
}

/// The JSON form of what was posted, with the problems found in reading it (a number that is not
/// one), by path. An empty input is an absent field; the use case's validation names what is
/// missing or wrong besides.
pub fn parse(service: &CompiledService, posted: &Posted) -> (Value, BTreeMap<String, String>) {
    let mut errors = BTreeMap::new();
    let form = parse_object(service.form_schema(), "", posted, &mut errors);
    (Value::Object(form), errors)
}

fn parse_object(
    schema: &BTreeMap<String, FormField>,
    prefix: &str,
    posted: &Posted,
    errors: &mut BTreeMap<String, String>,
) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, spec) in schema {
        let path = join(prefix, name);
        if let Some(value) = parse_value(spec, &path, posted, errors) {
            map.insert(name.clone(), value);
        }
    }
    map
}

fn parse_value(spec: &FormField, path: &str, posted: &Posted, errors: &mut BTreeMap<String, String>) -> Option<Value> {
    let text = first(posted, path);
    let text = text.trim();
    match spec.kind {
        FormFieldKind::Object => Some(Value::Object(parse_object(&spec.fields, path, posted, errors))),
        FormFieldKind::List if !spec.item.is_empty() => {
            let elements: Vec<Value> = indexes(posted, path)
                .into_iter()
                .map(|i| parse_object(&spec.item, &format!("{path}[{i}]"), posted, errors))
                .filter(|element| !element.is_empty())
                .map(Value::Object)
                .collect();
            Some(Value::Array(elements))
        }
        FormFieldKind::List => Some(Value::Array(values(posted, path).map(|v| Value::String(v.to_string())).collect())),
        _ if text.is_empty() => None,
        FormFieldKind::Bool => match text {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => Some(Value::String(text.to_string())),
        },
        FormFieldKind::Number => {
            let compact: String =
                crate::understanding::normalize::halfwidth(text).chars().filter(|c| *c != ',' && !c.is_whitespace()).collect();
            match compact.parse::<f64>() {
                Ok(n) if n.is_finite() => serde_json::Number::from_f64(n).map(Value::Number),
                _ => {
                    errors.insert(path.to_string(), format!("{}须为数字，例如 12.5", spec.label));
                    None
                }
            }
        }
        _ => Some(Value::String(text.to_string())),
    }
}

/// A stored JSON form as the pairs a browser would post, to fill the page from it.
pub fn to_posted(schema: &BTreeMap<String, FormField>, form: &Value) -> Posted {
    let mut out = Vec::new();
    add_posted(schema, "", form, &mut out);
    out
}

fn add_posted(schema: &BTreeMap<String, FormField>, prefix: &str, form: &Value, out: &mut Posted) {
    for (name, spec) in schema {
        let path = join(prefix, name);
        let Some(value) = form.get(name) else { continue };
        match (spec.kind, value) {
            (FormFieldKind::Object, _) => add_posted(&spec.fields, &path, value, out),
            (FormFieldKind::List, Value::Array(elements)) if !spec.item.is_empty() => {
                for (i, element) in elements.iter().enumerate() {
                    add_posted(&spec.item, &format!("{path}[{i}]"), element, out);
                }
            }
            (FormFieldKind::List, Value::Array(elements)) => {
                out.extend(elements.iter().filter_map(Value::as_str).map(|v| (path.clone(), v.to_string())));
            }
            (_, Value::String(s)) => out.push((path, s.clone())),
            (_, Value::Bool(b)) => out.push((path, b.to_string())),
            (_, Value::Number(n)) => out.push((path, n.as_f64().map(format_number).unwrap_or_else(|| n.to_string()))),
            _ => {}
        }
    }
}

/// One answer as the check-your-answers page shows it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub label: String,
    pub value: String,
}

/// Every answer of a stored form, in the page's order, choices by their labels.
pub fn answers(service: &CompiledService, form: &Value) -> Vec<Answer> {
    let mut out = Vec::new();
    add_answers(service.form_schema(), &service.form_order().form, "", form, &mut out);
    out
}

fn add_answers(
    schema: &BTreeMap<String, FormField>,
    order: &indexmap::IndexMap<String, FieldOrder>,
    prefix: &str,
    form: &Value,
    out: &mut Vec<Answer>,
) {
    let none = indexmap::IndexMap::new();
    for (name, spec, sub) in ordered(schema, order) {
        let label = if prefix.is_empty() { spec.label.clone() } else { format!("{prefix} · {}", spec.label) };
        let value = form.get(name).unwrap_or(&Value::Null);
        match (spec.kind, value) {
            (FormFieldKind::Object, Value::Object(_)) => {
                add_answers(&spec.fields, sub.map_or(&none, |o| &o.fields), &spec.label, value, out)
            }
            (FormFieldKind::List, Value::Array(elements)) if !spec.item.is_empty() => {
                for (i, element) in elements.iter().enumerate() {
                    let legend = format!("{}{}", spec.label, i + 1);
                    add_answers(&spec.item, sub.map_or(&none, |o| &o.item), &legend, element, out);
                }
            }
            (_, v) => out.push(Answer { label, value: shown(spec, v) }),
        }
    }
}

fn shown(spec: &FormField, value: &Value) -> String {
    match value {
        Value::Null => "（未填写）".into(),
        Value::Bool(true) => "是".into(),
        Value::Bool(false) => "否".into(),
        Value::Number(n) => n.as_f64().map(format_number).unwrap_or_else(|| n.to_string()),
        Value::String(s) => spec.label_of(s).to_string(),
        Value::Array(items) => items.iter().map(|v| shown(spec, v)).collect::<Vec<_>>().join("、"),
        Value::Object(_) => value.to_string(),
    }
}

/// The posted pairs with each list of objects numbered 0, 1, 2 … in order and its blank elements
/// (every input empty) left out, as `parse` reads them: the problems validation names by path then
/// stand beside the inputs they are about when the page is shown again.
pub fn compact(service: &CompiledService, posted: Posted) -> Posted {
    let mut posted = posted;
    compact_lists(service.form_schema(), "", &mut posted);
    posted
}

fn compact_lists(schema: &BTreeMap<String, FormField>, prefix: &str, posted: &mut Posted) {
    for (name, spec) in schema {
        let path = join(prefix, name);
        match spec.kind {
            FormFieldKind::Object => compact_lists(&spec.fields, &path, posted),
            FormFieldKind::List if !spec.item.is_empty() => {
                let kept: Vec<usize> = indexes(posted, &path)
                    .into_iter()
                    .filter(|i| {
                        let element = format!("{path}[{i}].");
                        posted.iter().any(|(n, v)| n.starts_with(&element) && !v.trim().is_empty())
                    })
                    .collect();
                let list = format!("{path}[");
                let mut out = Vec::with_capacity(posted.len());
                for (n, v) in posted.drain(..) {
                    let Some(rest) = n.strip_prefix(&list) else {
                        out.push((n, v));
                        continue;
                    };
                    let Some((index, tail)) = rest.split_once(']') else { continue };
                    let Some(position) = index.parse::<usize>().ok().and_then(|i| kept.iter().position(|k| *k == i)) else { continue };
                    out.push((format!("{path}[{position}]{tail}"), v));
                }
                *posted = out;
            }
            _ => {}
        }
    }
}

/// The posted pairs with one more element in list `list`, or without element `remove`
/// (`outlets[1]`), for the buttons that change a list without JavaScript.
pub fn edit_lists(mut posted: Posted, add: Option<&str>, remove: Option<&str>) -> Posted {
    if let Some(element) = remove {
        let prefix = format!("{element}.");
        posted.retain(|(n, _)| !n.starts_with(&prefix));
    }
    if let Some(list) = add {
        let next = indexes(&posted, list).last().map_or(1, |i| i + 1).max(1);
        if next < MAX_LIST_ELEMENTS {
            posted.push((format!("{list}[{next}]"), String::new()));
        }
    }
    posted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(id: &str) -> std::sync::Arc<crate::rules::RuleSet> {
        let rules = crate::config::default_rules_dir();
        let set = std::sync::Arc::new(crate::rules::RuleSet::load_dir(&rules).unwrap());
        assert!(set.service(id).is_some());
        set
    }

    fn pairs(list: &[(&str, &str)]) -> Posted {
        list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn the_page_follows_the_rule_files_order_and_labels() {
        let set = service("drainage-permit");
        let drainage = set.service("drainage-permit").unwrap();
        let rows = rows(drainage, &Vec::new(), &BTreeMap::new());
        let ids: Vec<&str> = rows.iter().filter_map(|r| if let Row::Field(f) = r { Some(f.id.as_str()) } else { None }).collect();
        assert_eq!(&ids[..3], ["applicant_name", "credit_code", "legal_representative"], "as written, not sorted");
        assert!(ids.contains(&"outlets[0].kind") && ids.contains(&"pledges.water_quality"));
        let Some(Row::Field(grade)) = rows.iter().find(|r| matches!(r, Row::Field(f) if f.id == "plant_grade")) else { panic!() };
        let Control::Radios(choices) = &grade.control else { panic!("an enum is a radio group") };
        assert!(choices[0].label.starts_with("A级") && choices[0].id == "plant_grade" && choices[1].id == "plant_grade-2");
    }

    #[test]
    fn posted_pairs_become_the_json_form_and_back() {
        let set = service("drainage-permit");
        let drainage = set.service("drainage-permit").unwrap();
        let posted = pairs(&[
            ("applicant_name", " 无锡市某餐饮店 "),
            ("key_discharger", "false"),
            ("daily_volume_m3", "１,２00.5"),
            ("outlets[0].kind", "foul"),
            ("outlets[0].id", ""),
            ("outlets[3].kind", "storm"),
            ("outlets[3].diameter_mm", "三百"),
            ("pledges.water_quality", "true"),
            ("discharge_category", ""),
        ]);
        let (form, errors) = parse(drainage, &posted);
        assert_eq!(form["applicant_name"], "无锡市某餐饮店");
        assert_eq!(form["daily_volume_m3"], 1200.5);
        assert_eq!(form["key_discharger"], false);
        assert_eq!(form["outlets"], serde_json::json!([{"kind": "foul"}, {"kind": "storm"}]));
        assert_eq!(form["pledges"]["water_quality"], true);
        assert!(form.get("discharge_category").is_none(), "an empty input is an absent field");
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["outlets[3].diameter_mm"]);
        let again = to_posted(drainage.form_schema(), &form);
        assert!(again.contains(&("outlets[1].kind".into(), "storm".into())));
        assert!(again.contains(&("daily_volume_m3".into(), "1200.5".into())));
    }

    #[test]
    fn problems_found_in_a_list_stand_beside_their_element() {
        let set = service("drainage-permit");
        let drainage = set.service("drainage-permit").unwrap();
        // Element 0 was removed and element 1 left blank: what remains is element 2, as element 0.
        let posted = compact(
            drainage,
            pairs(&[("outlets[1].id", " "), ("outlets[2].kind", "storm"), ("outlets[2].diameter_mm", "大"), ("applicant_name", "某店")]),
        );
        assert_eq!(posted, pairs(&[("outlets[0].kind", "storm"), ("outlets[0].diameter_mm", "大"), ("applicant_name", "某店")]));
        let (form, errors) = parse(drainage, &posted);
        assert_eq!(form["outlets"], serde_json::json!([{"kind": "storm"}]));
        assert!(errors.contains_key("outlets[0].diameter_mm"));
        let page = rows(drainage, &posted, &errors);
        assert!(
            page.iter().any(|r| matches!(r, Row::Field(f) if f.id == "outlets[0].diameter_mm" && f.error.is_some())),
            "the error is at its input"
        );
    }

    #[test]
    fn lists_grow_and_shrink_without_javascript() {
        let posted = pairs(&[("outlets[0].kind", "foul"), ("outlets[1].kind", "storm")]);
        let grown = edit_lists(posted.clone(), Some("outlets"), None);
        assert_eq!(indexes(&grown, "outlets"), [0, 1, 2]);
        let shrunk = edit_lists(posted, None, Some("outlets[0]"));
        assert_eq!(indexes(&shrunk, "outlets"), [1]);
        let many: Posted = (0..200).map(|i| (format!("outlets[{i}].kind"), "foul".to_string())).collect();
        assert_eq!(indexes(&many, "outlets").len(), MAX_LIST_ELEMENTS, "a forged post cannot make a page of thousands");
    }

    #[test]
    fn answers_show_choices_by_their_labels() {
        let set = service("retirement");
        let retirement = set.service("retirement").unwrap();
        let answers = answers(retirement, &serde_json::json!({"name": "张三", "sex": "female", "option": "early"}));
        assert_eq!(answers[0].label, "姓名");
        assert!(answers.iter().any(|a| a.label == "性别" && a.value == "女"));
        assert!(answers.iter().any(|a| a.label == "退休方式" && a.value == "弹性提前退休"));
        assert!(answers.iter().any(|a| a.value == "（未填写）"));
    }
}
