//! The reviewer's use cases: the queue with its deadlines, claims (leases), corrections, and the
//! human decision: issue, refuse with reasons and remedies, or ask for materials.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use super::{UseCaseError, UseCases};
use crate::deadlines::Deadlines;
use crate::domain::application::{ApplicationId, ApplicationState, ReviewAction};
use crate::domain::decision::Decision;
use crate::domain::user::{Actor, Role};
use crate::rules::CompiledService;
use crate::storage::{ApplicationRecord, ClaimOutcome, CorrectionRecord, NewCorrection, PermitRecord, ReviewInput};

/// How long a claim holds a case before it returns to the queue by itself.
pub const CLAIM_LEASE_MS: i64 = 30 * 60 * 1000;

/// Who may work the queue, and who may only read it.
const REVIEWERS: &[Role] = &[Role::Reviewer, Role::Admin];
const QUEUE_READERS: &[Role] = &[Role::Reviewer, Role::Auditor, Role::Admin];

/// A case in the queue, as a reviewer sees it before claiming it.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub application: ApplicationRecord,
    pub applicant: ApplicantSummary,
    pub deadlines: Option<Deadlines>,
    /// The live claim on the case, if any: (holder, until).
    pub claim: Option<(i64, i64)>,
}

/// Who a case is about, as a queue may show it: a business by its name, a person by family name,
/// masked ID number and phone (the full form is in the case itself, for whoever claims it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplicantSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ApplicantSummary {
    fn of(form: &str) -> Self {
        use crate::domain::pii::{mask_id_number, mask_person_name, mask_phone};
        let form: Value = serde_json::from_str(form).unwrap_or(Value::Null);
        let text = |key: &str| form.get(key).and_then(Value::as_str);
        let mut summary = Self::default();
        match (text("id_number"), text("applicant_name"), text("name")) {
            (Some(id), _, name) => {
                summary.id_number = Some(mask_id_number(id));
                summary.name = name.map(mask_person_name);
            }
            (None, Some(business), _) => summary.name = Some(business.to_string()),
            _ => {}
        }
        summary.contact_phone = text("contact_phone").map(mask_phone);
        summary
    }
}

/// What a reviewer decided, as asked.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    pub action: ReviewAction,
    pub reason_code: String,
    pub text: String,
    pub missing_materials: Vec<String>,
    /// The SHA-256 of the written decision the reviewer was shown (`preview_review`), when the
    /// decision comes from a preview: deciding refuses if the document would now differ.
    pub previewed_sha256: Option<String>,
}

/// What the review came to: the case's new state, the written decision, the permit if issued.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub state: ApplicationState,
    pub document: Value,
    pub permit: Option<PermitRecord>,
}

/// A correction as recorded, the machine's reading it replaced and the decision it leads to.
#[derive(Debug, Clone)]
pub struct Corrected {
    pub record: CorrectionRecord,
    pub original: Value,
    pub decision: Decision,
}

impl UseCases {
    /// A reviewer's typed text as the value the field `key` of `service` takes.
    pub fn typed_correction(&self, service: &str, key: &str, text: &str) -> Value {
        let rules = self.rules();
        match rules.service(service) {
            Some(compiled) => crate::decision::correctable::typed_correction(rules, compiled, key, text),
            None => Value::String(text.trim().to_string()),
        }
    }

    /// Cases in review with their deadlines, due soonest first (the store's order, oldest waiting
    /// first, breaks ties), optionally of one service and one deadline status.
    pub async fn review_queue(&self, actor: &Actor, service: Option<&str>, due: Option<&str>) -> Result<Vec<QueueEntry>, UseCaseError> {
        actor.require(QUEUE_READERS)?;
        let now_ms = self.clock().now_ms();
        let entries = self
            .queue_by_due(service)
            .await?
            .into_iter()
            .filter(|e| due.is_none_or(|status| e.deadlines.as_ref().is_some_and(|d| d.status == status)));
        Ok(entries
            .map(|mut entry| {
                let application = &entry.application;
                entry.claim = application
                    .is_claimed(now_ms)
                    .then(|| (application.claimed_by.unwrap_or_default(), application.claim_until_ms.unwrap_or_default()));
                entry
            })
            .collect())
    }

