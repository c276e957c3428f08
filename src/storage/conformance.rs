//! The storage conformance suite: what every backend must do, written against the traits alone.
//! Each check takes a fresh, empty store; `sqlite` below runs them all on SQLite and `postgres` on
//! a fresh database of the Postgres server `ONEWINDOW_TEST_POSTGRES_URL` names (`.ci/run` starts
//! one). Without that variable the Postgres checks pass only when `ONEWINDOW_POSTGRES_REQUIRED` is
//! unset, saying so on stderr; CI sets it, so there a missing server fails the suite.

use chrono::NaiveDate;
use serde_json::json;

use super::*;
use crate::audit::verify_chain;
use crate::domain::application::ReviewAction;
use crate::domain::decision::Outcome;

const ACTOR: &str = "admin:test";

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, d).unwrap()
}

fn document(name: &str, size_bytes: u64) -> NewDocument {
    NewDocument { file_name: name.into(), sha256: format!("{:0>64}", name.len()), size_bytes, format: "pdf".into() }
}

const LIMITS: DocumentLimits = DocumentLimits { max_files: 3, max_application_bytes: 1000, max_account_bytes: 1_000_000 };

fn decision(outcome: Outcome) -> Decision {
    Decision {
        service: "drainage-permit".into(),
        outcome,
        spot_check: false,
        findings: vec![],
        missing_materials: vec![],
        documents: vec![],
        fields: Default::default(),
        items: vec![],
        ruleset: "sha256:test".into(),
        models: Default::default(),
        submitted_on: "2026-10-20".into(),
    }
}

fn permit_spec() -> PermitSpec {
    PermitSpec {
        service: "drainage-permit".into(),
        number_template: "新吴排水许字〔{year}〕第{seq:04}号".into(),
        validity_years: 5,
        holder: "张记餐饮店".into(),
        issued_on: "2026-10-20".into(),
        issued_by: "system:decider".into(),
        certificate: "{}".into(),
    }
}

/// An application of a fresh owner, with one document, submitted once.
async fn submitted(store: &dyn Store) -> (ApplicationId, i64) {
    let owner = store
        .create_user(&format!("applicant-{}", uuid::Uuid::new_v4()), "applicant", &uuid::Uuid::new_v4().to_string(), ACTOR)
        .await
        .unwrap();
    let id = ApplicationId::new();
    store.create_application(&id, "drainage-permit", "{}", Some(owner.id), 100, ACTOR).await.unwrap();
    store.add_documents(&id, &[document("a.pdf", 10)], LIMITS, ACTOR).await.unwrap();
    store.submit(&id, "key-1", day(20), 0, 100, ACTOR).await.unwrap();
    (id, owner.id)
}

