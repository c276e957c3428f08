//! Issuance: what a permit needs from the service's rules and the application, whoever issues it.

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
