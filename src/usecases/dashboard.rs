//! The service centre's figures (好差评 and the centre's own: 即办, 不见面, 压缩度, 按时办结), counted
//! from the database's facts by one pure function, [`figures`], which the tests check against
//! hand-counted data.
//!
//! Definitions (each a fraction in [0, 1] of the counts named, `None` when its denominator is 0):
//! - received: submitted at least once (accepted); decided: issued or refused (a request for
//!   materials waits for the applicant and decides nothing yet).
//! - `auto_issue_rate` (即办): issued with no person deciding, over received (for the public, over
//!   the `counted` cases of the cells it may see).
//! - `contactless_rate` (不见面): decided with no visit, over received. Every step of this service is
//!   online (there is no counter intake), so every decided case counts.
//! - working days from acceptance to decision, the clock stopped while the centre waited for the
//!   applicant (补正); `time_limit_compression` (压缩度) = 1 − average / the statutory limit (the
//!   decided cases' own services' limits, averaged), 0 when the average is over the limit.
//! - `on_time_rate`: decided by the promised due date (the case's own deadline, pauses added),
//!   over the decided cases whose times are known (`timed`).
//! - `good_rating_rate` (好评率): 非常满意, 满意 or 基本满意, over ratings not removed on appeal;
//!   `rating_rate`: decided cases rated (a rating removed on appeal no longer counts), over decided
//!   (for the public, over the decided cases of the cells whose ratings it may see).
//! - `rectification_rate`: work orders rectified over the 差评 work orders not found unfounded (an
//!   unfounded complaint has nothing to rectify; it is explained on the call back);
//!   `callback_rate`: called back over every 差评 work order; both count only orders whose rating
//!   still counts (an upheld appeal takes one out).
//!
//! Staff see every figure for any dates. The public asks by whole months, each published once the
//! month after it is over and counted as of then, and its figures are sums of whole service-month
//! cells of at least [`PUBLIC_MIN_COUNT`] cases decided (and, for the ratings' figures, as many
//! ratings): a narrow filter, or one figure taken from another, must not single out one
//! applicant's case or rating ([`public_dashboard`]).

use std::collections::{BTreeMap, BTreeSet};

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
    /// Of the received, those the cases' figures count: all of them for staff; for the public,
    /// those in cells that may be published ([`public_dashboard`]).
    pub counted: u64,
    pub decided: u64,
    pub auto_issued: u64,
    pub auto_issue_rate: Option<f64>,
    pub contactless_rate: Option<f64>,
    pub average_working_days: Option<f64>,
    pub p90_working_days: Option<f64>,
    pub statutory_days: Option<f64>,
    pub promised_days: Option<f64>,
    pub time_limit_compression: Option<f64>,
    pub timed: u64,
    pub on_time: u64,
    pub on_time_rate: Option<f64>,
    pub ratings: u64,
    pub good_ratings: u64,
    pub good_rating_rate: Option<f64>,
    pub rating_rate: Option<f64>,
    pub removed_ratings: u64,
    pub bad_rating_work_orders: u64,
    /// Of those, the ones not verified as unfounded: the rectification rate's denominator.
    pub to_rectify: u64,
    pub rectified: u64,
    pub called_back: u64,
    pub rectification_rate: Option<f64>,
    pub callback_rate: Option<f64>,
    pub open_work_orders: u64,
    pub overdue_work_orders: u64,
    /// The groups of figures not shown to the public here ([`CASE_FIGURES`], [`RATING_FIGURES`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<&'static str>,
}

/// The fewest cases, and ratings, a figure the public sees is counted from.
pub const PUBLIC_MIN_COUNT: u64 = 5;

/// The figures counted from the decided cases: for the public, from the cells that may be
/// published only, and `"cases"` withheld when there is none (`received` and `counted` are always
/// shown).
pub const CASE_FIGURES: [&str; 12] = [
    "decided",
    "auto_issued",
    "auto_issue_rate",
    "contactless_rate",
    "average_working_days",
    "p90_working_days",
    "statutory_days",
    "promised_days",
    "time_limit_compression",
    "timed",
    "on_time",
    "on_time_rate",
];