    async fn queue_by_due(&self, service: Option<&str>) -> Result<Vec<QueueEntry>, UseCaseError> {
        let today = self.clock().today();
        let rules = self.rules();
        let mut cases: Vec<QueueEntry> = self
            .store()
            .review_queue(service)
            .await?
            .into_iter()
            .map(|application| {
                let deadlines = rules
                    .service(&application.service)
                    .and_then(|s| crate::deadlines::deadlines(&rules.calendar, s.info(), &application, today));
                QueueEntry { applicant: ApplicantSummary::of(&application.form), application, deadlines, claim: None }
            })
            .collect();
        cases.sort_by_key(|entry| entry.deadlines.as_ref().map(|d| d.promised_due.clone()).unwrap_or_default());
        Ok(cases)
    }

    /// Takes (or renews) the lease on a case in review; returns when it ends.
    pub async fn claim(&self, actor: &Actor, id: &ApplicationId) -> Result<i64, UseCaseError> {
        actor.require(REVIEWERS)?;
        match self.store().claim(id, actor.user_id, self.clock().now_ms(), CLAIM_LEASE_MS, &actor.audit_name()).await? {
            ClaimOutcome::Claimed { until_ms } => Ok(until_ms),
            ClaimOutcome::HeldByOther => Err(UseCaseError::Conflict("another reviewer holds this case".into())),
            ClaimOutcome::OwnApplication => Err(UseCaseError::Forbidden("a reviewer may not review an application they submitted".into())),
            ClaimOutcome::NotInReview(state) => Err(UseCaseError::Conflict(format!("the case is {}, not in review", state.as_str()))),
        }
    }

    /// Claims the case that is due soonest and free (and not the actor's own): reviewers working
    /// the queue side by side each get a different case. Returns the case and when the lease ends.
    pub async fn claim_next(&self, actor: &Actor, service: Option<&str>) -> Result<(ApplicationId, i64), UseCaseError> {
        actor.require(REVIEWERS)?;
        let now_ms = self.clock().now_ms();
        let cases = self.queue_by_due(service).await?;
        for candidate in cases.into_iter().filter(|e| !e.application.is_claimed(now_ms) && e.application.owner_id != Some(actor.user_id)) {
            // Another reviewer may take it between the listing and this claim; the claim decides.
            let id = candidate.application.id;
            if let ClaimOutcome::Claimed { until_ms } =
                self.store().claim(&id, actor.user_id, now_ms, CLAIM_LEASE_MS, &actor.audit_name()).await?
            {
                return Ok((id, until_ms));
            }
        }
        Err(UseCaseError::NotFound("no free case in the queue".into()))
    }

    pub async fn release(&self, actor: &Actor, id: &ApplicationId) -> Result<(), UseCaseError> {
        actor.require(REVIEWERS)?;
        if self.store().release(id, actor.user_id, &actor.audit_name()).await? {
            Ok(())
        } else {
            Err(UseCaseError::Conflict("you do not hold this case".into()))
        }
    }

    /// The written decision a reviewer's request would send, checked as deciding checks it, and
    /// nothing stored: the page shows it before the reviewer confirms.
    pub async fn preview_review(&self, actor: &Actor, id: &ApplicationId, request: &ReviewRequest) -> Result<Value, UseCaseError> {
        let application = self.held_for_review(actor, id).await?;
        Ok(self.written_decision(actor, &application, request, self.clock().today()).await?.0)
    }

    /// The case in review, if the actor may decide it now (holds its live claim).
    async fn held_for_review(&self, actor: &Actor, id: &ApplicationId) -> Result<ApplicationRecord, UseCaseError> {
        actor.require(REVIEWERS)?;
        let application =
            self.store().application(id).await?.ok_or_else(|| UseCaseError::NotFound(format!("application {id} not found")))?;
        if !application.is_claimed_by(actor.user_id, self.clock().now_ms()) {
            // Checked again, atomically, when the decision is stored.
            return Err(UseCaseError::Conflict("claim the case in review before deciding it".into()));
        }
        Ok(application)
    }

