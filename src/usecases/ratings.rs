//! 好差评 use cases: an applicant rates a decided case once; a bad rating opens a work order for
//! whoever decided the case (the admins when the machine did), which is verified, rectified, called
//! back and graded step by step; overdue orders are escalated once.

use std::collections::BTreeMap;

use super::{UseCaseError, UseCases};
use crate::domain::application::ApplicationId;
use crate::domain::rating::{checked_text, Rating, Step, WorkOrderState};
use crate::domain::user::{Actor, Role};
use crate::storage::{NewRating, RatingRecord, StepInput, StoreError, WorkOrderRecord, WorkOrderStepRecord};

/// The longest text a step records, in characters.
pub const MAX_STEP_TEXT_CHARS: usize = 1000;

/// A work order as staff see it: the order, whether it is overdue today, and its history.
#[derive(Debug, Clone)]
pub struct WorkOrderView {
    pub order: WorkOrderRecord,
    pub overdue: bool,
    pub steps: Vec<WorkOrderStepRecord>,
    /// The rating that opened it (level, aspects, comment: what the order is about).
    pub rating: Option<RatingRecord>,
}

/// Which work orders a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkOrderFilter {
    All,
    Open,
    Overdue,
    Closed,
}

impl WorkOrderFilter {
    pub fn parse(text: Option<&str>) -> Option<Self> {
        match text {
            None | Some("") | Some("all") => Some(Self::All),
            Some("open") => Some(Self::Open),
            Some("overdue") => Some(Self::Overdue),
            Some("closed") => Some(Self::Closed),
            _ => None,
        }
    }
}

fn is_staff(actor: &Actor) -> bool {
    matches!(actor.role, Role::Reviewer | Role::Admin | Role::Auditor)
}

impl UseCases {
    /// The owner's rating of a decided case: 201 once, 409 again or before a decision, 404 to anyone else.
    pub async fn rate(
        &self,
        actor: &Actor,
        id: &ApplicationId,
        level: i64,
        aspects: &BTreeMap<String, i64>,
        comment: &str,
    ) -> Result<(RatingRecord, Option<WorkOrderRecord>), UseCaseError> {
        let application = self.readable(actor, id).await?;
        if application.owner_id != Some(actor.user_id) {
            return Err(UseCaseError::NotFound(format!("application {id} not found")));
        }
        let rating = Rating::parse(level, aspects, comment).map_err(|e| UseCaseError::Invalid(e.to_string()))?;
        // Whoever decided the submission that stands: the person whose review closed it, else the machine.
        let handled_by =
            self.store().reviews(id).await?.into_iter().rev().find(|r| r.submission_seq == application.submissions).map(|r| r.reviewer_id);
        let today = self.clock().today();
        let work_order =
            rating.level.is_bad().then(|| (self.rules().calendar.add_working_days(today, self.limits().work_order_days), handled_by));
        let new = NewRating { application_id: id, rater_id: actor.user_id, rating: &rating, handled_by, rated_on: today, work_order };
        let stored = self.store().rate(&new, &actor.audit_name()).await?;
        if let Some(order) = &stored.1 {
            tracing::info!(work_order = order.id, application.id = %id, "bad rating: work order opened");
        }
        Ok(stored)
    }

    /// A case's rating, to its owner and to staff.
    pub async fn rating(&self, actor: &Actor, id: &ApplicationId) -> Result<Option<RatingRecord>, UseCaseError> {
        self.readable(actor, id).await?;
        Ok(self.store().rating(id).await?)
    }

    /// Work orders, the oldest due first, for staff.
    pub async fn work_orders(&self, actor: &Actor, filter: WorkOrderFilter) -> Result<Vec<WorkOrderView>, UseCaseError> {
        if !is_staff(actor) {
            return Err(UseCaseError::NotFound("no such endpoint".into()));
        }
        let today = self.clock().today();
        Ok(self
            .store()
            .work_orders()
            .await?
            .into_iter()
            .map(|order| WorkOrderView { overdue: is_overdue(&order, today), order, steps: Vec::new(), rating: None })
            .filter(|v| match filter {
                WorkOrderFilter::All => true,
                WorkOrderFilter::Open => v.order.state.is_open(),
                WorkOrderFilter::Overdue => v.overdue,
                WorkOrderFilter::Closed => !v.order.state.is_open(),
            })
            .collect())
    }