/// The figures counted from ratings and their work orders: for the public, from the cells that
/// also hold [`PUBLIC_MIN_COUNT`] ratings still counted, and `"ratings"` withheld when there is none.
pub const RATING_FIGURES: [&str; 11] = [
    "ratings",
    "good_ratings",
    "good_rating_rate",
    "rating_rate",
    "removed_ratings",
    "bad_rating_work_orders",
    "to_rectify",
    "rectified",
    "called_back",
    "rectification_rate",
    "callback_rate",
];

/// The work orders open today: the centre's backlog for staff, never published (`"live"`): a count
/// that changes from one day to the next with one order would tell that order's story.
pub const LIVE_FIGURES: [&str; 2] = ["open_work_orders", "overdue_work_orders"];

/// The fewest timed cases a public 90th percentile is taken from (below that it is one case's time).
pub const PUBLIC_MIN_P90: u64 = 10;

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
                // The average's measure: working days, pauses taken off.
                let elapsed = (i64::from(rules.calendar.working_days_between(accepted, decided_on)) - application.paused_days).max(0);
                days.push(elapsed as f64);
                statutory.push(f64::from(service.legal_days));
                promised.push(f64::from(service.promise_days));
                f.timed += 1;
                // On time as the case's own deadlines say (`deadlines::deadlines`): decided by the
                // promised due date, pauses added. A Saturday decision after a Friday due date is
                // late though it took no more working days.
                let due = rules.calendar.add_working_days(accepted, service.promise_days + application.paused_days.max(0) as u32);
                f.on_time += u64::from(decided_on <= due);
            }
            rated_decided += u64::from(case.rating.as_ref().is_some_and(|r| r.removed_reason.is_none()));
        }
        if let Some(rating) = &case.rating {
            if rating.removed_reason.is_some() {
                f.removed_ratings += 1;
            } else {
                f.ratings += 1;
                f.good_ratings += u64::from(!rating.level.is_bad());
                if let Some(order) = &case.work_order {
                    f.bad_rating_work_orders += 1;
                    f.to_rectify += u64::from(order.founded != Some(false));
                    f.rectified += u64::from(order.rectified);
                    f.called_back += u64::from(order.called_back);
                }
            }
        }
        if let Some(order) = case.work_order.as_ref().filter(|o| o.state.is_open()) {
            f.open_work_orders += 1;
            f.overdue_work_orders += u64::from(super::ratings::is_overdue(order, today));
        }
    }
    f.counted = f.received;
    f.rating_rate = rate(rated_decided, f.decided);
    f.auto_issue_rate = rate(f.auto_issued, f.received);
    f.contactless_rate = rate(f.decided, f.received);
    f.average_working_days = mean(&days);
    f.p90_working_days = p90(&days);
    f.statutory_days = mean(&statutory);
    f.promised_days = mean(&promised);
    f.time_limit_compression =
        f.average_working_days.zip(f.statutory_days).filter(|(_, s)| *s > 0.0).map(|(a, s)| (1.0 - a / s).clamp(0.0, 1.0));
    f.on_time_rate = rate(f.on_time, f.timed);
    f.good_rating_rate = rate(f.good_ratings, f.ratings);
    f.rectification_rate = rate(f.rectified, f.to_rectify);
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

impl Figures {
    pub fn is_withheld(&self, group: &str) -> bool {
        self.withheld.contains(&group)
    }

    /// The figures as JSON, without those withheld.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            for (group, keys) in [("cases", &CASE_FIGURES[..]), ("ratings", &RATING_FIGURES[..]), ("live", &LIVE_FIGURES[..])] {
                if self.is_withheld(group) {
                    keys.iter().for_each(|k| drop(map.remove(*k)));
                }
            }
        }
        value
    }

    /// Takes every one of [`RATING_FIGURES`] from `other`.
    fn take_ratings_from(&mut self, other: &Figures) {
        self.ratings = other.ratings;
        self.good_ratings = other.good_ratings;
        self.good_rating_rate = other.good_rating_rate;
        self.rating_rate = other.rating_rate;
        self.removed_ratings = other.removed_ratings;
        self.bad_rating_work_orders = other.bad_rating_work_orders;
        self.to_rectify = other.to_rectify;
        self.rectified = other.rectified;
        self.called_back = other.called_back;
        self.rectification_rate = other.rectification_rate;
        self.callback_rate = other.callback_rate;
        self.open_work_orders = other.open_work_orders;
        self.overdue_work_orders = other.overdue_work_orders;
    }
}