    /// The written decision of `request` on `application`, its text trimmed, and the form as corrected.
    async fn written_decision(
        &self,
        actor: &Actor,
        application: &ApplicationRecord,
        request: &ReviewRequest,
        today: chrono::NaiveDate,
    ) -> Result<(Value, String, Value), UseCaseError> {
        let id = &application.id;
        let rules = self.rules();
        let reason =
            rules.review_reasons.reasons.iter().find(|r| r.code == request.reason_code && r.action == request.action.as_str()).ok_or_else(
                || UseCaseError::Invalid(format!("reason code `{}` is not a reason for {}", request.reason_code, request.action.as_str())),
            )?;
        let service = rules.service(&application.service).ok_or_else(|| UseCaseError::Internal("service vanished".into()))?;
        let form = self.form_as_corrected(application).await?;
        let text = request.text.trim().to_string();
        let document = match request.action {
            ReviewAction::Refuse => {
                if text.is_empty() {
                    return Err(UseCaseError::Invalid("a refusal states its reasons in `text`".into()));
                }
                json!({
                    "title": "不予行政许可决定书",
                    "service": service.info().name,
                    "applicant": form.get("applicant_name").or(form.get("name")),
                    "application_id": id,
                    "reason_code": reason.code,
                    "reasons": [reason.label, text],
                    "basis": rules.review_reasons.refusal_basis,
                    "remedies": rules.review_reasons.refusal_notice,
                    "decided_on": today.format("%Y-%m-%d").to_string(),
                    "decided_by": actor.name,
                })
            }
            ReviewAction::RequestMaterials => self.materials_notice(service, id, &request.missing_materials, &text, today)?,
            ReviewAction::Issue => {
                // The rules as they now stand on this submission: after the latest correction, or
                // as the machine decided. Issuing over a failed rule is an override, said as one.
                let failing: Vec<String> =
                    self.failing_rules(application).await?.into_iter().filter(|rule| !reason.settles.contains(rule)).collect();
                if !failing.is_empty() && !reason.overrides {
                    return Err(UseCaseError::Invalid(format!(
                        "rules still fail ({}): correct the readings, or issue with an override reason code and its text",
                        failing.join(", ")
                    )));
                }
                if reason.overrides && text.is_empty() {
                    return Err(UseCaseError::Invalid("an override states its reasons in `text`".into()));
                }
                let mut document = json!({"title": "准予行政许可", "reason": reason.label, "text": text});
                if reason.overrides {
                    document["override"] = json!({"failed_rules": failing});
                }
                document
            }
        };
        Ok((document, text, form))
    }

    /// The reviewer's decision on a case they hold: the written decision, the permit when issuing,
    /// and the new state, recorded in one transaction.
    pub async fn review(&self, actor: &Actor, id: &ApplicationId, request: ReviewRequest) -> Result<Reviewed, UseCaseError> {
        let application = self.held_for_review(actor, id).await?;
        let today = self.clock().today();
        let (document, text, form) = self.written_decision(actor, &application, &request, today).await?;
        if let Some(previewed) = &request.previewed_sha256 {
            // What is sent is what the reviewer read: a correction in another tab, or a new day,
            // since the preview asks for a new one.
            if crate::domain::sha256_hex(document.to_string().as_bytes()) != *previewed {
                return Err(UseCaseError::Conflict("决定书内容在预览后已有变化（例如另一窗口中作了更正），请重新预览后再确认".into()));
            }
        }
        let rules = self.rules();
        let service = rules.service(&application.service).ok_or_else(|| UseCaseError::Internal("service vanished".into()))?;
        let (permit, item_records) = match request.action {
            ReviewAction::Issue => self.what_issuing_grants(service, &application, &form, &actor.audit_name()).await?,
            _ => (None, Vec::new()),
        };
        let input = ReviewInput {
            action: request.action,
            reason_code: request.reason_code.clone(),
            text,
            missing_materials: request.missing_materials.clone(),
            document: document.to_string(),
            decided_on: today,
            item_records,
        };
        let (state, permit) =
            self.store().review(id, actor.user_id, self.clock().now_ms(), &input, permit.as_ref(), &actor.audit_name()).await?;
        tracing::info!(application.id = %id, action = request.action.as_str(), reason = %request.reason_code, "reviewed");
        crate::telemetry::decision(&application.service, state.as_str(), "reviewer");
        Ok(Reviewed { state, document, permit })
    }

