//! Deadlines: the promised and statutory limits in working days from acceptance, the clock paused
//! while the office waits for the applicant, and escalation once the promised limit has passed.

use chrono::NaiveDate;
use serde::Serialize;

use crate::app::AppState;
use crate::domain::calendar::WorkCalendar;
use crate::rules::catalog::ServiceInfo;
use crate::storage::ApplicationRecord;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deadlines {
    pub accepted_on: String,
    /// Working days the clock stood still (补正), including a wait still running.
    pub paused_days: i64,
    pub promised_due: String,
    pub legal_due: String,
    /// `on_time`, `due_soon` (the last working day, or the one before) or `overdue` (promised limit passed).
    pub status: &'static str,
    pub legal_overdue: bool,
}

fn parse(date: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

/// The deadlines of an accepted application, as of `today`; `None` before the first submission.
pub fn deadlines(calendar: &WorkCalendar, service: &ServiceInfo, application: &ApplicationRecord, today: NaiveDate) -> Option<Deadlines> {
    let accepted_on = parse(application.accepted_on.as_deref()?)?;
    let waiting =
        application.waiting_since.as_deref().and_then(parse).map(|since| calendar.working_days_between(since, today)).unwrap_or(0);
    let paused = application.paused_days + waiting as i64;
    let promised_due = calendar.add_working_days(accepted_on, service.promise_days + paused as u32);
    let legal_due = calendar.add_working_days(accepted_on, service.legal_days + paused as u32);
    let status = if today > promised_due {
        "overdue"
    } else if calendar.working_days_between(today, promised_due) <= 1 {
        "due_soon"
    } else {
        "on_time"
    };
    Some(Deadlines {
        accepted_on: accepted_on.to_string(),
        paused_days: paused,
        promised_due: promised_due.to_string(),
        legal_due: legal_due.to_string(),
        status,
        legal_overdue: today > legal_due,
    })
}

/// Escalates every open case whose promised limit has passed, once each; returns their ids.
pub async fn sweep(state: &AppState) -> anyhow::Result<Vec<String>> {
    let today = state.clock().today();
    let rules = state.decider().rules();
    let mut escalated = Vec::new();
    for application in state.store().open_cases().await? {
        let Some(service) = rules.service(&application.service) else { continue };
        let Some(due) = deadlines(&rules.calendar, service.info(), &application, today) else { continue };
        if due.status != "overdue" || application.escalated_on.is_some() {
            continue;
        }
        let details = serde_json::json!({"promised_due": due.promised_due, "legal_due": due.legal_due, "state": application.state});
        if state.store().escalate(&application.id, &today.to_string(), details).await? {
            tracing::warn!(application.id = %application.id, promised_due = %due.promised_due, "case escalated: promised limit passed");
            escalated.push(application.id);
        }
    }
    Ok(escalated)
}

/// Runs `sweep` every minute until shutdown.
pub async fn run(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(error) = sweep(&state).await {
            tracing::error!(error = format!("{error:#}"), "deadline sweep failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            _ = shutdown.changed() => break,
        }
    }
}