pub async fn applications_round_trip_in_domain_types(store: &dyn Store) {
    let id = ApplicationId::new();
    let created = store.create_application(&id, "drainage-permit", r#"{"a":1}"#, None, 100, ACTOR).await.unwrap();
    assert_eq!((created.state, created.submissions, created.accepted_on), (ApplicationState::Draft, 0, None));
    assert_eq!(store.application(&id).await.unwrap(), Some(created));
    assert_eq!(store.application(&ApplicationId::new()).await.unwrap(), None);
}

pub async fn documents_are_added_all_or_none_within_the_limits(store: &dyn Store) {
    let id = ApplicationId::new();
    store.create_application(&id, "drainage-permit", "{}", None, 100, ACTOR).await.unwrap();
    store.add_documents(&id, &[document("a.pdf", 400), document("b.pdf", 400)], LIMITS, ACTOR).await.unwrap();
    let too_large = store.add_documents(&id, &[document("c.pdf", 300)], LIMITS, ACTOR).await;
    assert!(matches!(too_large, Err(StoreError::TooLarge { total: 1100, limit: 1000 })), "{too_large:?}");
    let too_many = store.add_documents(&id, &[document("c.pdf", 1), document("d.pdf", 1)], LIMITS, ACTOR).await;
    assert!(matches!(too_many, Err(StoreError::TooManyFiles(3))), "{too_many:?}");
    assert_eq!(store.documents(&id).await.unwrap().len(), 2, "a refused upload stores nothing");
    let first = store.documents(&id).await.unwrap()[0].id;
    assert!(store.withdraw_document(&id, first, ACTOR).await.unwrap());
    assert!(!store.withdraw_document(&id, first, ACTOR).await.unwrap(), "withdrawn once");
    assert!(store.documents(&id).await.unwrap()[0].withdrawn_at.is_some(), "kept on record");
}

/// Quotas counted in the inserting transaction: applications a day per account, files stored per
/// application with withdrawn ones (twice the current limit), bytes over an account.
pub async fn accounts_and_applications_have_quotas(store: &dyn Store) {
    let owner = store.create_user("quota-applicant", "applicant", "quota-token", ACTOR).await.unwrap();
    for _ in 0..2 {
        store.create_application(&ApplicationId::new(), "drainage-permit", "{}", Some(owner.id), 2, ACTOR).await.unwrap();
    }
    let third = store.create_application(&ApplicationId::new(), "drainage-permit", "{}", Some(owner.id), 2, ACTOR).await;
    assert!(matches!(third, Err(StoreError::Quota(_))), "{third:?}");
    // Upload and withdraw, again and again: withdrawn files count, up to twice the limit.
    let id = ApplicationId::new();
    store.create_application(&id, "drainage-permit", "{}", None, 100, ACTOR).await.unwrap();
    for _ in 0..6 {
        let added = store.add_documents(&id, &[document("a.pdf", 10)], LIMITS, ACTOR).await.unwrap();
        assert!(store.withdraw_document(&id, added[0].id, ACTOR).await.unwrap());
    }
    let seventh = store.add_documents(&id, &[document("a.pdf", 10)], LIMITS, ACTOR).await;
    assert!(matches!(seventh, Err(StoreError::Quota(_))), "{seventh:?}");
    // Bytes over all of one account's applications.
    let small = DocumentLimits { max_account_bytes: 25, ..LIMITS };
    let (first, second) = (ApplicationId::new(), ApplicationId::new());
    let rich = store.create_user("quota-bytes", "applicant", "quota-bytes-token", ACTOR).await.unwrap();
    for app in [&first, &second] {
        store.create_application(app, "drainage-permit", "{}", Some(rich.id), 100, ACTOR).await.unwrap();
    }
    store.add_documents(&first, &[document("a.pdf", 20)], small, ACTOR).await.unwrap();
    let over = store.add_documents(&second, &[document("b.pdf", 10)], small, ACTOR).await;
    assert!(matches!(over, Err(StoreError::Quota(_))), "{over:?}");
    assert!(store.documents(&second).await.unwrap().is_empty(), "nothing half-written");
}

pub async fn a_submission_is_made_once_per_key_and_queues_one_job(store: &dyn Store) {
    let (id, _) = submitted(store).await;
    let again = store.submit(&id, "key-1", day(21), 0, 100, ACTOR).await.unwrap();
    assert!(again.repeated);
    assert_eq!((again.submission.seq, again.submission.submitted_on), (1, day(20)));
    assert_eq!(again.submission.document_ids.len(), 1);
    let application = store.application(&id).await.unwrap().unwrap();
    assert_eq!((application.state, application.accepted_on), (ApplicationState::Submitted, Some(day(20))));
    assert_eq!(store.queue_stats().await.unwrap().pending(), 1);
    let other = store.submit(&id, "key-2", day(21), 0, 100, ACTOR).await;
    assert!(matches!(other, Err(StoreError::Transition(_))), "a submitted case cannot be submitted again: {other:?}");
    // The queue's bound is checked with the insert: one job queued, a bound of one, refused.
    let full = ApplicationId::new();
    store.create_application(&full, "drainage-permit", "{}", None, 100, ACTOR).await.unwrap();
    store.add_documents(&full, &[document("b.pdf", 10)], LIMITS, ACTOR).await.unwrap();
    let refused = store.submit(&full, "key-1", day(21), 0, 1, ACTOR).await;
    assert!(matches!(refused, Err(StoreError::Overloaded { pending: 1, bound: 1 })), "{refused:?}");
    assert_eq!(store.application(&full).await.unwrap().unwrap().state, ApplicationState::Draft, "nothing half-written");
    assert_eq!(store.queue_stats().await.unwrap().pending(), 1);
}

pub async fn a_job_is_claimed_by_one_worker_until_its_lease_runs_out(store: &dyn Store) {
    let (id, _) = submitted(store).await;
    let waiting = store.queue_stats().await.unwrap();
    assert_eq!((waiting.queued, waiting.running), (1, 0));
    assert!(waiting.oldest_queued_at.is_some_and(|at| chrono::DateTime::parse_from_rfc3339(&at).is_ok()), "when the job was queued");
    let job = store.claim_job(1_000, 100).await.unwrap().unwrap();
    assert_eq!((&job.application_id, job.submission_seq, job.attempts), (&id, 1, 1));
    assert_eq!(store.queue_stats().await.unwrap(), QueueStats { queued: 0, running: 1, oldest_queued_at: None });
    assert_eq!(store.claim_job(1_050, 100).await.unwrap(), None, "held under its lease");
    let retaken = store.claim_job(1_200, 100).await.unwrap().unwrap();
    assert_eq!((retaken.id, retaken.attempts), (job.id, 2), "taken over when the lease ran out");
    // The first claim's late result must not count: the later claim owns the job.
    let late = store.complete_job(&job, &decision(Outcome::Issued), Some(&permit_spec()), &[], day(20)).await.unwrap();
    assert!(!late, "not recorded");
    assert_eq!(store.decisions(&id).await.unwrap().len(), 0);
    assert!(store.complete_job(&retaken, &decision(Outcome::Issued), Some(&permit_spec()), &[], day(20)).await.unwrap());
    assert_eq!(store.decisions(&id).await.unwrap().len(), 1);
    assert_eq!(store.application(&id).await.unwrap().unwrap().state, ApplicationState::Issued);
    assert_eq!(store.permit_for(&id).await.unwrap().unwrap().number, "新吴排水许字〔2026〕第0001号");
    assert_eq!(store.queue_stats().await.unwrap().pending(), 0);
}

pub async fn a_job_failed_for_good_sends_the_case_to_a_person(store: &dyn Store) {
    let (id, _) = submitted(store).await;
    let first = store.claim_job(0, 10).await.unwrap().unwrap();
    store.fail_job(&first, "reading failed", 2).await.unwrap();
    assert_eq!(store.application(&id).await.unwrap().unwrap().state, ApplicationState::Submitted, "retried first");
    let second = store.claim_job(0, 10).await.unwrap().unwrap();
    store.fail_job(&second, "reading failed", 2).await.unwrap();
    assert_eq!(store.application(&id).await.unwrap().unwrap().state, ApplicationState::NeedsReview);
    assert_eq!(store.claim_job(100, 10).await.unwrap(), None);
}

pub async fn permits_are_numbered_without_gaps(store: &dyn Store) {
    for expected in ["新吴排水许字〔2026〕第0001号", "新吴排水许字〔2026〕第0002号"] {
        let (id, _) = submitted(store).await;
        let job = store.claim_job(0, 1_000).await.unwrap().unwrap();
        store.complete_job(&job, &decision(Outcome::Issued), Some(&permit_spec()), &[], day(20)).await.unwrap();
        let permit = store.permit_for(&id).await.unwrap().unwrap();
        assert_eq!((permit.number.as_str(), permit.valid_to.as_str()), (expected, "2031-10-19"));
        assert_eq!(store.permit(expected).await.unwrap().unwrap().application_id, id);
    }
    assert!(store.revoke_permit("新吴排水许字〔2026〕第0001号", "以欺骗手段取得", ACTOR).await.unwrap());
    assert!(!store.revoke_permit("新吴排水许字〔2026〕第0001号", "again", ACTOR).await.unwrap());
    assert_eq!(store.permit("新吴排水许字〔2026〕第0001号").await.unwrap().unwrap().status, "revoked");
}

pub async fn a_case_in_review_has_one_holder_at_a_time(store: &dyn Store) {
    let (id, owner) = submitted(store).await;
    let job = store.claim_job(0, 1_000).await.unwrap().unwrap();
    store.complete_job(&job, &decision(Outcome::NeedsReview), None, &[], day(20)).await.unwrap();
    assert_eq!(store.review_queue(None).await.unwrap().len(), 1);
    assert_eq!(store.review_queue(Some("retirement")).await.unwrap().len(), 0);
    let reviewer = store.create_user("王芳", "reviewer", "t1", ACTOR).await.unwrap();
    let other = store.create_user("李明", "reviewer", "t2", ACTOR).await.unwrap();
    assert_eq!(store.claim(&id, owner, 0, 100, ACTOR).await.unwrap(), ClaimOutcome::OwnApplication);
    assert_eq!(store.claim(&id, reviewer.id, 0, 100, ACTOR).await.unwrap(), ClaimOutcome::Claimed { until_ms: 100 });
    assert_eq!(store.claim(&id, other.id, 50, 100, ACTOR).await.unwrap(), ClaimOutcome::HeldByOther);
    assert!(!store.release(&id, other.id, ACTOR).await.unwrap());
    let correction = NewCorrection {
        field: "licence.name".into(),
        original: json!("张记"),
        corrected: json!("张记餐饮店"),
        reason: "核对执照".into(),
        decision_after: "{}".into(),
    };
    assert!(matches!(store.add_correction(&id, other.id, 60, &correction, ACTOR).await, Err(StoreError::Conflict(_))));
    let recorded = store.add_correction(&id, reviewer.id, 60, &correction, ACTOR).await.unwrap();
    assert_eq!((recorded.corrected.as_str(), recorded.submission_seq), ("\"张记餐饮店\"", 1));
    let input = ReviewInput {
        action: ReviewAction::RequestMaterials,
        reason_code: "materials.missing".into(),
        text: String::new(),
        missing_materials: vec!["pledge".into()],
        document: "{}".into(),
        decided_on: day(22),
        item_records: vec![],
    };
    assert!(matches!(store.review(&id, reviewer.id, 500, &input, None, ACTOR).await, Err(StoreError::Conflict(_))), "lease expired");
    let (state, permit) = store.review(&id, reviewer.id, 70, &input, None, ACTOR).await.unwrap();
    assert_eq!((state, permit), (ApplicationState::NeedsMaterials, None));
    let application = store.application(&id).await.unwrap().unwrap();
    assert_eq!((application.waiting_since, application.claimed_by), (Some(day(22)), None));
    assert_eq!(store.reviews(&id).await.unwrap().len(), 1);
    assert_eq!(store.claim(&id, reviewer.id, 80, 100, ACTOR).await.unwrap(), ClaimOutcome::NotInReview(ApplicationState::NeedsMaterials));
}

pub async fn every_change_is_in_the_audit_chain(store: &dyn Store) {
    let (id, _) = submitted(store).await;
    assert!(store.escalate(&id, day(23), json!({"promised_due": "2026-10-21"})).await.unwrap());
    assert!(!store.escalate(&id, day(24), json!({})).await.unwrap(), "once");
    assert_eq!(store.application(&id).await.unwrap().unwrap().escalated_on, Some(day(23)));
    let kinds: Vec<String> = store.audit_for(&id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["application.created", "document.stored", "application.submitted", "case.escalated"]);
    let entries = store.audit_entries().await.unwrap();
    assert_eq!(verify_chain(&entries).unwrap(), entries.len() as u64);
    let newest: Vec<i64> = store.audit_page(None, 2).await.unwrap().iter().map(|e| e.seq).collect();
    let n = entries.len() as i64;
    assert_eq!(newest, [n, n - 1], "newest first");
    let older: Vec<i64> = store.audit_page(Some(n - 1), 100).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(older, (1..n - 1).rev().collect::<Vec<_>>());
    store.save_ruleset("sha256:x", "{}").await.unwrap();
    store.save_ruleset("sha256:x", "{}").await.unwrap();
    assert_eq!(store.ruleset("sha256:x").await.unwrap().as_deref(), Some("{}"));
    store.ping().await.unwrap();
}

pub async fn accounts_have_unique_names(store: &dyn Store) {
    let user = store.create_user("王芳", "reviewer", "digest", ACTOR).await.unwrap();
    assert_eq!(store.user_by_token("digest").await.unwrap(), Some(user));
    assert!(matches!(store.create_user("王芳", "admin", "other", ACTOR).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.user_by_token("nothing").await.unwrap(), None);
}

pub async fn sessions_belong_to_one_account_and_end_with_a_password_change(store: &dyn Store) {
    let new =
        NewUser { name: "张三", role: "applicant", token_sha256: "t-zs", password_hash: Some("$argon2id$x"), phone: Some("13912345678") };
    let user = store.create_account(&new, ACTOR).await.unwrap();
    assert_eq!(user.password_hash.as_deref(), Some("$argon2id$x"));
    assert_eq!(store.user_by_name("张三").await.unwrap().unwrap().phone.as_deref(), Some("13912345678"));
    assert_eq!(store.user_by_id(user.id).await.unwrap().map(|u| u.name), Some("张三".to_string()));
    assert_eq!(store.user_by_id(user.id + 1000).await.unwrap(), None);
    assert!(!format!("{user:?}").contains("argon2"), "a record's Debug never shows the hash");
    let other = store.create_user("李四", "reviewer", "t-ls", ACTOR).await.unwrap();
    assert_eq!(other.password_hash, None);

    store.create_session("s1", user.id, 1_000, ACTOR).await.unwrap();
    store.create_session("s2", user.id, 2_000, ACTOR).await.unwrap();
    store.create_session("s3", other.id, 3_000, ACTOR).await.unwrap();
    let s1 = store.session("s1").await.unwrap().unwrap();
    assert_eq!((s1.user.id, s1.created_ms, s1.last_seen_ms), (user.id, 1_000, 1_000));
    store.touch_session("s1", 5_000).await.unwrap();
    store.touch_session("s1", 4_000).await.unwrap();
    assert_eq!(store.session("s1").await.unwrap().unwrap().last_seen_ms, 5_000, "never moves back");

    // A password change keeps the session that made it and ends the account's others only.
    store.set_password(user.id, "$argon2id$y", Some("s1"), ACTOR).await.unwrap();
    assert!(store.session("s1").await.unwrap().is_some());
    assert!(store.session("s2").await.unwrap().is_none());
    assert!(store.session("s3").await.unwrap().is_some());
    assert_eq!(store.user_by_name("张三").await.unwrap().unwrap().password_hash.as_deref(), Some("$argon2id$y"));
    store.set_password(user.id, "$argon2id$z", None, ACTOR).await.unwrap();
    assert!(store.session("s1").await.unwrap().is_none(), "a change from the command line ends them all");

    assert!(store.end_session("s3").await.unwrap());
    assert!(!store.end_session("s3").await.unwrap());
    store.create_session("old", other.id, 100, ACTOR).await.unwrap();
    store.create_session("idle", other.id, 10_000, ACTOR).await.unwrap();
    store.create_session("live", other.id, 10_000, ACTOR).await.unwrap();
    store.touch_session("live", 20_000).await.unwrap();
    store.touch_session("old", 20_000).await.unwrap();
    assert_eq!(store.purge_sessions(15_000, 1_000).await.unwrap(), 2, "idle, and past the absolute limit");
    assert!(store.session("live").await.unwrap().is_some());
    let kinds: Vec<String> = store.audit_entries().await.unwrap().into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&"user.signed_in".to_string()) && kinds.contains(&"user.password_changed".to_string()));
    assert!(matches!(store.set_password(9_999, "h", None, ACTOR).await, Err(StoreError::Conflict(_))));
}

