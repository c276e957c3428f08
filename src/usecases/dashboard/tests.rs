//! The figures against hand-counted sets, and what the public may see of them.

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

    let november_drainage = Scope { service: Some("drainage-permit".into()), from: Some(day("2026-11-03")), to: Some(day("2026-11-04")) };
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