    /// One work order with its history and its rating: to staff, and to the applicant who rated.
    pub async fn work_order(&self, actor: &Actor, id: i64) -> Result<WorkOrderView, UseCaseError> {
        let missing = || UseCaseError::NotFound(format!("work order {id} not found"));
        let (order, steps) = self.store().work_order(id).await?.ok_or_else(missing)?;
        let rating = self.store().rating(&order.application_id).await?;
        let rater = rating.as_ref().map(|r| r.rater_id);
        if !is_staff(actor) && rater != Some(actor.user_id) {
            return Err(missing());
        }
        let overdue = is_overdue(&order, self.clock().today());
        let mut view = WorkOrderView { order, overdue, steps, rating };
        if !is_staff(actor) {
            // The applicant sees that staff took a step and what they said, not which of them.
            view.order.assignee_id = None;
            for step in view.steps.iter_mut().filter(|s| s.actor_id != Some(actor.user_id)) {
                step.actor_id = None;
                step.actor = if step.actor.starts_with("system:") { "系统".into() } else { "工作人员".into() };
            }
        }
        Ok(view)
    }

    /// Takes a step on a work order, by one who may ([`may_take`]), allowed from the order's state.
    pub async fn work_order_step(&self, actor: &Actor, id: i64, step: Step, text: &str) -> Result<WorkOrderView, UseCaseError> {
        let view = self.work_order(actor, id).await?;
        let order = &view.order;
        if !may_take(actor, &view, &step) {
            return Err(UseCaseError::Forbidden(format!("only the work order's handler or an admin may take the step {}", step.name())));
        }
        let text = checked_text("text", text, MAX_STEP_TEXT_CHARS).map_err(|e| UseCaseError::Invalid(e.to_string()))?;
        // Only the applicant's own grade needs no words; staff recording a grade say how it was given.
        let applicants_grade = matches!(step, Step::Close { .. }) && is_rater(actor, &view);
        if text.is_empty() && !applicants_grade {
            return Err(UseCaseError::Invalid(format!("text: the step {} says what was found, done or said", step.name())));
        }
        let next = order.state.after(&step).map_err(|e| UseCaseError::Conflict(e.to_string()))?;
        let removal = matches!(step, Step::DecideAppeal { upheld: true }).then_some(text.as_str());
        let input =
            StepInput { from: order.state, to: next, step: &step, actor_id: Some(actor.user_id), on: self.clock().today(), text: &text };
        if !self.store().work_order_step(id, &input, removal, &actor.audit_name()).await? {
            return Err(UseCaseError::Conflict(format!("work order {id} moved on meanwhile: load it again")));
        }
        self.work_order(actor, id).await
    }

