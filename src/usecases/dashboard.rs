//! The service centre's figures (好差评 and the centre's own: 即办, 不见面, 压缩度, 按时办结), counted
//! from the database's facts by one pure function, [`figures`], which the tests check against
//! hand-counted data.
//!
//! Definitions (each a fraction in [0, 1] of the counts named, `None` when its denominator is 0):
//! - received: submitted at least once (accepted); decided: issued or refused (a request for
//!   materials waits for the applicant and decides nothing yet).
//! - `auto_issue_rate` (即办): issued with no person deciding, over received.
//! - `contactless_rate` (不见面): decided with no visit, over received. Every step of this service is
//!   online (there is no counter intake), so every decided case counts.
//! - working days from acceptance to decision, the clock stopped while the centre waited for the
//!   applicant (补正); `time_limit_compression` (压缩度) = 1 − average / the statutory limit (the
//!   decided cases' own services' limits, averaged).
//! - `on_time_rate`: decided within the promised limit (paused days added), over decided.
//! - `good_rating_rate` (好评率): 非常满意, 满意 or 基本满意, over ratings not removed on appeal;
//!   `rating_rate`: decided cases rated, over decided.
//! - `rectification_rate`, `callback_rate`: work orders rectified, and called back, over the 差评
//!   work orders whose rating still counts (an upheld appeal takes one out).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::{UseCaseError, UseCases};
use crate::domain::application::ApplicationState;
use crate::domain::user::{Actor, Role};
use crate::rules::RuleSet;
use crate::storage::CaseFacts;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub received: u64,
    pub decided: u64,
    pub auto_issued: u64,
    pub auto_issue_rate: Option<f64>,
    pub contactless_rate: Option<f64>,
    pub average_working_days: Option<f64>,
    pub p90_working_days: Option<f64>,
    pub statutory_days: Option<f64>,
    pub promised_days: Option<f64>,
    pub time_limit_compression: Option<f64>,
    pub on_time: u64,
    pub on_time_rate: Option<f64>,
    pub ratings: u64,
    pub good_ratings: u64,
    pub good_rating_rate: Option<f64>,
    pub rating_rate: Option<f64>,
    pub removed_ratings: u64,
    pub bad_rating_work_orders: u64,
    pub rectified: u64,
    pub called_back: u64,
    pub rectification_rate: Option<f64>,
    pub callback_rate: Option<f64>,
    pub open_work_orders: u64,
    pub overdue_work_orders: u64,
}

