//! Issuance: what a permit needs from the service's rules and the application, whoever issues it,
//! and the certificate that shows it.

pub mod certificate;
pub mod verification;

use chrono::NaiveDate;
use serde_json::Value;

use serde::{Deserialize, Serialize};

use crate::domain::decision::Decision;
use crate::rules::catalog::ServiceInfo;
use crate::rules::engine::format_number;
use crate::rules::RuleSet;
use crate::storage::{PermitRecord, PermitSpec};
/// The records to make for the bundle items of `service` named in `items` that are granted (by the
/// decider or by a reviewer), each with its number template; items without one get no record.
pub fn item_record_specs(
    rules: &crate::rules::RuleSet,
    service: &str,
    items: &[&str],
    today: chrono::NaiveDate,
) -> Vec<crate::storage::ItemRecordSpec> {
    rules
        .service(service)
        .map(|s| {
            s.items()
                .iter()
                .filter(|(item, _)| items.contains(&item.as_str()))
                .filter_map(|(item, spec)| {
                    Some(crate::storage::ItemRecordSpec {
                        service: service.to_string(),
                        item: item.clone(),
                        number_template: spec.record_number.clone()?,
                        issued_on: today.format("%Y-%m-%d").to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The permit to issue for an application of `service`, or `None` when the service numbers no
/// permit. What the certificate will say is fixed here, from the form as accepted and the category
/// the decision rested on.
pub fn permit_spec(
    rules: &RuleSet,
    service: &ServiceInfo,
    form: &Value,
    category: Option<&str>,
    issued_on: NaiveDate,
    issued_by: &str,
) -> Option<PermitSpec> {
    let template = service.permit_number.clone()?;
    let holder = holder_of(form);
    let body = certificate_body(rules, service, form, category);
    Some(PermitSpec {
        service: service.id.clone(),
        number_template: template,
        validity_years: service.validity_years.unwrap_or(5),
        holder,
        issued_on: issued_on.format("%Y-%m-%d").to_string(),
        issued_by: issued_by.to_string(),
        certificate: serde_json::to_string(&body).unwrap_or_default(),
    })
}

/// Whom a permit or record is for: the applicant (a business) or the person.
fn holder_of(form: &Value) -> String {
    ["applicant_name", "name"].iter().find_map(|k| form.get(*k).and_then(Value::as_str)).unwrap_or_default().to_string()
}

/// The category a decision rested on (for a service with a category step): the one the decision
/// reports (worked out, perhaps corrected), or else the form's.
pub fn decided_category(service: &crate::rules::CompiledService, decision: &Decision, form: &Value) -> Option<String> {
    let field = &service.steps().category.as_ref()?.field;
    decision.fields.get(field).and_then(|f| f.value.as_str()).or_else(|| form.get(field).and_then(Value::as_str)).map(str::to_string)
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

/// The part of a certificate fixed at issue (title, rows, authority); the number, validity and
/// verification address come from the permit when it is rendered.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CertificateBody {
    pub title: String,
    pub rows: Vec<(String, String)>,
    pub authority: String,
}

/// What the certificate of a drainage permit says (domain.md §1.8) besides number and validity.
pub fn certificate_body(rules: &RuleSet, service: &ServiceInfo, form: &Value, category: Option<&str>) -> CertificateBody {
    let text = |key: &str| form.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let category = category.or_else(|| form.get("discharge_category").and_then(Value::as_str)).unwrap_or("other").to_string();
    let category_name = rules.categories.names.get(&category).cloned().unwrap_or(category.clone());
    let outlets: Vec<String> = form
        .get("outlets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|o| {
            let kind = if o["kind"] == "foul" { "污水" } else { "雨水" };
            let diameter = o["diameter_mm"].as_f64().map(|d| format!("，DN{}", format_number(d))).unwrap_or_default();
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
                Some(min) => format!("{} {}～{}", spec.name, format_number(*min), format_number(*max)),
                None => format!("{} ≤{} {}", spec.name, format_number(*max), spec.unit),
            })
        })
        .collect();
    let volume = form.get("daily_volume_m3").and_then(Value::as_f64).map(format_number).unwrap_or_default();
    let holder = holder_of(form);
    CertificateBody {
        title: service.certificate_title.clone().unwrap_or_else(|| service.name.clone()),
        rows: vec![
            ("排水户名称".into(), holder),
            ("统一社会信用代码".into(), text("credit_code")),
            ("法定代表人".into(), text("legal_representative")),
            ("排水户地址".into(), text("address")),
            ("排水类别".into(), category_name),
            (format!("排放口（{}个）", outlets.len()), outlets.join("；")),
            ("许可排水量".into(), format!("{volume} 立方米/日")),
            ("主要污染物及限值".into(), format!("{}（GB/T 31962-2015 {grade}级）", limits.join("，"))),
        ],
        authority: service.authority.clone().unwrap_or_default(),
    }
}

/// The full certificate of an issued permit, from what was fixed at issue.
/// `code` is the certificate's verification code ([`verification::VerificationKey::code`]): printed
/// on it and carried by the QR code's address, so that scanning it checks the paper, not only the
/// number.
/// `log_index`: the permit's issue in the audit log, carried in the QR code's address.
pub fn certificate_data(permit: &PermitRecord, public_url: &str, code: &str, log_index: Option<u64>) -> certificate::CertificateData {
    let body: CertificateBody = serde_json::from_str(&permit.certificate).unwrap_or_default();
    let mut rows = body.rows;
    rows.push(("有效期限".into(), format!("{} 至 {}", permit.valid_from, permit.valid_to)));
    rows.push(("核验码".into(), code.to_string()));
    certificate::CertificateData {
        title: body.title,
        number: permit.number.clone(),
        rows,
        authority: body.authority,
        issued_on: permit.valid_from.clone(),
        verify_url: match log_index {
            Some(index) => format!("{}?code={code}&log={index}", verify_url(public_url, &permit.number)),
            None => format!("{}?code={code}", verify_url(public_url, &permit.number)),
        },
    }
}