    /// The rules that fail on the current submission as it now stands: the decision after its latest
    /// correction, else the machine's decision.
    async fn failing_rules(&self, application: &ApplicationRecord) -> Result<Vec<String>, UseCaseError> {
        let seq = application.submissions;
        let corrected = self.store().corrections(&application.id).await?.into_iter().rfind(|c| c.submission_seq == seq);
        let stands = match corrected {
            Some(c) => Some(c.decision_after),
            None => self.store().decisions(&application.id).await?.into_iter().rfind(|d| d.submission_seq == seq).map(|d| d.decision),
        };
        // Fails closed: no decision to stand on, or one that does not parse, is no licence to issue.
        let stands = stands.ok_or_else(|| UseCaseError::Conflict("the case has no decision to review yet".into()))?;
        let decision: Decision =
            serde_json::from_str(&stands).map_err(|e| UseCaseError::Internal(format!("stored decision does not parse: {e}")))?;
        Ok(decision.findings.into_iter().filter(|f| f.result == crate::domain::decision::RuleResult::Fail).map(|f| f.rule).collect())
    }

    /// The one notice (一次性告知) of the materials a reviewer asks for, each one of the service's.
    fn materials_notice(
        &self,
        service: &CompiledService,
        id: &ApplicationId,
        missing: &[String],
        text: &str,
        today: chrono::NaiveDate,
    ) -> Result<Value, UseCaseError> {
        let known: Vec<&str> = service.material_ids().collect();
        if missing.is_empty() || missing.iter().any(|m| !known.contains(&m.as_str())) {
            return Err(UseCaseError::Invalid(format!("name the missing materials, each one of: {}", known.join(", "))));
        }
        let kinds = &self.rules().documents.kinds;
        let names: Vec<&str> = missing.iter().map(|m| kinds.get(m).map(|k| k.name.as_str()).unwrap_or(m)).collect();
        Ok(json!({
            "title": "补正材料通知书（一次性告知）",
            "application_id": id,
            "missing_materials": missing,
            "message": format!("请补正以下材料：{}。{}", names.join("、"), text),
            "decided_on": today.format("%Y-%m-%d").to_string(),
        }))
    }

    /// What a reviewer's `issue` grants: the permit (with the category the latest decision rested
    /// on, unless a correction of it wins) and the records of the bundle items the latest decision
    /// lists as requested.
    async fn what_issuing_grants(
        &self,
        service: &CompiledService,
        application: &ApplicationRecord,
        form: &Value,
        issued_by: &str,
    ) -> Result<(Option<crate::storage::PermitSpec>, Vec<crate::storage::ItemRecordSpec>), UseCaseError> {
        let latest: Option<Decision> =
            self.store().decisions(&application.id).await?.last().and_then(|d| serde_json::from_str(&d.decision).ok());
        let today = self.clock().today();
        let rules = self.rules();
        let category = latest.as_ref().and_then(|d| crate::issuance::decided_category(service, d, form));
        // A reviewer's correction of the category is in the corrected form and wins.
        let corrected =
            service.steps().category.as_ref().and_then(|step| form.get(&step.field)).and_then(Value::as_str).map(str::to_string);
        let category = corrected.or(category);
        let permit = crate::issuance::permit_spec(rules, service.info(), form, category.as_deref(), today, issued_by);
        let requested: Vec<&str> = latest.as_ref().map(|d| d.items.iter().map(|i| i.item.as_str()).collect()).unwrap_or_default();
        let items = crate::issuance::item_record_specs(rules, &application.service, &requested, today);
        Ok((permit, items))
    }

