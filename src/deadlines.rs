//! Deadlines: the promised and statutory limits in working days from acceptance, the clock paused
//! while the office waits for the applicant, and escalation once the promised limit has passed (of
//! cases, and of the work orders bad ratings open).

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::application::ApplicationState;
use crate::domain::calendar::WorkCalendar;
use crate::rules::catalog::ServiceInfo;
use crate::storage::ApplicationRecord;
use crate::usecases::UseCases;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deadlines {
    pub accepted_on: String,
    /// Working days the clock stood still (补正), including a wait still running.
    pub paused_days: i64,
    pub promised_due: String,
    pub legal_due: String,
    /// `on_time`, `due_soon` (the last working day, or the one before) or `overdue` (promised limit
    /// passed); once issued or refused, the clock has stopped: `decided_on_time` or `decided_late`.
    pub status: &'static str,
    pub legal_overdue: bool,
}

/// The deadlines of an accepted application, as of `today`; `None` before the first submission.
pub fn deadlines(calendar: &WorkCalendar, service: &ServiceInfo, application: &ApplicationRecord, today: NaiveDate) -> Option<Deadlines> {
    let accepted_on = application.accepted_on?;
    let waiting = application.waiting_since.map(|since| calendar.working_days_between(since, today)).unwrap_or(0);
    let paused = application.paused_days + waiting as i64;
    let promised_due = calendar.add_working_days(accepted_on, service.promise_days + paused as u32);
    let legal_due = calendar.add_working_days(accepted_on, service.legal_days + paused as u32);
    // A decided case's clock stopped on the day it was decided.
    let decided = matches!(application.state, ApplicationState::Issued | ApplicationState::Refused);
    let today = if decided { decided_on(application).unwrap_or(today).min(today) } else { today };
    let status = if decided {
        if today > promised_due {
            "decided_late"
        } else {
            "decided_on_time"
        }
    } else if today > promised_due {
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

/// The day a decided case was last changed (its decision), in the centre's time (UTC+8), from its
/// `updated_at` timestamp (UTC): a decision at 07:00 in Wuxi is that day's, not the day before.
pub(crate) fn decided_on(application: &ApplicationRecord) -> Option<NaiveDate> {
    let at = chrono::DateTime::parse_from_rfc3339(&application.updated_at).ok()?;
    let china = chrono::FixedOffset::east_opt(8 * 3600)?;
    Some(at.with_timezone(&china).date_naive())
}

/// How often the sweep runs, across every instance on the database.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs the escalation sweep once a minute until shutdown: in one instance of those on the
/// database each minute, whichever takes the turn (each instance asks every minute).
pub async fn run(usecases: UseCases, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if periodic_turn(&usecases, "deadline-sweep", SWEEP_EVERY).await {
            sweep(&usecases).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = shutdown.changed() => break,
        }
    }
}

/// Whether this instance takes this period's turn at `task`. The period asked for is a little
/// shorter than the instances' interval, so that one instance's timer running late does not skip
/// a period; a database that does not answer skips the turn (the next period catches up, since
/// every sweep looks at all that is due).
pub async fn periodic_turn(usecases: &UseCases, task: &str, every: std::time::Duration) -> bool {
    let period_ms = i64::try_from(every.as_millis() * 9 / 10).unwrap_or(i64::MAX);
    match usecases.store().take_turn(task, usecases.clock().now_ms(), period_ms).await {
        Ok(taken) => taken,
        Err(error) => {
            tracing::error!(%error, task, "taking a periodic turn failed");
            false
        }
    }
}

async fn sweep(usecases: &UseCases) {
    if let Err(error) = usecases.escalate_overdue().await {
        tracing::error!(error = %error, "deadline sweep failed");
    }
    if let Err(error) = usecases.escalate_overdue_work_orders().await {
        tracing::error!(error = %error, "work order sweep failed");
    }
    if let Err(error) = usecases.close_ungraded_work_orders().await {
        tracing::error!(error = %error, "work order closing sweep failed");
    }
}