pub async fn a_decided_case_is_rated_once_and_a_bad_rating_opens_a_work_order(store: &dyn Store) {
    use crate::domain::rating::{Grade, Rating, Step, WorkOrderState};
    let (id, owner) = submitted(store).await;
    let bad = Rating::parse(2, &[("efficiency".to_string(), 1)].into_iter().collect(), "等了很久").unwrap();
    let new = NewRating {
        application_id: &id,
        rater_id: owner,
        rating: &bad,
        handled_by: None,
        rated_on: day(21),
        work_order: Some((day(28), None)),
    };
    assert!(matches!(store.rate(&new, ACTOR).await, Err(StoreError::Conflict(_))), "not before a decision");
    let job = store.claim_job(0, 1_000).await.unwrap().unwrap();
    store.complete_job(&job, &decision(Outcome::Issued), Some(&permit_spec()), &[], day(21)).await.unwrap();
    let facts = store.case_facts().await.unwrap();
    assert_eq!(
        (facts.len(), facts[0].decided_on, facts[0].by_person),
        (1, Some(day(21)), false),
        "decided by the machine on the day its job ran (submitted on the 20th)"
    );

    let (rating, order) = store.rate(&new, ACTOR).await.unwrap();
    assert_eq!((rating.level.value(), rating.aspects["efficiency"].value(), rating.rated_state), (2, 1, ApplicationState::Issued));
    let order = order.unwrap();
    assert_eq!((order.state, order.due_on, order.assignee_id), (WorkOrderState::Open, day(28), None));
    assert!(matches!(store.rate(&new, ACTOR).await, Err(StoreError::Conflict(_))), "once");
    assert_eq!(store.rating(&id).await.unwrap(), Some(rating));

    let verify = Step::Verify { founded: false };
    let step = StepInput {
        from: WorkOrderState::Open,
        to: WorkOrderState::Unfounded,
        step: &verify,
        actor_id: None,
        on: day(22),
        text: "当日办结，未超时限",
    };
    assert!(store.work_order_step(order.id, &step, None, ACTOR).await.unwrap());
    assert!(!store.work_order_step(order.id, &step, None, ACTOR).await.unwrap(), "a step on an order that moved on writes nothing");
    let found = store.work_order_of(&id).await.unwrap().unwrap();
    assert_eq!((found.id, found.founded), (order.id, Some(false)), "the case's order, verified unfounded");
    let appeal = Step::DecideAppeal { upheld: true };
    let removal = StepInput {
        from: WorkOrderState::Unfounded,
        to: WorkOrderState::Closed,
        step: &appeal,
        actor_id: None,
        on: day(23),
        text: "恶意差评",
    };
    assert!(store.work_order_step(order.id, &removal, Some("恶意差评"), ACTOR).await.unwrap());
    let (closed, steps) = store.work_order(order.id).await.unwrap().unwrap();
    assert_eq!(closed.state, WorkOrderState::Closed);
    assert_eq!(steps.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(), ["verify", "decide_appeal"]);
    assert_eq!(steps[0].details, json!({"founded": false}));
    assert_eq!(store.rating(&id).await.unwrap().unwrap().removed_reason.as_deref(), Some("恶意差评"));
    assert!(!store.escalate_work_order(order.id, day(30)).await.unwrap(), "a closed order is not escalated");

    let (other, other_owner) = submitted(store).await;
    let job = store.claim_job(0, 1_000).await.unwrap().unwrap();
    store.complete_job(&job, &decision(Outcome::NeedsMaterials), None, &[], day(20)).await.unwrap();
    let new = NewRating {
        application_id: &other,
        rater_id: other_owner,
        rating: &bad,
        handled_by: None,
        rated_on: day(21),
        work_order: Some((day(28), None)),
    };
    let order = store.rate(&new, ACTOR).await.unwrap().1.unwrap();
    assert!(store.escalate_work_order(order.id, day(29)).await.unwrap());
    assert!(!store.escalate_work_order(order.id, day(30)).await.unwrap(), "escalated once");
    let close = Step::Close { grade: Grade::Basic };
    let wrong =
        StepInput { from: WorkOrderState::CalledBack, to: WorkOrderState::Closed, step: &close, actor_id: None, on: day(30), text: "" };
    assert!(!store.work_order_step(order.id, &wrong, None, ACTOR).await.unwrap());
    let entries = store.audit_entries().await.unwrap();
    verify_chain(&entries).unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    for kind in ["rating.given", "work_order.opened", "work_order.verify", "work_order.decide_appeal", "work_order.escalated"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert!(entries.iter().all(|e| !e.payload.contains("等了很久")), "the comment is kept out of the log");
}

pub async fn the_merkle_tree_follows_the_log_one_leaf_per_entry(store: &dyn Store) {
    use crate::audit::merkle;
    assert_eq!(tree_head(store).await.unwrap(), (0, merkle::empty_root()));
    for _ in 0..3 {
        submitted(store).await;
    }
    let entries = store.audit_entries().await.unwrap();
    let (size, root) = tree_head(store).await.unwrap();
    assert_eq!(size, entries.len() as u64);
    crate::audit::verify_tree(&entries, size, &root).unwrap();
    let mut changed = entries.clone();
    changed[1].payload.push(' ');
    assert!(crate::audit::verify_tree(&changed, size, &root).is_err(), "an entry changed after the tree was written");
    assert!(crate::audit::verify_tree(&entries[..entries.len() - 1], size, &root).is_err(), "a dropped entry");

    // Appends at once from many writers keep one order, no seq twice, no gap. (SQLite's write
    // lock gives this already; a backend with concurrent writers needs its head row for it.)
    let writers: Vec<_> = (0..12).map(|_| submitted(store)).collect();
    futures_util::future::join_all(writers).await;
    let entries = store.audit_entries().await.unwrap();
    assert_eq!(verify_chain(&entries).unwrap(), entries.len() as u64);
    let (size, root) = tree_head(store).await.unwrap();
    assert_eq!(size, entries.len() as u64);
    crate::audit::verify_tree(&entries, size, &root).unwrap();
    let snapshot = store.audit_snapshot().await.unwrap();
    assert_eq!((snapshot.entries, snapshot.tree_size, snapshot.root), (entries, size, root), "one moment's log, tree and root");
    assert_eq!(snapshot.checkpoints, store.checkpoints().await.unwrap());
}

pub async fn a_periodic_task_has_one_turn_per_period_across_callers(store: &dyn Store) {
    // Eight callers (instances) at once, on as many connections: one takes the turn.
    let racing = (0..8).map(|_| store.take_turn("deadline-sweep", 1_000_000, 60_000));
    let turns: Vec<bool> = futures_util::future::join_all(racing).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(turns.iter().filter(|t| **t).count(), 1, "{turns:?}");
    assert!(!store.take_turn("deadline-sweep", 1_059_999, 60_000).await.unwrap(), "not again within the period");
    assert!(store.take_turn("checkpoint", 1_059_999, 60_000).await.unwrap(), "each task has its own turns");
    assert!(store.take_turn("deadline-sweep", 1_060_000, 60_000).await.unwrap(), "the next period's turn");
    // An instance whose clock ran an hour fast took a turn; the others' clocks do not wait an hour.
    assert!(store.take_turn("checkpoint", 4_600_000, 60_000).await.unwrap());
    assert!(store.take_turn("checkpoint", 1_100_000, 60_000).await.unwrap(), "a stamp from the future is stale");
    assert!(!store.take_turn("checkpoint", 1_110_000, 60_000).await.unwrap());
    let racing = (0..8).map(|_| store.take_turn("deadline-sweep", 1_200_000, 60_000));
    let turns: Vec<bool> = futures_util::future::join_all(racing).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(turns.iter().filter(|t| **t).count(), 1, "{turns:?}");
}

/// Runs one check on a fresh store made by `make`.
macro_rules! conformance {
    ($make:expr, $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let (store, _guard) = $make.await;
                if let Some(store) = store {
                    super::$check(&store).await;
                }
            }
        )*
    };
}