    /// Escalates each work order past its due date whose next step is the centre's, once.
    pub async fn escalate_overdue_work_orders(&self) -> Result<Vec<i64>, UseCaseError> {
        let today = self.clock().today();
        let mut escalated = Vec::new();
        for order in self.store().work_orders().await? {
            if is_overdue(&order, today) && order.escalated_on.is_none() {
                match self.store().escalate_work_order(order.id, today).await {
                    Ok(true) => {
                        tracing::warn!(work_order = order.id, due_on = %order.due_on, "work order escalated: due date passed");
                        escalated.push(order.id);
                    }
                    Ok(false) => {}
                    Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(escalated)
    }

    /// Closes, ungraded, each order called back more than the work-order time ago that the
    /// applicant never graded: it must not stay open for ever on the applicant's silence.
    pub async fn close_ungraded_work_orders(&self) -> Result<Vec<i64>, UseCaseError> {
        let today = self.clock().today();
        let days = self.limits().work_order_days;
        let mut closed = Vec::new();
        for order in self.store().work_orders().await?.into_iter().filter(|o| o.state == WorkOrderState::CalledBack) {
            // One order that cannot be read or written is logged; the others are still closed.
            let steps = match self.store().work_order(order.id).await {
                Ok(Some((_, steps))) => steps,
                Ok(None) => continue,
                Err(error) => {
                    tracing::error!(work_order = order.id, %error, "work order not read for closing");
                    continue;
                }
            };
            let Some(called) = steps.iter().rev().find(|s| s.step == Step::Callback.name()) else { continue };
            if self.rules().calendar.add_working_days(called.on, days) >= today {
                continue;
            }
            let text = format!("回访后{days}个工作日内申请人未评价，自动办结");
            let input =
                StepInput { from: order.state, to: WorkOrderState::Closed, step: &Step::Lapse, actor_id: None, on: today, text: &text };
            match self.store().work_order_step(order.id, &input, None, "system:deadlines").await {
                Ok(true) => {
                    tracing::info!(work_order = order.id, "work order closed: no grade after the call back");
                    closed.push(order.id);
                }
                Ok(false) => {}
                Err(error) => tracing::error!(work_order = order.id, %error, "work order not closed"),
            }
        }
        Ok(closed)
    }
}

/// Whether an order is late today: past its due date while its next step is the centre's.
pub fn is_overdue(order: &WorkOrderRecord, today: chrono::NaiveDate) -> bool {
    order.state.awaits_centre() && order.due_on < today
}

/// The state a step's name and body ask for, as the API and the pages send them.
pub fn parse_step(name: &str, founded: Option<bool>, upheld: Option<bool>, grade: Option<&str>) -> Result<Step, UseCaseError> {
    use crate::domain::rating::Grade;
    let need = |what: &str| UseCaseError::Invalid(format!("{what}: required for the step {name}"));
    Ok(match name {
        "verify" => Step::Verify { founded: founded.ok_or_else(|| need("founded"))? },
        "rectify" => Step::Rectify,
        "callback" => Step::Callback,
        "appeal" => Step::Appeal,
        "decide_appeal" => Step::DecideAppeal { upheld: upheld.ok_or_else(|| need("upheld"))? },
        "close" => Step::Close {
            grade: Grade::parse(grade.ok_or_else(|| need("grade"))?)
                .ok_or_else(|| UseCaseError::Invalid("grade: one of satisfied, basic, dissatisfied".into()))?,
        },
        other => return Err(UseCaseError::NotFound(format!("no step {other}"))),
    })
}

impl UseCases {
    /// The work order a case's bad rating opened, to the case's owner and to staff.
    pub async fn work_order_of(&self, actor: &Actor, id: &ApplicationId) -> Result<Option<WorkOrderView>, UseCaseError> {
        self.readable(actor, id).await?;
        let Some(order) = self.store().work_order_of(id).await? else { return Ok(None) };
        Ok(Some(self.work_order(actor, order.id).await?))
    }

    /// The steps `actor` may take on the order now, by name (for the pages' forms).
    pub fn steps_open_to(&self, actor: &Actor, view: &WorkOrderView) -> Vec<&'static str> {
        use crate::domain::rating::Grade;
        [
            Step::Verify { founded: true },
            Step::Rectify,
            Step::Callback,
            Step::Appeal,
            Step::DecideAppeal { upheld: true },
            Step::Close { grade: Grade::Satisfied },
        ]
        .into_iter()
        .filter(|step| {
            may_take(actor, view, step) && (view.order.state.after(step).is_ok() || view.order.state.after(&alternative(step)).is_ok())
        })
        .map(|step| step.name())
        .collect()
    }
}

fn is_rater(actor: &Actor, view: &WorkOrderView) -> bool {
    view.rating.as_ref().map(|r| r.rater_id) == Some(actor.user_id)
}

/// Who may take a step: the order's assignee or an admin (an order of the machine's decision is
/// the admins'); an appeal is decided by an admin who neither decided the rated case, nor verified
/// the order, nor appealed it (no one judges their own work); the applicant who rated grades the handling (`close`), as
/// may staff recording what the applicant said on the call back; only the service itself closes
/// an order the applicant never graded (`lapse`).
fn may_take(actor: &Actor, view: &WorkOrderView, step: &Step) -> bool {
    let handler = actor.role == Role::Admin || (actor.role == Role::Reviewer && view.order.assignee_id == Some(actor.user_id));
    match step {
        Step::DecideAppeal { .. } => {
            let me = Some(actor.user_id);
            let judged_before = |name: &str| view.steps.iter().any(|s| s.step == name && s.actor_id == me);
            let decided_the_case = view.order.assignee_id == me || view.rating.as_ref().is_some_and(|r| r.handled_by == me);
            actor.role == Role::Admin && !judged_before("verify") && !judged_before("appeal") && !decided_the_case
        }
        Step::Close { .. } => is_rater(actor, view) || handler,
        Step::Lapse => false,
        _ => handler,
    }
}

/// The other branch of a step that has two (verified founded or not, an appeal upheld or not).
fn alternative(step: &Step) -> Step {
    match *step {
        Step::Verify { founded } => Step::Verify { founded: !founded },
        Step::DecideAppeal { upheld } => Step::DecideAppeal { upheld: !upheld },
        other => other,
    }
}
