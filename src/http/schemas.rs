//! The document's schemas of types from outside the HTTP edge that the API shows as they are: ids,
//! states, a reviewer's action, and the decision document. They are written here so that the domain
//! types need not know about the document. An enum's values are its variants as serde writes them,
//! listed beside a `match` without a wildcard: a variant added to the type does not compile until it
//! is listed here too. The decision, the deadlines and the applicant summary are described by hand
//! (their properties as the domain types have them today), not derived.

use std::borrow::Cow;

use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::application::{ApplicationId, ApplicationState, ReviewAction};
use crate::domain::decision::Outcome;
use crate::domain::rating::{Grade, WorkOrderState};
use crate::usecases::permits::PermitStatus;

pub(super) fn string_enum(values: Vec<serde_json::Value>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values)).description(Some(description)).into()
}

/// The values of a serialisable enum, as serde writes them.
fn serialized<T: serde::Serialize>(values: &[T]) -> Vec<serde_json::Value> {
    values.iter().filter_map(|v| serde_json::to_value(v).ok()).collect()
}

/// `impl ToSchema` for an enum of the domain: a string schema whose values are the listed variants
/// (written by `$write`), with a `match` that stops the build when a variant is not listed.
macro_rules! string_enum_schema {
    ($ty:ident, $description:literal, $write:expr, [$($variant:ident),+ $(,)?]) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                // No wildcard on purpose: a variant added to the type must be listed here.
                let _every_variant_is_listed = |value: $ty| match value {
                    $($ty::$variant)|+ => (),
                };
                string_enum($write(&[$($ty::$variant),+]), $description)
            }
        }

        impl ToSchema for $ty {}
    };
}

string_enum_schema!(
    ApplicationState,
    "Where an application stands: draft (documents may be added), submitted (a decision is queued or running), issued, needs_review (a person decides), needs_materials (the applicant was told what is missing), refused (only a person refuses)",
    serialized,
    [Draft, Submitted, Issued, NeedsReview, NeedsMaterials, Refused]
);

string_enum_schema!(
    ReviewAction,
    "What a reviewer decides: issue the permit, refuse in writing, or ask for materials",
    serialized,
    [Issue, Refuse, RequestMaterials]
);

string_enum_schema!(
    WorkOrderState,
    "Where a work order stands",
    serialized,
    [Open, Founded, Unfounded, Appealed, Rectified, CalledBack, Closed]
);

string_enum_schema!(Grade, "The applicant's grade of how a bad rating was handled", serialized, [Satisfied, Basic, Dissatisfied]);

string_enum_schema!(
    Outcome,
    "The machine's outcome; there is no refused: only a person refuses",
    serialized,
    [Issued, NeedsReview, NeedsMaterials]
);

string_enum_schema!(
    PermitStatus,
    "A permit's standing as of the service's today",
    |values: &[PermitStatus]| values.iter().map(|v| serde_json::Value::from(v.as_str())).collect::<Vec<_>>(),
    [Valid, Expired, Revoked]
);

impl PartialSchema for ApplicationId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("uuid".into())))
            .description(Some("An application's id: a UUID, hyphenated and lowercase"))
            .into()
    }
}

impl ToSchema for ApplicationId {}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn object(description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Object).description(Some(description))
}

fn array_of(items: impl Into<RefOr<Schema>>) -> ArrayBuilder {
    ArrayBuilder::new().items(items.into())
}

/// The decision document (CONTRACT.md): described here, not derived from the domain type.
pub struct DecisionDocument;