/// Every check, on a fresh store made by `$make`.
macro_rules! all_checks {
    ($make:expr) => {
        conformance!(
            $make,
            applications_round_trip_in_domain_types,
            documents_are_added_all_or_none_within_the_limits,
            a_submission_is_made_once_per_key_and_queues_one_job,
            a_job_is_claimed_by_one_worker_until_its_lease_runs_out,
            a_job_failed_for_good_sends_the_case_to_a_person,
            permits_are_numbered_without_gaps,
            a_case_in_review_has_one_holder_at_a_time,
            every_change_is_in_the_audit_chain,
            accounts_have_unique_names,
            sessions_belong_to_one_account_and_end_with_a_password_change,
            accounts_and_applications_have_quotas,
            a_decided_case_is_rated_once_and_a_bad_rating_opens_a_work_order,
            the_merkle_tree_follows_the_log_one_leaf_per_entry,
            a_periodic_task_has_one_turn_per_period_across_callers,
        );
    };
}

mod sqlite {
    use crate::storage::sql::SqlStore;

    async fn fresh() -> (Option<SqlStore>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        (Some(SqlStore::open_in(dir.path()).await.unwrap()), dir)
    }

    all_checks!(fresh());
}

mod postgres {
    use crate::storage::sql::{Backend, SqlStore};

    /// A store on a new, empty database of the test server, or None when there is no server and
    /// none is required.
    async fn fresh() -> (Option<SqlStore>, ()) {
        let Ok(server) = std::env::var("ONEWINDOW_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("ONEWINDOW_POSTGRES_REQUIRED").is_none(),
                "ONEWINDOW_POSTGRES_REQUIRED is set but ONEWINDOW_TEST_POSTGRES_URL names no server"
            );
            eprintln!("skipped: no ONEWINDOW_TEST_POSTGRES_URL");
            return (None, ());
        };
        let url = crate::storage::sql::test_database(&server).await;
        let store = SqlStore::connect(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        (Some(store), ())
    }

    all_checks!(fresh());
}