/// A cell of the public table: one service, one month of acceptance (`YYYY-MM`).
type Cell = (String, String);

fn month_of(date: NaiveDate) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

fn cell_of(case: &CaseFacts) -> Option<Cell> {
    Some((case.application.service.clone(), month_of(case.application.accepted_on?)))
}

/// A case as its month's figures count it once published: as of the end of the month after the
/// one it was received in (its month is published once that month is over, [`whole_months`]), so
/// that a published cell never changes by a decision or a rating made later.
fn as_published(case: &CaseFacts) -> CaseFacts {
    let mut case = case.clone();
    let Some(accepted) = case.application.accepted_on else { return case };
    let cutoff = last_of_month(last_of_month(accepted).succ_opt().unwrap_or(accepted));
    if case.decided_on.is_some_and(|d| d > cutoff) {
        case.decided_on = None;
        case.application.state = ApplicationState::NeedsReview;
    }
    if case.rating.as_ref().is_some_and(|r| r.rated_on > cutoff) {
        case.rating = None;
        case.work_order = None;
    }
    case
}

/// The public dashboard. Every figure the public sees is counted from whole cells of one table
/// (service × month), each as of its cut-off ([`as_published`]), that may be published: the
/// cases' figures from cells of at least [`PUBLIC_MIN_COUNT`] cases received, decided and timed,
/// the ratings' from those that also hold that many ratings still counted. The whole, a service,
/// a month: each is the sum of such cells, so no subtraction of one public figure from another
/// singles out fewer cases than a cell holds. Within a sum, a 90th percentile of fewer than
/// [`PUBLIC_MIN_P90`] cases and a work-order rate of fewer than [`PUBLIC_MIN_COUNT`] orders are
/// left out, and the open orders ([`LIVE_FIGURES`]) always. `counted` says how many of the
/// `received` the cases' figures count; a group with no cell to count is `withheld`.
///
/// Still live after publication: a rating removed on appeal, and a work order's steps (整改, 回访);
/// each concerns one of at least five ratings of its cell, and no one's identity.
pub fn public_dashboard(rules: &RuleSet, facts: &[CaseFacts], scope: &Scope, today: NaiveDate) -> Dashboard {
    let published: Vec<CaseFacts> = facts.iter().filter(|c| scope.holds(c)).map(as_published).collect();
    let counted: Vec<&CaseFacts> = published.iter().collect();
    let mut cells: BTreeMap<Cell, Vec<&CaseFacts>> = BTreeMap::new();
    for case in &counted {
        if let Some(cell) = cell_of(case) {
            cells.entry(cell).or_default().push(case);
        }
    }
    let (mut cases_shown, mut ratings_shown) = (BTreeSet::new(), BTreeSet::new());
    for (cell, cases) in &cells {
        let f = figures(rules, cases.iter().copied(), today);
        if f.received >= PUBLIC_MIN_COUNT && f.decided >= PUBLIC_MIN_COUNT && f.timed >= PUBLIC_MIN_COUNT {
            cases_shown.insert(cell.clone());
            if f.ratings >= PUBLIC_MIN_COUNT {
                ratings_shown.insert(cell.clone());
            }
        }
    }
    let aggregate = |keep: &dyn Fn(&Cell) -> bool| {
        let of = |shown: &BTreeSet<Cell>| {
            counted.iter().copied().filter(|c| cell_of(c).is_some_and(|cell| keep(&cell) && shown.contains(&cell))).collect::<Vec<_>>()
        };
        let (case_part, rating_part) = (of(&cases_shown), of(&ratings_shown));
        let mut f = figures(rules, case_part.iter().copied(), today);
        f.take_ratings_from(&figures(rules, rating_part.iter().copied(), today));
        f.counted = f.received;
        f.received = counted.iter().filter(|c| cell_of(c).is_some_and(|cell| keep(&cell))).count() as u64;
        if case_part.is_empty() {
            f.withheld.push("cases");
        }
        if rating_part.is_empty() {
            f.withheld.push("ratings");
        }
        f.withheld.push("live");
        if f.timed < PUBLIC_MIN_P90 {
            f.p90_working_days = None;
        }
        if f.to_rectify < PUBLIC_MIN_COUNT {
            f.rectification_rate = None;
        }
        if f.bad_rating_work_orders < PUBLIC_MIN_COUNT {
            f.callback_rate = None;
        }
        f
    };
    let services: BTreeSet<&String> = cells.keys().map(|(s, _)| s).collect();
    let months: BTreeSet<&String> = cells.keys().map(|(_, m)| m).collect();
    Dashboard {
        overall: aggregate(&|_| true),
        by_service: services.into_iter().map(|s| (s.clone(), aggregate(&|c: &Cell| c.0 == *s))).collect(),
        by_month: months.into_iter().map(|m| (m.clone(), aggregate(&|c: &Cell| c.1 == *m))).collect(),
    }
}