    /// The form as the office accepted it: the applicant's form with a reviewer's corrections of
    /// form fields on the current submission (a misspelt name is what the permit must not carry).
    async fn form_as_corrected(&self, application: &ApplicationRecord) -> Result<Value, UseCaseError> {
        let mut form: Value = application.form_value()?;
        let service = self.rules().service(&application.service);
        let category_field = service.and_then(|s| s.steps().category.as_ref()).map(|step| step.field.as_str());
        let current = self.store().corrections(&application.id).await?.into_iter().filter(|c| c.submission_seq == application.submissions);
        for correction in current {
            if form.get(&correction.field).is_some() || Some(correction.field.as_str()) == category_field {
                form[&correction.field] = serde_json::from_str(&correction.corrected).unwrap_or(Value::Null);
            }
        }
        Ok(form)
    }

    /// Corrects one field of the case the actor holds, re-runs the decision with every correction
    /// made so far on this submission, and records the correction with the decision it led to. The
    /// machine's reading stays on record. At most `CORRECTIONS_AT_ONCE` re-runs go at once; another
    /// is told to try again in a moment, so corrections cannot queue unbounded work inside requests.
    pub async fn correct(
        &self,
        actor: &Actor,
        id: &ApplicationId,
        field: &str,
        value: Value,
        reason: &str,
    ) -> Result<Corrected, UseCaseError> {
        actor.require(REVIEWERS)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(UseCaseError::Invalid("a correction states its reason".into()));
        }
        let application =
            self.store().application(id).await?.ok_or_else(|| UseCaseError::NotFound(format!("application {id} not found")))?;
        let now_ms = self.clock().now_ms();
        if !application.is_claimed_by(actor.user_id, now_ms) {
            return Err(UseCaseError::Conflict("claim the case in review before correcting it".into()));
        }
        // A new value is held to the field's type and bounds; the pipeline names a field that
        // cannot be corrected at all.
        let rules = self.rules();
        if let Some(service) = rules.service(&application.service) {
            if crate::decision::is_correctable(rules, service, field) {
                let errors = crate::decision::correction_errors(rules, service, field, &value);
                if !errors.is_empty() {
                    return Err(UseCaseError::Pipeline(crate::pipeline::PipelineError::InvalidForm(errors)));
                }
            }
        }
        let _running = self.0.corrections.try_acquire().map_err(|_| UseCaseError::Overloaded {
            message: "another correction is being decided; try again in a moment, nothing was recorded".into(),
            retry_after_secs: 5,
        })?;
        let mut corrections: BTreeMap<String, Value> = BTreeMap::new();
        for earlier in self.store().corrections(id).await?.into_iter().filter(|c| c.submission_seq == application.submissions) {
            corrections.insert(earlier.field, serde_json::from_str(&earlier.corrected).unwrap_or(Value::Null));
        }
        corrections.insert(field.to_string(), value.clone());
        let machine = self.store().decisions(id).await?.into_iter().find(|d| d.submission_seq == application.submissions);
        let original = machine
            .and_then(|d| serde_json::from_str::<Value>(&d.decision).ok())
            .and_then(|d| d["fields"].get(field).map(|f| f["value"].clone()))
            .unwrap_or(Value::Null);
        let inputs = self.submission_inputs(&application, application.submissions).await?;
        let decision = self.run_pipeline(&application.service, inputs, corrections).await?;
        let correction = NewCorrection {
            field: field.to_string(),
            original: original.clone(),
            corrected: value,
            reason: reason.to_string(),
            decision_after: decision.to_canonical_json(),
        };
        let record = self.store().add_correction(id, actor.user_id, now_ms, &correction, &actor.audit_name()).await?;
        Ok(Corrected { record, original, decision })
    }
}