/// Which cases are counted: received from `from` to `to` (inclusive, by acceptance date), of one
/// service or all.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub service: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Scope {
    fn holds(&self, facts: &CaseFacts) -> bool {
        let Some(accepted) = facts.application.accepted_on else { return false };
        self.service.as_ref().is_none_or(|s| *s == facts.application.service)
            && self.from.is_none_or(|f| accepted >= f)
            && self.to.is_none_or(|t| accepted <= t)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dashboard {
    pub overall: Figures,
    pub by_service: BTreeMap<String, Figures>,
    /// By month of acceptance, `YYYY-MM`.
    pub by_month: BTreeMap<String, Figures>,
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The nearest-rank 90th percentile.
fn p90(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (0.9 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.checked_sub(1)?).copied()
}

/// The figures of `cases`, as of `today` (for overdue work orders).
pub fn figures<'a>(rules: &RuleSet, cases: impl IntoIterator<Item = &'a CaseFacts>, today: NaiveDate) -> Figures {
    let mut f = Figures::default();
    let (mut days, mut statutory, mut promised) = (Vec::new(), Vec::new(), Vec::new());
    let mut rated_decided = 0;
    for case in cases {
        let application = &case.application;
        f.received += 1;
        let decided = matches!(application.state, ApplicationState::Issued | ApplicationState::Refused);
        if decided {
            f.decided += 1;
            if application.state == ApplicationState::Issued && !case.by_person {
                f.auto_issued += 1;
            }
            let service = rules.service(&application.service).map(|s| s.info());
            if let (Some(accepted), Some(decided_on), Some(service)) = (application.accepted_on, case.decided_on, service) {
                let elapsed = i64::from(rules.calendar.working_days_between(accepted, decided_on)) - application.paused_days;
                days.push(elapsed.max(0) as f64);
                statutory.push(f64::from(service.legal_days));
                promised.push(f64::from(service.promise_days));
                let due = rules.calendar.add_working_days(accepted, service.promise_days + application.paused_days.max(0) as u32);
                if decided_on <= due {
                    f.on_time += 1;
                }
            }
            rated_decided += u64::from(case.rating.is_some());
        }
        if let Some(rating) = &case.rating {
            if rating.removed_reason.is_some() {
                f.removed_ratings += 1;
            } else {
                f.ratings += 1;
                f.good_ratings += u64::from(!rating.level.is_bad());
                if let Some(order) = &case.work_order {
                    f.bad_rating_work_orders += 1;
                    f.rectified += u64::from(order.rectified);
                    f.called_back += u64::from(order.called_back);
                }
            }
        }
        if let Some(order) = case.work_order.as_ref().filter(|o| o.state.is_open()) {
            f.open_work_orders += 1;
            f.overdue_work_orders += u64::from(order.due_on < today);
        }
    }
    f.rating_rate = rate(rated_decided, f.decided);
    f.auto_issue_rate = rate(f.auto_issued, f.received);
    f.contactless_rate = rate(f.decided, f.received);
    f.average_working_days = mean(&days);
    f.p90_working_days = p90(&days);
    f.statutory_days = mean(&statutory);
    f.promised_days = mean(&promised);
    f.time_limit_compression = f.average_working_days.zip(f.statutory_days).filter(|(_, s)| *s > 0.0).map(|(a, s)| 1.0 - a / s);
    f.on_time_rate = rate(f.on_time, f.decided);
    f.good_rating_rate = rate(f.good_ratings, f.ratings);
    f.rectification_rate = rate(f.rectified, f.bad_rating_work_orders);
    f.callback_rate = rate(f.called_back, f.bad_rating_work_orders);
    f
}

/// The whole dashboard: overall, by service and by month of acceptance.
pub fn dashboard(rules: &RuleSet, facts: &[CaseFacts], scope: &Scope, today: NaiveDate) -> Dashboard {
    let counted: Vec<&CaseFacts> = facts.iter().filter(|c| scope.holds(c)).collect();
    let mut services: BTreeMap<String, Vec<&CaseFacts>> = BTreeMap::new();
    let mut months: BTreeMap<String, Vec<&CaseFacts>> = BTreeMap::new();
    for case in &counted {
        services.entry(case.application.service.clone()).or_default().push(case);
        if let Some(accepted) = case.application.accepted_on {
            months.entry(format!("{:04}-{:02}", accepted.year(), accepted.month())).or_default().push(case);
        }
    }
    Dashboard {
        overall: figures(rules, counted.iter().copied(), today),
        by_service: services.into_iter().map(|(k, v)| (k, figures(rules, v, today))).collect(),
        by_month: months.into_iter().map(|(k, v)| (k, figures(rules, v, today))).collect(),
    }
}

impl UseCases {
    /// The dashboard, for anyone: the figures carry no personal data.
    pub async fn dashboard(&self, scope: &Scope) -> Result<Dashboard, UseCaseError> {
        let mut facts = self.store().case_facts().await?;
        // A case decided before the day of decision was recorded: the day it was last changed.
        for case in facts.iter_mut().filter(|c| c.decided_on.is_none()) {
            if matches!(case.application.state, ApplicationState::Issued | ApplicationState::Refused) {
                case.decided_on = crate::deadlines::decided_on(&case.application);
            }
        }
        Ok(dashboard(self.rules(), &facts, scope, self.clock().today()))
    }
}

/// Whether an actor sees the dashboard's detail (the work orders behind the counts).
pub fn sees_detail(actor: Option<&Actor>) -> bool {
    actor.is_some_and(|a| matches!(a.role, Role::Reviewer | Role::Admin | Role::Auditor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::application::ApplicationId;
    use crate::domain::rating::{Level, WorkOrderState};
    use crate::storage::{ApplicationRecord, RatingRecord, WorkOrderRecord};

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    struct Case {
        service: &'static str,
        accepted: &'static str,
        state: ApplicationState,
        decided: Option<&'static str>,
        by_person: bool,
        paused: i64,
        rating: Option<i64>,
        removed: bool,
        order: Option<(WorkOrderState, bool, bool, &'static str)>,
    }

    fn facts(case: &Case) -> CaseFacts {
        let id = ApplicationId::new();
        let application = ApplicationRecord {
            id: id.clone(),
            service: case.service.into(),
            form: "{}".into(),
            state: case.state,
            submissions: 1,
            created_at: String::new(),
            updated_at: String::new(),
            owner_id: Some(1),
            claimed_by: None,
            claim_until_ms: None,
            accepted_on: Some(day(case.accepted)),
            waiting_since: None,
            paused_days: case.paused,
            escalated_on: None,
        };
        let rating = case.rating.map(|level| RatingRecord {
            application_id: id.clone(),
            rater_id: 1,
            level: Level::new(level).unwrap(),
            aspects: BTreeMap::new(),
            comment: String::new(),
            rated_state: case.state,
            handled_by: None,
            rated_on: day(case.accepted),
            removed_reason: case.removed.then(|| "恶意差评".to_string()),
            created_at: String::new(),
        });
        let work_order = case.order.map(|(state, rectified, called_back, due)| WorkOrderRecord {
            id: 1,
            application_id: id.clone(),
            level: Level::new(case.rating.unwrap()).unwrap(),
            state,
            assignee_id: None,
            opened_on: day(case.accepted),
            due_on: day(due),
            escalated_on: None,
            rectified,
            called_back,
            grade: None,
            updated_at: String::new(),
        });
        CaseFacts { application, decided_on: case.decided.map(day), by_person: case.by_person, rating, work_order }
    }

    /// Seven cases counted by hand (November 2026 has no holidays; drainage permits: 15 statutory
    /// and 1 promised working day, retirement 20 and 5).
    #[test]
    fn the_figures_of_a_seeded_set_are_those_counted_by_hand() {
        use ApplicationState::*;
        let none = Case {
            service: "drainage-permit",
            accepted: "2026-11-02",
            state: Issued,
            decided: None,
            by_person: false,
            paused: 0,
            rating: None,
            removed: false,
            order: None,
        };
        let cases = [
            // A: issued by the machine the same day, rated 非常满意.
            Case { decided: Some("2026-11-02"), rating: Some(5), ..none },
            // B: issued by a person two working days later (late), 不满意, rectified and called back.
            Case {
                decided: Some("2026-11-04"),
                by_person: true,
                rating: Some(2),
                order: Some((WorkOrderState::Closed, true, true, "2026-11-09")),
                ..none
            },
            // C: refused by a person two days later (late), 非常不满意, removed on appeal.
            Case {
                accepted: "2026-11-03",
                state: Refused,
                decided: Some("2026-11-05"),
                by_person: true,
                rating: Some(1),
                removed: true,
                order: Some((WorkOrderState::Closed, false, false, "2026-11-10")),
                ..none
            },
            // D: in review, E: materials requested and rated 基本满意 (a rating, not a decision).
            Case { accepted: "2026-11-03", state: NeedsReview, ..none },
            Case { accepted: "2026-11-04", state: NeedsMaterials, rating: Some(3), ..none },
            // F: retirement, issued by the machine on its day.
            Case { service: "retirement", accepted: "2026-12-01", decided: Some("2026-12-01"), ..none },
            // G: issued by the machine after a 2-day wait for materials: 3 working days − 2 paused = 1,
            // on time (promised 1 + 2 paused); 不满意 with its work order still open past its due date.
            Case {
                accepted: "2026-11-05",
                decided: Some("2026-11-10"),
                paused: 2,
                rating: Some(2),
                order: Some((WorkOrderState::Founded, false, false, "2026-11-12")),
                ..none
            },
        ];
        let rules = RuleSet::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
        let facts: Vec<CaseFacts> = cases.iter().map(facts).collect();
        let board = dashboard(&rules, &facts, &Scope::default(), day("2026-11-20"));
        let f = &board.overall;
        assert_eq!((f.received, f.decided, f.auto_issued), (7, 5, 3));
        assert_eq!(f.auto_issue_rate, Some(3.0 / 7.0));
        assert_eq!(f.contactless_rate, Some(5.0 / 7.0));
        assert_eq!((f.average_working_days, f.p90_working_days), (Some(1.0), Some(2.0)));
        assert_eq!((f.statutory_days, f.promised_days), (Some(16.0), Some(1.8)));
        assert_eq!(f.time_limit_compression, Some(1.0 - 1.0 / 16.0));
        assert_eq!((f.on_time, f.on_time_rate), (3, Some(0.6)));
        assert_eq!((f.ratings, f.good_ratings, f.removed_ratings, f.good_rating_rate), (4, 2, 1, Some(0.5)));
        assert_eq!(f.rating_rate, Some(0.8), "A, B, C and G of the five decided were rated");
        assert_eq!((f.bad_rating_work_orders, f.rectification_rate, f.callback_rate), (2, Some(0.5), Some(0.5)));
        assert_eq!((f.open_work_orders, f.overdue_work_orders), (1, 1));
        assert_eq!(board.by_service.keys().collect::<Vec<_>>(), ["drainage-permit", "retirement"]);
        assert_eq!((board.by_service["drainage-permit"].received, board.by_service["retirement"].time_limit_compression), (6, Some(1.0)));
        assert_eq!((board.by_month["2026-11"].received, board.by_month["2026-12"].received), (6, 1));

        let november_drainage =
            Scope { service: Some("drainage-permit".into()), from: Some(day("2026-11-03")), to: Some(day("2026-11-04")) };
        let narrowed = dashboard(&rules, &facts, &november_drainage, day("2026-11-20")).overall;
        assert_eq!((narrowed.received, narrowed.decided, narrowed.good_rating_rate), (3, 1, Some(1.0)), "C, D and E; C's rating removed");
        let empty = dashboard(&rules, &[], &Scope::default(), day("2026-11-20")).overall;
        assert_eq!((empty.received, empty.auto_issue_rate, empty.p90_working_days), (0, None, None), "no division by zero");
    }
}