/// The last day of `day`'s month.
pub fn last_of_month(day: NaiveDate) -> NaiveDate {
    let (year, month) = if day.month() == 12 { (day.year() + 1, 1) } else { (day.year(), day.month() + 1) };
    NaiveDate::from_ymd_opt(year, month, 1).and_then(|n| n.pred_opt()).unwrap_or(day)
}

/// The first and the last day of the months `scope` touches, up to the month before last: the
/// public asks by whole months, and a month is published once the month after it is over (its
/// cut-off, [`as_published`]): a month still counting would change by one case at a time.
fn whole_months(scope: &Scope, today: NaiveDate) -> Scope {
    let first = |d: NaiveDate| d.with_day(1).unwrap_or(d);
    let last_month = first(today).pred_opt().unwrap_or(today);
    let last_published = first(last_month).pred_opt().unwrap_or(last_month);
    let to = scope.to.map_or(last_published, |t| last_of_month(t).min(last_published));
    Scope { service: scope.service.clone(), from: scope.from.map(first), to: Some(to) }
}

/// The facts last loaded, and the audit log's size then: every change the figures count is an
/// audit event in the same transaction, so a log of the same size means the same facts.
pub(crate) type FactsCache = tokio::sync::Mutex<Option<(u64, std::sync::Arc<Vec<CaseFacts>>)>>;

impl UseCases {
    /// The dashboard: staff ([`sees_detail`]) get every figure for any dates; anyone else gets
    /// whole months and no figure counted from too few cases or ratings. With the scope counted.
    pub async fn dashboard(&self, viewer: Option<&Actor>, scope: &Scope) -> Result<(Scope, Dashboard), UseCaseError> {
        let today = self.clock().today();
        let facts = self.case_facts().await?;
        if sees_detail(viewer) {
            return Ok((scope.clone(), dashboard(self.rules(), &facts, scope, today)));
        }
        let scope = whole_months(scope, today);
        Ok((scope.clone(), public_dashboard(self.rules(), &facts, &scope, today)))
    }

    /// Every received case's facts, loaded again only when the audit log has grown (one load at a
    /// time: concurrent viewers wait for it rather than each scanning the tables).
    async fn case_facts(&self) -> Result<std::sync::Arc<Vec<CaseFacts>>, UseCaseError> {
        let mut cached = self.0.facts.lock().await;
        let size = self.store().tree_size().await?;
        if let Some((at, facts)) = cached.as_ref().filter(|(at, _)| *at == size) {
            tracing::trace!(tree_size = at, "dashboard facts from the cache");
            return Ok(facts.clone());
        }
        let mut facts = self.store().case_facts().await?;
        // A case decided before the day of decision was recorded: the day it was last changed.
        for case in facts.iter_mut().filter(|c| c.decided_on.is_none()) {
            if matches!(case.application.state, ApplicationState::Issued | ApplicationState::Refused) {
                case.decided_on = crate::deadlines::decided_on(&case.application);
            }
        }
        let facts = std::sync::Arc::new(facts);
        *cached = Some((size, facts.clone()));
        Ok(facts)
    }
}

