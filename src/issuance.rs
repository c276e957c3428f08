//! Issuance: what a permit needs from the service's rules and the application, whoever issues it,
//! and the certificate that shows it.

pub mod certificate;

use chrono::NaiveDate;
use serde_json::Value;

use crate::rules::catalog::ServiceInfo;
use crate::storage::PermitSpec;
/// The permit to issue for an application of `service`, or `None` when the service numbers no permit.
pub fn permit_spec(service: &ServiceInfo, form: &Value, issued_on: NaiveDate, issued_by: &str) -> Option<PermitSpec> {
    let template = service.permit_number.clone()?;
    let holder = ["applicant_name", "name"].iter().find_map(|k| form.get(*k).and_then(Value::as_str)).unwrap_or_default().to_string();
    Some(PermitSpec {
        service: service.id.clone(),
        number_template: template,
        validity_years: service.validity_years.unwrap_or(5),
        holder,
        issued_on: issued_on.format("%Y-%m-%d").to_string(),
        issued_by: issued_by.to_string(),
    })
}

/// Percent-encodes a path segment (permit numbers carry Chinese characters and brackets).
pub fn encode_path_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The public page a certificate's QR code leads to.
pub fn verify_url(public_url: &str, number: &str) -> String {
    format!("{}/verify/{}", public_url.trim_end_matches('/'), encode_path_segment(number))
}

/// What the certificate of a drainage permit says (domain.md §1.8), from the permit, the form as
/// issued and the decision's fields.
pub fn certificate_data(
    rules: &crate::rules::RuleSet,
    service: &ServiceInfo,
    permit: &crate::storage::PermitRecord,
    form: &Value,
    decision: Option<&Value>,
    public_url: &str,
) -> certificate::CertificateData {
    let text = |key: &str| form.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let category = decision
        .and_then(|d| d["fields"]["discharge_category"]["value"].as_str().map(str::to_string))
        .or_else(|| form.get("discharge_category").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "other".into());
    let category_name = rules.categories.names.get(&category).cloned().unwrap_or(category.clone());
    let outlets: Vec<String> = form
        .get("outlets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|o| {
            let kind = if o["kind"] == "foul" { "污水" } else { "雨水" };
            let diameter = o["diameter_mm"].as_f64().map(|d| format!("，DN{}", crate::rules::engine::format_number(d))).unwrap_or_default();
            format!("{} {}排放口（{}{}）", o["id"].as_str().unwrap_or("?"), kind, o["position"].as_str().unwrap_or(""), diameter)
        })
        .collect();
    let grade = form.get("plant_grade").and_then(Value::as_str).unwrap_or("C");
    let limits: Vec<String> = rules
        .test_items
        .required
        .get(&category)
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let spec = rules.water.items.get(item)?;
            let max = spec.max.get(grade)?;
            Some(match spec.min.get(grade) {
                Some(min) => {
                    format!("{} {}～{}", spec.name, crate::rules::engine::format_number(*min), crate::rules::engine::format_number(*max))
                }
                None => format!("{} ≤{} {}", spec.name, crate::rules::engine::format_number(*max), spec.unit),
            })
        })
        .collect();
    let volume = form.get("daily_volume_m3").and_then(Value::as_f64).map(crate::rules::engine::format_number).unwrap_or_default();
    certificate::CertificateData {
        title: service.certificate_title.clone().unwrap_or_else(|| service.name.clone()),
        number: permit.number.clone(),
        rows: vec![
            ("排水户名称".into(), permit.holder.clone()),
            ("统一社会信用代码".into(), text("credit_code")),
            ("法定代表人".into(), text("legal_representative")),
            ("排水户地址".into(), text("address")),
            ("排水类别".into(), category_name),
            (format!("排放口（{}个）", outlets.len()), outlets.join("；")),
            ("许可排水量".into(), format!("{volume} 立方米/日")),
            ("主要污染物及限值".into(), format!("{}（GB/T 31962-2015 {grade}级）", limits.join("，"))),
            ("有效期限".into(), format!("{} 至 {}", permit.valid_from, permit.valid_to)),
        ],
        authority: service.authority.clone().unwrap_or_default(),
        issued_on: permit.valid_from.clone(),
        verify_url: verify_url(public_url, &permit.number),
    }
}
