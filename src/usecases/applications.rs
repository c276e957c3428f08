//! The applicant's use cases: create an application, add and withdraw documents, submit; and what
//! anyone allowed to see a case may read of it.

use serde_json::Value;

use super::{UseCaseError, UseCases};
use crate::deadlines::Deadlines;
use crate::domain::application::ApplicationId;
use crate::domain::decision::Decision;
use crate::domain::user::{token_digest, Actor, Role};
use crate::reading::Format;
use crate::storage::{
    ApplicationRecord, CorrectionRecord, DecisionRecord, DocumentLimits, DocumentRecord, ItemRecord, NewDocument, PermitRecord,
    ReviewRecord, Submitted, UserRecord,
};

/// One file as uploaded, already checked against the per-file limit and sniffed.
#[derive(Debug, Clone)]
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
    pub format: Format,
}

/// Everything about one case that its readers may see.
#[derive(Debug, Clone)]
pub struct ApplicationView {
    pub application: ApplicationRecord,
    pub form: Value,
    pub documents: Vec<DocumentRecord>,
    pub decisions: Vec<DecisionRecord>,
    /// The current decision: the latest submission's.
    pub decision: Option<Value>,
    pub deadlines: Option<Deadlines>,
    pub reviews: Vec<ReviewRecord>,
    pub corrections: Vec<CorrectionRecord>,
    pub permit: Option<PermitRecord>,
    pub item_records: Vec<ItemRecord>,
    /// The case's audit events: (seq, at, actor, kind).
    pub history: Vec<(i64, String, String, String)>,
}

fn not_found(id: &ApplicationId) -> UseCaseError {
    UseCaseError::NotFound(format!("application {id} not found"))
}

fn stored_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, UseCaseError> {
    serde_json::from_str(text).map_err(|e| UseCaseError::Internal(format!("stored {what} is not valid: {e}")))
}