/// Whether an actor sees the dashboard's detail: every figure, any dates, the work orders' links.
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

    #[derive(Clone, Copy)]
    struct Case {
        service: &'static str,
        accepted: &'static str,
        state: ApplicationState,
        decided: Option<&'static str>,
        by_person: bool,
        paused: i64,
        rating: Option<i64>,
        removed: bool,
        /// State, rectified, called back, due date, and what verifying found.
        order: Option<(WorkOrderState, bool, bool, &'static str, Option<bool>)>,
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
        let work_order = case.order.map(|(state, rectified, called_back, due, founded)| WorkOrderRecord {
            id: 1,
            application_id: id.clone(),
            level: Level::new(case.rating.unwrap()).unwrap(),
            state,
            assignee_id: None,
            opened_on: day(case.accepted),
            due_on: day(due),
            escalated_on: None,
            founded,
            rectified,
            called_back,
            grade: None,
            updated_at: String::new(),
        });
        CaseFacts { application, decided_on: case.decided.map(day), by_person: case.by_person, rating, work_order }
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    /// Eight cases counted by hand (November 2026 has no holidays; drainage permits: 15 statutory
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
                order: Some((WorkOrderState::Closed, true, true, "2026-11-09", Some(true))),
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
                order: Some((WorkOrderState::Closed, false, false, "2026-11-10", Some(false))),
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
                order: Some((WorkOrderState::Founded, false, false, "2026-11-12", Some(true))),
                ..none
            },
            // H: issued by the machine on its day, 不满意, verified unfounded (nothing to rectify)
            // and called back, waiting past its due date for the applicant's grade: not overdue.
            Case {
                accepted: "2026-11-06",
                decided: Some("2026-11-06"),
                rating: Some(2),
                order: Some((WorkOrderState::CalledBack, false, true, "2026-11-13", Some(false))),
                ..none
            },
        ];
        let rules = RuleSet::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
        let facts: Vec<CaseFacts> = cases.iter().map(facts).collect();
        let board = dashboard(&rules, &facts, &Scope::default(), day("2026-11-20"));
        let f = &board.overall;
        assert_eq!((f.received, f.decided, f.auto_issued), (8, 6, 4));
        assert_eq!((f.auto_issue_rate, f.contactless_rate), (Some(0.5), Some(0.75)));
        // Working days A 0, B 2, C 2, F 0, G 3 − 2 = 1, H 0.
        assert!(close(f.average_working_days, 5.0 / 6.0) && f.p90_working_days == Some(2.0), "{f:?}");
        assert!(close(f.statutory_days, 95.0 / 6.0) && close(f.promised_days, 10.0 / 6.0), "five of 15 and one of 20; 1 and 5");
        assert!(close(f.time_limit_compression, 1.0 - 5.0 / 95.0));
        assert_eq!((f.timed, f.on_time, f.on_time_rate), (6, 4, Some(4.0 / 6.0)), "A, F, G and H within their promise");
        assert_eq!((f.ratings, f.good_ratings, f.removed_ratings, f.good_rating_rate), (5, 2, 1, Some(0.4)));
        assert_eq!(f.rating_rate, Some(4.0 / 6.0), "A, B, G and H of the six decided; C's rating was removed on appeal");
        assert_eq!((f.bad_rating_work_orders, f.to_rectify, f.rectified), (3, 2, 1), "B, G and H; H unfounded");
        assert_eq!((f.rectification_rate, f.callback_rate), (Some(0.5), Some(2.0 / 3.0)));
        assert_eq!((f.open_work_orders, f.overdue_work_orders), (2, 1), "G late; H waits for the applicant");
        assert_eq!(board.by_service.keys().collect::<Vec<_>>(), ["drainage-permit", "retirement"]);
        assert_eq!((board.by_service["drainage-permit"].received, board.by_service["retirement"].time_limit_compression), (7, Some(1.0)));
        assert_eq!((board.by_month["2026-11"].received, board.by_month["2026-12"].received), (7, 1));

        let november_drainage =
            Scope { service: Some("drainage-permit".into()), from: Some(day("2026-11-03")), to: Some(day("2026-11-04")) };
        let narrowed = dashboard(&rules, &facts, &november_drainage, day("2026-11-20")).overall;
        assert_eq!((narrowed.received, narrowed.decided, narrowed.good_rating_rate), (3, 1, Some(1.0)), "C, D and E; C's rating removed");
        let empty = dashboard(&rules, &[], &Scope::default(), day("2026-11-20")).overall;
        assert_eq!((empty.received, empty.auto_issue_rate, empty.p90_working_days), (0, None, None), "no division by zero");
    }

    /// October 2026: six drainage cases issued by the machine, five of them rated (one 不满意,
    /// founded), one more decided only in December, and two retirement cases; November: five
    /// drainage cases issued, four of them rated. One October case is rated in December.
    fn public_set() -> Vec<CaseFacts> {
        use ApplicationState::*;
        let base = Case {
            service: "drainage-permit",
            accepted: "2026-10-12",
            state: Issued,
            decided: Some("2026-10-12"),
            by_person: false,
            paused: 0,
            rating: None,
            removed: false,
            order: None,
        };
        let mut cases: Vec<Case> =
            [Some(5), Some(5), Some(4), Some(2), Some(5), None].into_iter().map(|rating| Case { rating, ..base }).collect();
        cases[3].order = Some((WorkOrderState::Founded, false, false, "2026-10-19", Some(true)));
        cases.push(Case { decided: Some("2026-12-05"), ..base });
        cases.extend([Case { service: "retirement", rating: Some(1), ..base }, Case { service: "retirement", ..base }]);
        let november = Case { accepted: "2026-11-02", decided: Some("2026-11-02"), ..base };
        cases.extend((0..5).map(|i| Case { rating: (i < 4).then_some(5), ..november }));
        let mut facts: Vec<CaseFacts> = cases.iter().map(facts).collect();
        let late = RatingRecord { rated_on: day("2026-12-10"), level: Level::new(1).unwrap(), ..facts[0].rating.clone().unwrap() };
        facts[5].rating = Some(RatingRecord { application_id: facts[5].application.id.clone(), ..late });
        facts
    }

    #[test]
    fn the_public_sees_only_sums_of_cells_of_at_least_five_cases_as_of_their_cut_off() {
        let rules = RuleSet::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
        let facts = public_set();
        let scope = whole_months(&Scope::default(), day("2027-01-05"));
        let public = public_dashboard(&rules, &facts, &scope, day("2027-01-05"));
        let f = &public.overall;
        // October's drainage cell (seven received, six decided by its cut-off, 30 November) and
        // November's (five) count; retirement's two do not.
        assert_eq!((f.received, f.counted, f.decided, f.auto_issue_rate), (14, 12, 11, Some(11.0 / 12.0)));
        assert_eq!(f.p90_working_days, Some(0.0), "eleven timed cases");
        // Ratings: October's five by its cut-off (the one of December is not counted); November's four are too few.
        assert_eq!((f.ratings, f.good_rating_rate, f.rating_rate), (5, Some(0.8), Some(5.0 / 6.0)));
        assert_eq!((f.bad_rating_work_orders, f.rectification_rate, f.callback_rate), (1, None, None), "one order: no rate");
        assert!(f.is_withheld("live") && f.to_json().get("open_work_orders").is_none(), "the backlog is not published");
        let november = &public.by_month["2026-11"];
        assert!(!november.is_withheld("cases") && november.is_withheld("ratings"), "{:?}", november.withheld);
        let retirement = public.by_service["retirement"].to_json();
        assert_eq!((retirement["received"].as_u64(), retirement["counted"].as_u64()), (Some(2), Some(0)));
        for name in CASE_FIGURES.iter().chain(&RATING_FIGURES).chain(&LIVE_FIGURES) {
            assert!(retirement.get(*name).is_none(), "retirement's two cases: {name} withheld in {retirement}");
        }
        // Every public figure is a sum of published cells: no subtraction leaves fewer than five.
        for parts in [public.by_service.values().collect::<Vec<_>>(), public.by_month.values().collect()] {
            assert_eq!(f.counted, parts.iter().map(|p| p.counted).sum::<u64>());
            assert!(parts.iter().all(|p| p.counted == 0 || p.counted >= PUBLIC_MIN_COUNT));
            assert_eq!((f.decided, f.ratings), (parts.iter().map(|p| p.decided).sum(), parts.iter().map(|p| p.ratings).sum()));
        }
        let staff = dashboard(&rules, &facts, &Scope::default(), day("2027-01-05")).overall;
        assert_eq!((staff.received, staff.counted, staff.decided, staff.ratings), (14, 14, 14, 11), "staff count every case");
        let early = public_dashboard(&rules, &facts, &whole_months(&Scope::default(), day("2026-12-31")), day("2026-12-31"));
        assert_eq!(early.overall.received, 9, "November is published once December is over");
    }

    #[test]
    fn the_public_asks_by_whole_months_once_the_next_is_over() {
        let scope = Scope { service: None, from: Some(day("2026-10-03")), to: Some(day("2026-12-04")) };
        let months = whole_months(&scope, day("2026-12-04"));
        assert_eq!((months.from, months.to), (Some(day("2026-10-01")), Some(day("2026-10-31"))), "November's cut-off is not past");
        let open_ended = whole_months(&Scope::default(), day("2027-01-01"));
        assert_eq!((open_ended.from, open_ended.to), (None, Some(day("2026-11-30"))));
        assert_eq!(last_of_month(day("2028-02-10")), day("2028-02-29"));
    }

    #[test]
    fn taking_the_ratings_figures_takes_every_one_of_them() {
        let rules = RuleSet::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
        let mut set = public_set();
        set[0].rating.as_mut().unwrap().removed_reason = Some("恶意差评".into());
        let order = set[3].work_order.clone().unwrap();
        set[3].work_order = Some(WorkOrderRecord { state: WorkOrderState::Rectified, rectified: true, ..order.clone() });
        let (id, state) = (set[7].application.id.clone(), WorkOrderState::CalledBack);
        set[7].work_order = Some(WorkOrderRecord { application_id: id, state, called_back: true, ..order });
        let source = figures(&rules, &set, day("2026-10-20"));
        let mut taken = Figures::default();
        taken.take_ratings_from(&source);
        let (from, to) = (serde_json::to_value(&source).unwrap(), serde_json::to_value(&taken).unwrap());
        for name in RATING_FIGURES {
            assert_ne!(from[name], serde_json::to_value(Figures::default()).unwrap()[name], "{name}: the source has a value");
            assert_eq!(from[name], to[name], "{name}");
        }
    }

    /// Every key the figures serialise to is in exactly one withholding group (or is one of the
    /// counts always shown): a figure added later cannot slip past the public filter.
    #[test]
    fn every_figure_belongs_to_one_withholding_group() {
        let json = serde_json::to_value(Figures::default()).unwrap();
        for key in json.as_object().unwrap().keys().filter(|k| !matches!(k.as_str(), "received" | "counted")) {
            let groups = [&CASE_FIGURES[..], &RATING_FIGURES[..], &LIVE_FIGURES[..]].map(|g| g.contains(&key.as_str()));
            assert_eq!(groups.iter().filter(|g| **g).count(), 1, "{key}");
        }
    }

    /// On time is what the case's own deadlines say: accepted on a Thursday with one working day
    /// promised, decided on the Saturday, is late (due Friday) though only Friday was worked.
    #[test]
    fn on_time_is_the_cases_own_deadline() {
        use ApplicationState::*;
        let rules = RuleSet::load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
        let service = rules.service("drainage-permit").unwrap().info().clone();
        let base = Case {
            service: "drainage-permit",
            accepted: "2026-11-05",
            state: Issued,
            decided: Some("2026-11-07"),
            by_person: true,
            paused: 0,
            rating: None,
            removed: false,
            order: None,
        };
        let cases = [
            base,
            Case { decided: Some("2026-11-06"), ..base },
            Case { accepted: "2026-11-07", decided: Some("2026-11-09"), ..base },
            Case { accepted: "2026-11-06", decided: Some("2026-11-10"), ..base },
        ];
        let mut on_time = Vec::new();
        for case in &cases {
            let mut f = facts(case);
            f.application.updated_at = format!("{}T04:00:00Z", case.decided.unwrap());
            let own = crate::deadlines::deadlines(&rules.calendar, &service, &f.application, day("2026-11-20")).unwrap();
            let counted = figures(&rules, [&f], day("2026-11-20")).on_time == 1;
            assert_eq!(counted, own.status == "decided_on_time", "accepted {} decided {:?}: {own:?}", case.accepted, case.decided);
            on_time.push(counted);
        }
        assert_eq!(on_time[..2], [false, true], "Thursday to Saturday is late; to Friday on time");
    }
}
