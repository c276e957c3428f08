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
mod tests;