impl UseCases {
    /// Creates an account; the token is returned once and only its digest is kept.
    pub async fn create_account(&self, name: &str, role: Role, audit_actor: &str) -> Result<(UserRecord, String), UseCaseError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(UseCaseError::Invalid("a user name must not be empty".into()));
        }
        let token = crate::domain::user::new_token();
        let user = self.store().create_user(name, role.as_str(), &token_digest(&token), audit_actor).await?;
        Ok((user, token))
    }

    /// The account a bearer token belongs to, if any.
    pub async fn actor_for_token(&self, token: &str) -> Result<Option<Actor>, UseCaseError> {
        let Some(user) = self.store().user_by_token(&token_digest(token)).await? else { return Ok(None) };
        let role = Role::parse(&user.role).ok_or_else(|| UseCaseError::Internal(format!("user {} has unknown role", user.id)))?;
        Ok(Some(Actor { user_id: user.id, name: user.name, role }))
    }

    pub async fn create_application(&self, actor: &Actor, service: &str, form: &Value) -> Result<ApplicationRecord, UseCaseError> {
        actor.require(&[Role::Applicant, Role::Admin])?;
        self.pipeline().check_form(service, form)?;
        let id = ApplicationId::new();
        let per_day = self.limits().max_applications_per_day;
        let record =
            self.store().create_application(&id, service, &form.to_string(), Some(actor.user_id), per_day, &actor.audit_name()).await?;
        tracing::info!(application.id = %id, service = %service, "application created");
        Ok(record)
    }

    /// Changes a draft's form, validated as at creation, by its applicant.
    pub async fn update_form(&self, actor: &Actor, id: &ApplicationId, form: &Value) -> Result<ApplicationRecord, UseCaseError> {
        let application = self.changeable(actor, id).await?;
        self.pipeline().check_form(&application.service, form)?;
        Ok(self.store().update_form(id, &form.to_string(), &actor.audit_name()).await?)
    }

    /// The actor's own applications, newest first.
    pub async fn my_applications(&self, actor: &Actor) -> Result<Vec<ApplicationRecord>, UseCaseError> {
        Ok(self.store().applications_of(actor.user_id).await?)
    }

    /// The materials `service` asks for with this form, as the applicant's task list shows them
    /// before anything is read: (material id, its name, needed always / not / depending on others).
    pub fn material_needs(&self, service: &str, form: &Value) -> Result<Vec<(String, String, Option<bool>)>, UseCaseError> {
        let rules = self.rules();
        let compiled = rules.service(service).ok_or_else(|| UseCaseError::NotFound(format!("unknown service {service}")))?;
        let form = crate::rules::schema::apply_defaults(compiled.form_schema(), form);
        Ok(compiled
            .material_needs(&form)
            .into_iter()
            .map(|(id, need)| {
                let name = rules.documents.kinds.get(id).map_or_else(|| id.to_string(), |k| k.name.clone());
                (id.to_string(), name, need)
            })
            .collect())
    }

    /// One stored file of a case the actor may see, re-hashed as it is read.
    pub async fn document_file(
        &self,
        actor: &Actor,
        id: &ApplicationId,
        document_id: i64,
    ) -> Result<(DocumentRecord, Vec<u8>), UseCaseError> {
        self.readable(actor, id).await?;
        let document = self
            .store()
            .documents(id)
            .await?
            .into_iter()
            .find(|d| d.id == document_id)
            .ok_or_else(|| UseCaseError::NotFound(format!("no document {document_id} in application {id}")))?;
        let bytes = (self.0.blobs.get(&document.sha256).await)
            .map_err(|e| UseCaseError::Internal(format!("reading stored document {document_id}: {e}")))?;
        Ok((document, bytes))
    }

    /// The application if the actor may see it; otherwise "not found", so ids reveal nothing.
    pub async fn readable(&self, actor: &Actor, id: &ApplicationId) -> Result<ApplicationRecord, UseCaseError> {
        match self.store().application(id).await? {
            Some(application) if actor.can_read(application.owner_id) => Ok(application),
            _ => Err(not_found(id)),
        }
    }

    /// The application if the actor may act on it as its applicant: not found if unseen, forbidden
    /// if only readable.
    pub async fn changeable(&self, actor: &Actor, id: &ApplicationId) -> Result<ApplicationRecord, UseCaseError> {
        let application = self.readable(actor, id).await?;
        if actor.can_change_as_applicant(application.owner_id) {
            Ok(application)
        } else {
            Err(UseCaseError::Forbidden(format!("a {} may not change an application", actor.role.as_str())))
        }
    }

    /// The application if documents may be added to it now (checked before an upload is read).
    pub async fn open_for_documents(&self, actor: &Actor, id: &ApplicationId) -> Result<ApplicationRecord, UseCaseError> {
        let application = self.changeable(actor, id).await?;
        application.state.add_document().map_err(|e| UseCaseError::Conflict(e.to_string()))?;
        Ok(application)
    }

    pub async fn view(&self, actor: &Actor, id: &ApplicationId) -> Result<ApplicationView, UseCaseError> {
        let store = self.store();
        let application = self.readable(actor, id).await?;
        let decisions = store.decisions(id).await?;
        let decision = decisions.last().map(|d| stored_json(&d.decision, "decision")).transpose()?;
        let rules = self.rules();
        let deadlines = rules
            .service(&application.service)
            .and_then(|s| crate::deadlines::deadlines(&rules.calendar, s.info(), &application, self.clock().today()));
        Ok(ApplicationView {
            form: application.form_value()?,
            documents: store.documents(id).await?,
            decision,
            deadlines,
            reviews: store.reviews(id).await?,
            corrections: store.corrections(id).await?,
            permit: store.permit_for(id).await?,
            item_records: store.item_records(id).await?,
            history: store.audit_for(id).await?.into_iter().map(|e| (e.seq, e.at, e.actor, e.kind)).collect(),
            decisions,
            application,
        })
    }

    /// Every decision of a case the actor may see, oldest first.
    pub async fn decisions(&self, actor: &Actor, id: &ApplicationId) -> Result<Vec<(DecisionRecord, Decision)>, UseCaseError> {
        self.readable(actor, id).await?;
        let records = self.store().decisions(id).await?;
        records
            .into_iter()
            .map(|record| {
                let decision = stored_json(&record.decision, "decision")?;
                Ok((record, decision))
            })
            .collect()
    }

    /// The decision that stands on the application's current submission: a person's, once a
    /// reviewer decided (issue, refuse, request materials), else the machine's. A person's answer
    /// is the machine's decision document with `outcome` set to what the person decided (`issued`,
    /// `refused`, `needs_materials`), `decided_by` saying who, when and why, and the machine's own
    /// outcome kept as `machine_outcome`; the machine's stored document stays as it was.
    pub async fn current_decision(&self, actor: &Actor, id: &ApplicationId) -> Result<Option<serde_json::Value>, UseCaseError> {
        let decisions = self.decisions(actor, id).await?;
        let Some((record, machine)) = decisions.into_iter().last() else { return Ok(None) };
        let mut answer = serde_json::to_value(&machine).map_err(|e| UseCaseError::Internal(e.to_string()))?;
        let person = self.store().reviews(id).await?.into_iter().rfind(|r| r.submission_seq == record.submission_seq);
        if let Some(review) = person {
            // The state machine says what a reviewer's action leads to (issue → issued …).
            let action: crate::domain::application::ReviewAction = serde_json::from_value(serde_json::json!(review.action))
                .map_err(|e| UseCaseError::Internal(format!("stored review action {}: {e}", review.action)))?;
            let outcome = crate::domain::application::ApplicationState::NeedsReview
                .review(action)
                .map_err(|e| UseCaseError::Internal(e.to_string()))?
                .as_str();
            answer["machine_outcome"] = answer["outcome"].clone();
            answer["outcome"] = serde_json::json!(outcome);
            answer["decided_by"] = serde_json::json!({
                "kind": "person",
                "action": review.action,
                "reason_code": review.reason_code,
                "at": review.created_at,
            });
        }
        Ok(Some(answer))
    }

    /// Stores every file of one upload, or none: the blobs first (content-addressed, so a retry
    /// after a failure stores nothing twice), then the records, checked against the limits in the
    /// same transaction.
    pub async fn add_documents(
        &self,
        actor: &Actor,
        id: &ApplicationId,
        uploads: Vec<Upload>,
    ) -> Result<Vec<DocumentRecord>, UseCaseError> {
        self.open_for_documents(actor, id).await?;
        if uploads.is_empty() {
            return Err(UseCaseError::Invalid("no file in the upload".into()));
        }
        let mut stored = Vec::with_capacity(uploads.len());
        for upload in uploads {
            let size_bytes = upload.bytes.len() as u64;
            let sha256 =
                (self.0.blobs.put(upload.bytes).await).map_err(|e| UseCaseError::Internal(format!("storing uploaded blobs: {e}")))?;
            stored.push(NewDocument { file_name: upload.name, sha256, size_bytes, format: upload.format.as_str().to_string() });
        }
        let limits = self.limits();
        let document_limits = DocumentLimits {
            max_files: limits.max_files,
            max_application_bytes: limits.max_application_bytes,
            max_account_bytes: limits.max_account_bytes,
        };
        let records = self.store().add_documents(id, &stored, document_limits, &actor.audit_name()).await?;
        tracing::info!(application.id = %id, n_documents = records.len(), "documents stored");
        Ok(records)
    }

    /// Withdraws a wrong or unreadable file before the next submission; it stays on record.
    pub async fn withdraw_document(&self, actor: &Actor, id: &ApplicationId, document_id: i64) -> Result<(), UseCaseError> {
        self.changeable(actor, id).await?;
        if self.store().withdraw_document(id, document_id, &actor.audit_name()).await? {
            Ok(())
        } else {
            Err(UseCaseError::NotFound(format!("no current document {document_id} in application {id}")))
        }
    }

    /// Submits for a decision, once per idempotency key, and wakes a worker. Overload is answered
    /// at once, not by a stall: the decision queue has a bound. A resubmission after a request for
    /// materials restarts the clock; the wait does not count.
    pub async fn submit(
        &self,
        actor: &Actor,
        id: &ApplicationId,
        idempotency_key: &str,
    ) -> Result<(Submitted, ApplicationRecord), UseCaseError> {
        let application = self.changeable(actor, id).await?;
        let bound = self.limits().max_queued_decisions as i64;
        let today = self.clock().today();
        let calendar = &self.rules().calendar;
        let resumed_after_days = application.waiting_since.map(|since| calendar.working_days_between(since, today) as i64).unwrap_or(0);
        let submitted = match self.store().submit(id, idempotency_key, today, resumed_after_days, bound, &actor.audit_name()).await {
            Err(e @ crate::storage::StoreError::Overloaded { .. }) => {
                return Err(UseCaseError::Overloaded { message: e.to_string(), retry_after_secs: 30 })
            }
            other => other?,
        };
        if !submitted.repeated {
            self.notify_jobs();
            tracing::info!(application.id = %id, submission = submitted.submission.seq, "submitted");
        }
        let application = self.store().application(id).await?.ok_or_else(|| not_found(id))?;
        Ok((submitted, application))
    }

    /// Escalates every open case whose promised limit has passed, once each; returns their ids.
    pub async fn escalate_overdue(&self) -> Result<Vec<ApplicationId>, UseCaseError> {
        let today = self.clock().today();
        let rules = self.rules();
        let mut escalated = Vec::new();
        for application in self.store().open_cases().await? {
            let Some(service) = rules.service(&application.service) else { continue };
            let Some(due) = crate::deadlines::deadlines(&rules.calendar, service.info(), &application, today) else { continue };
            if due.status != "overdue" || application.escalated_on.is_some() {
                continue;
            }
            let details = serde_json::json!({"promised_due": due.promised_due, "legal_due": due.legal_due, "state": application.state});
            if self.store().escalate(&application.id, today, details).await? {
                tracing::warn!(application.id = %application.id, promised_due = %due.promised_due, "case escalated: promised limit passed");
                escalated.push(application.id);
            }
        }
        Ok(escalated)
    }
}
