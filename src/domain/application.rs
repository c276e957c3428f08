//! The application lifecycle as a state machine; transitions are the only way to change state.

use serde::{Deserialize, Serialize};

use super::decision::Outcome;

/// An application's id: a UUID, as text. Anything else names no application.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ApplicationId(String);

impl ApplicationId {
    /// A fresh id.
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The id written `text`, if it is one: a UUID exactly as the service writes them (hyphenated,
    /// lowercase), so that one application has one id and one URL.
    pub fn parse(text: &str) -> Option<Self> {
        uuid::Uuid::try_parse(text).ok().filter(|u| u.hyphenated().to_string() == text).map(|_| Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ApplicationId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for ApplicationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationState {
    /// Created; the applicant is still adding documents.
    Draft,
    /// Submitted; a decision job is queued or running.
    Submitted,
    Issued,
    NeedsReview,
    /// The applicant was told what is missing and may add documents to the same application.
    NeedsMaterials,
    /// A reviewer refused, in writing, with reasons. Only a person reaches this state.
    Refused,
}

/// What a reviewer decides on a case in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    Issue,
    Refuse,
    RequestMaterials,
}

impl ReviewAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewAction::Issue => "issue",
            ReviewAction::Refuse => "refuse",
            ReviewAction::RequestMaterials => "request_materials",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("documents cannot be added to an application in state {0}")]
    NotOpenForDocuments(&'static str),
    #[error("an application in state {0} cannot be submitted")]
    NotSubmittable(&'static str),
    #[error("an application in state {0} is not awaiting a decision")]
    NotAwaitingDecision(&'static str),
    #[error("an application in state {0} is not in review")]
    NotInReview(&'static str),
}

impl ApplicationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationState::Draft => "draft",
            ApplicationState::Submitted => "submitted",
            ApplicationState::Issued => "issued",
            ApplicationState::NeedsReview => "needs_review",
            ApplicationState::NeedsMaterials => "needs_materials",
            ApplicationState::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => Self::Draft,
            "submitted" => Self::Submitted,
            "issued" => Self::Issued,
            "needs_review" => Self::NeedsReview,
            "needs_materials" => Self::NeedsMaterials,
            "refused" => Self::Refused,
            _ => return None,
        })
    }

    /// Documents may be added while drafting and after a request for materials (补正).
    pub fn add_document(self) -> Result<Self, TransitionError> {
        match self {
            Self::Draft | Self::NeedsMaterials => Ok(self),
            other => Err(TransitionError::NotOpenForDocuments(other.as_str())),
        }
    }

    pub fn submit(self) -> Result<Self, TransitionError> {
        match self {
            Self::Draft | Self::NeedsMaterials => Ok(Self::Submitted),
            other => Err(TransitionError::NotSubmittable(other.as_str())),
        }
    }

    /// A person's decision on a case the machine sent to review.
    pub fn review(self, action: ReviewAction) -> Result<Self, TransitionError> {
        match self {
            Self::NeedsReview => Ok(match action {
                ReviewAction::Issue => Self::Issued,
                ReviewAction::Refuse => Self::Refused,
                ReviewAction::RequestMaterials => Self::NeedsMaterials,
            }),
            other => Err(TransitionError::NotInReview(other.as_str())),
        }
    }

    pub fn decided(self, outcome: Outcome) -> Result<Self, TransitionError> {
        match self {
            Self::Submitted => Ok(match outcome {
                Outcome::Issued => Self::Issued,
                Outcome::NeedsReview => Self::NeedsReview,
                Outcome::NeedsMaterials => Self::NeedsMaterials,
            }),
            other => Err(TransitionError::NotAwaitingDecision(other.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_materials_reopens_the_same_application() {
        let state = ApplicationState::Draft.submit().unwrap();
        let state = state.decided(Outcome::NeedsMaterials).unwrap();
        assert_eq!(state.add_document(), Ok(ApplicationState::NeedsMaterials));
        assert_eq!(state.submit(), Ok(ApplicationState::Submitted));
    }

    #[test]
    fn decided_cases_are_closed_to_the_applicant() {
        let issued = ApplicationState::Submitted.decided(Outcome::Issued).unwrap();
        assert!(issued.add_document().is_err());
        assert!(issued.submit().is_err());
        assert!(ApplicationState::Submitted.submit().is_err());
        assert!(ApplicationState::Draft.decided(Outcome::Issued).is_err());
    }

    #[test]
    fn only_a_case_in_review_can_be_refused() {
        assert_eq!(ApplicationState::NeedsReview.review(ReviewAction::Refuse), Ok(ApplicationState::Refused));
        assert_eq!(ApplicationState::NeedsReview.review(ReviewAction::RequestMaterials), Ok(ApplicationState::NeedsMaterials));
        assert!(ApplicationState::Issued.review(ReviewAction::Refuse).is_err());
        assert!(ApplicationState::Submitted.review(ReviewAction::Issue).is_err());
        assert!(ApplicationState::Refused.submit().is_err());
    }

    #[test]
    fn an_application_id_is_a_uuid_and_nothing_else() {
        let id = ApplicationId::new();
        assert_eq!(ApplicationId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(ApplicationId::parse(&id.as_str().to_uppercase()), None, "an id is written one way");
        for not_an_id in ["", "abc", "00000000000000000000000000000000", "{00000000-0000-0000-0000-000000000000}", "../x"] {
            assert_eq!(ApplicationId::parse(not_an_id), None, "{not_an_id}");
        }
    }

    #[test]
    fn state_names_round_trip() {
        for s in [
            ApplicationState::Refused,
            ApplicationState::Draft,
            ApplicationState::Submitted,
            ApplicationState::Issued,
            ApplicationState::NeedsReview,
            ApplicationState::NeedsMaterials,
        ] {
            assert_eq!(ApplicationState::parse(s.as_str()), Some(s));
        }
    }
}
