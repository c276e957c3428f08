//! Numbers for permits and bundle items: a counter per service (or service item) and year, taken in
//! the caller's transaction together with the record it numbers.

use super::{audit, now_text, Tx};
use crate::domain::permit::{format_number, valid_to};
use crate::storage::{ItemRecordSpec, PermitRecord, PermitSpec, StoreError};

/// The next number of `counter` in the year of `issued_on` (`YYYY-MM-DD`), formatted by `template`.
/// Taken inside the caller's transaction, so a rolled-back issue leaves no gap.
pub(super) async fn next_number(
    tx: &mut Tx,
    counter: &str,
    issued_on: &str,
    template: &str,
) -> Result<(chrono::NaiveDate, i32, i64, String), StoreError> {
    let issued_on = chrono::NaiveDate::parse_from_str(issued_on, "%Y-%m-%d").map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let year = chrono::Datelike::year(&issued_on);
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO permit_counters (service, year, last) VALUES ($1, $2, 1)
         ON CONFLICT (service, year) DO UPDATE SET last = permit_counters.last + 1 RETURNING last",
    )
    .bind(counter)
    .bind(year)
    .fetch_one(&mut **tx)
    .await?;
    Ok((issued_on, year, seq, format_number(template, year, seq)))
}

/// Numbers and records a permit inside the caller's transaction: the counter and the permit commit
/// or roll back together, so numbers are unique and gap-free per service and year.
pub(super) async fn issue_permit(tx: &mut Tx, application_id: &str, spec: &PermitSpec) -> Result<PermitRecord, StoreError> {
    let (issued_on, year, seq, number) = next_number(tx, &spec.service, &spec.issued_on, &spec.number_template).await?;
    let row: crate::storage::rows::PermitRow = sqlx::query_as(
        "INSERT INTO permits (number, service, year, seq, application_id, holder, valid_from, valid_to, issued_by, status, created_at, certificate)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'valid', $10, $11) RETURNING *",
    )
    .bind(&number)
    .bind(&spec.service)
    .bind(year)
    .bind(seq)
    .bind(application_id)
    .bind(&spec.holder)
    .bind(&spec.issued_on)
    .bind(valid_to(issued_on, spec.validity_years).format("%Y-%m-%d").to_string())
    .bind(&spec.issued_by)
    .bind(now_text())
    .bind(&spec.certificate)
    .fetch_one(&mut **tx)
    .await?;
    let permit = PermitRecord::try_from(row)?;
    audit(
        tx,
        &spec.issued_by,
        "permit.issued",
        Some(application_id),
        serde_json::json!({"number": permit.number, "valid_from": permit.valid_from, "valid_to": permit.valid_to}),
    )
    .await?;
    Ok(permit)
}

/// Numbers and records an issued bundle item, once per application and item, inside the caller's
/// transaction (counter and record together: unique and gap-free).
pub(super) async fn record_item(
    tx: &mut Tx,
    application_id: &str,
    submission_seq: i64,
    spec: &ItemRecordSpec,
    actor: &str,
) -> Result<(), StoreError> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM item_records WHERE application_id = $1 AND item = $2")
        .bind(application_id)
        .bind(&spec.item)
        .fetch_optional(&mut **tx)
        .await?;
    if exists.is_some() {
        return Ok(());
    }
    let counter = format!("{}:{}", spec.service, spec.item);
    let (_, _, _, number) = next_number(tx, &counter, &spec.issued_on, &spec.number_template).await?;
    sqlx::query(
        "INSERT INTO item_records (application_id, submission_seq, item, number, issued_on, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(application_id)
    .bind(submission_seq)
    .bind(&spec.item)
    .bind(&number)
    .bind(&spec.issued_on)
    .bind(now_text())
    .execute(&mut **tx)
    .await?;
    audit(tx, actor, "item.recorded", Some(application_id), serde_json::json!({"item": spec.item, "number": number})).await?;
    Ok(())
}