impl PartialSchema for DecisionDocument {
    fn schema() -> RefOr<Schema> {
        let mut schema = object(
            "The decision document (CONTRACT.md): the outcome and everything it rests on; a reviewer's decision once a person decided",
        );
        for required in
            ["service", "outcome", "spot_check", "findings", "missing_materials", "documents", "fields", "items", "ruleset", "models"]
        {
            schema = schema.required(required);
        }
        schema
            .property("service", string())
            .property(
                "outcome",
                string_enum(
                    serialized(&[ApplicationState::Issued, ApplicationState::NeedsReview, ApplicationState::NeedsMaterials, ApplicationState::Refused]),
                    "The outcome that stands: the machine's (issued, needs_review, needs_materials), or once a person decided, theirs (issued, refused, needs_materials)",
                ),
            )
            .property("machine_outcome", Outcome::schema())
            .property("decided_by", object("once a person decided: kind (person), action, reason_code, at; absent for the machine's decision"))
            .property("spot_check", ObjectBuilder::new().schema_type(Type::Boolean))
            .property("findings", array_of(object("a rule that did not pass: rule, result, message, basis, evidence")))
            .property("missing_materials", array_of(string()))
            .property("documents", array_of(object("a document as read: file, sha256, kind, confidence, readable, reason")))
            .property("fields", object("field key → value, source, confidence and where it was read"))
            .property("items", array_of(object("an item's own outcome and findings")))
            .property("ruleset", string().description(Some("`sha256:` of the canonical rule set the decision was made under")))
            .property("models", object("model id → `sha256:` of its weights; empty while no model takes part"))
            .property("submitted_on", string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))))
            .into()
    }
}

impl ToSchema for DecisionDocument {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Decision")
    }
}

/// An accepted application's deadlines: described here, not derived from `deadlines::Deadlines`.
pub struct DeadlinesDocument;

impl PartialSchema for DeadlinesDocument {
    fn schema() -> RefOr<Schema> {
        object("An accepted application's deadlines (none before the first submission)")
            .property("accepted_on", string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))))
            .property(
                "paused_days",
                ObjectBuilder::new().schema_type(Type::Integer).description(Some("working days the clock stood still (补正)")),
            )
            .property("promised_due", string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))))
            .property("legal_due", string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))))
            .property(
                "status",
                string().description(Some("on_time, due_soon or overdue; once issued or refused: decided_on_time or decided_late")),
            )
            .property("legal_overdue", ObjectBuilder::new().schema_type(Type::Boolean))
            .into()
    }
}

impl ToSchema for DeadlinesDocument {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Deadlines")
    }
}

/// Who a queued case is about, masked: described here, not derived from the use case's type.
pub struct ApplicantDocument;

impl PartialSchema for ApplicantDocument {
    fn schema() -> RefOr<Schema> {
        object("Who a case is about, as a queue may show it: a business by its name, a person by family name, masked ID number and phone; absent keys are unknown")
            .property("name", string())
            .property("id_number", string())
            .property("contact_phone", string())
            .into()
    }
}

impl ToSchema for ApplicantDocument {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ApplicantSummary")
    }
}

/// A document upload: `multipart/form-data` with any field names, every part a file.
pub struct DocumentFiles;

impl PartialSchema for DocumentFiles {
    fn schema() -> RefOr<Schema> {
        object("Any field names; every part is a file (PDF, JPEG or PNG, judged by its content)")
            .additional_properties(Some(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))))
            .into()
    }
}

impl ToSchema for DocumentFiles {}

/// A group's dashboard figures: described here, not derived from `usecases::dashboard::Figures`.
pub struct FiguresDocument;

impl PartialSchema for FiguresDocument {
    fn schema() -> RefOr<Schema> {
        object(
            "A group's figures: counts (received, counted, decided, auto_issued, timed, on_time, ratings, good_ratings, removed_ratings, \
             bad_rating_work_orders, to_rectify, rectified, called_back, open_work_orders, overdue_work_orders) and rates or days, \
             null when there is nothing to count them from (auto_issue_rate, contactless_rate, average_working_days, p90_working_days, \
             statutory_days, promised_days, time_limit_compression, on_time_rate, good_rating_rate, rating_rate, rectification_rate, \
             callback_rate); withheld names the groups (cases, ratings, live) left out for the public, whose figures are then absent",
        )
        .property("withheld", array_of(string()))
        .into()
    }
}

impl ToSchema for FiguresDocument {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Figures")
    }
}
