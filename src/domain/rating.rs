//! 好差评: an applicant's rating of a decided case (一事一评), and the work order a bad rating opens
//! (差评整改), as a state machine of named steps. National basis: 国办发〔2019〕51号 (every bad rating
//! verified, rectified and called back); GB/T 39734-2020 and GB/T 39735-2020 (the five levels and the
//! aspects of online service).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The five levels, 5 (非常满意) to 1 (非常不满意).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Level(u8);

impl Level {
    pub fn new(value: i64) -> Option<Self> {
        (1..=5).contains(&value).then_some(Self(value as u8))
    }

    pub fn value(self) -> u8 {
        self.0
    }

    /// 不满意 and 非常不满意 are 差评.
    pub fn is_bad(self) -> bool {
        self.0 <= 2
    }

    pub fn label(self) -> &'static str {
        LEVEL_LABELS[5 - self.0 as usize]
    }
}

/// The levels' names, best first.
pub const LEVEL_LABELS: [&str; 5] = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"];

/// The aspects of an online service an applicant may rate, with their names (GB/T 39734-2020).
pub const ASPECTS: [(&str, &str); 4] =
    [("efficiency", "办事效率"), ("guide_accuracy", "办事指南精确度"), ("convenience", "办事便捷度"), ("usability", "平台操作性")];

/// The longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;

/// A rating as given: the level, any of the aspects, and a comment (may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    pub level: Level,
    pub aspects: BTreeMap<String, Level>,
    pub comment: String,
}

/// Why a rating as sent is not one, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RatingError {
    pub field: String,
    pub message: String,
}

impl Rating {
    /// Checks a rating as sent: every level 1 to 5, only the known aspects, a comment of at most
    /// [`MAX_COMMENT_CHARS`] characters.
    pub fn parse(level: i64, aspects: &BTreeMap<String, i64>, comment: &str) -> Result<Self, RatingError> {
        let err = |field: &str, message: &str| RatingError { field: field.into(), message: message.into() };
        let level = Level::new(level).ok_or_else(|| err("level", "must be 1 (非常不满意) to 5 (非常满意)"))?;
        let mut checked = BTreeMap::new();
        for (key, value) in aspects {
            if !ASPECTS.iter().any(|(k, _)| k == key) {
                return Err(err(&format!("aspects.{key}"), "is no aspect (efficiency, guide_accuracy, convenience, usability)"));
            }
            checked.insert(key.clone(), Level::new(*value).ok_or_else(|| err(&format!("aspects.{key}"), "must be 1 to 5"))?);
        }
        let comment = checked_text("comment", comment, MAX_COMMENT_CHARS)?;
        Ok(Self { level, aspects: checked, comment })
    }
}

/// A text people typed (a comment, a step's account), trimmed: at most `max` characters, and no
/// control characters but line breaks.
pub fn checked_text(field: &str, text: &str, max: usize) -> Result<String, RatingError> {
    let err = |message: String| RatingError { field: field.into(), message };
    let text = text.trim();
    if text.chars().count() > max {
        return Err(err(format!("is longer than {max} characters")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(err("holds control characters".into()));
    }
    Ok(text.to_string())
}

/// Where a work order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkOrderState {
    /// Opened by the bad rating; to be verified (核实).
    Open,
    /// Verified as founded: to be rectified (整改).
    Founded,
    /// Verified as unfounded: the applicant is to be told why (回访), or the rating appealed (申诉).
    Unfounded,
    /// Appealed as unfounded or malicious: an admin decides.
    Appealed,
    /// Rectified: the applicant is to be called back (回访).
    Rectified,
    /// Called back: the applicant grades the handling, which closes the order.
    CalledBack,
    Closed,
}

impl WorkOrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Founded => "founded",
            Self::Unfounded => "unfounded",
            Self::Appealed => "appealed",
            Self::Rectified => "rectified",
            Self::CalledBack => "called_back",
            Self::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Founded, Self::Unfounded, Self::Appealed, Self::Rectified, Self::CalledBack, Self::Closed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// How the state is written for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "待核实",
            Self::Founded => "核实属实，待整改",
            Self::Unfounded => "核实不属实，待回访",
            Self::Appealed => "申诉中",
            Self::Rectified => "已整改，待回访",
            Self::CalledBack => "已回访，待评价",
            Self::Closed => "已办结",
        }
    }

    /// Every state but `Closed` is still open.
    pub fn is_open(self) -> bool {
        self != Self::Closed
    }

    /// Whether the next step is the centre's, so that the order can be late: once called back it
    /// waits for the applicant's grade (and closes by itself if none comes, [`Step::Lapse`]).
    pub fn awaits_centre(self) -> bool {
        !matches!(self, Self::CalledBack | Self::Closed)
    }

    /// The state after `step`, or why the step is not allowed now.
    pub fn after(self, step: &Step) -> Result<Self, IllegalStep> {
        use WorkOrderState::*;
        let next = match (self, step) {
            (Open, Step::Verify { founded: true }) => Founded,
            (Open, Step::Verify { founded: false }) => Unfounded,
            (Founded, Step::Rectify) => Rectified,
            (Rectified | Unfounded, Step::Callback) => CalledBack,
            (Unfounded, Step::Appeal) => Appealed,
            // Upheld: the rating leaves the figures and the order closes. Dismissed: the rating
            // stands and is handled as founded.
            (Appealed, Step::DecideAppeal { upheld: true }) => Closed,
            (Appealed, Step::DecideAppeal { upheld: false }) => Founded,
            (CalledBack, Step::Close { .. } | Step::Lapse) => Closed,
            (state, step) => return Err(IllegalStep { state, step: step.name() }),
        };
        Ok(next)
    }
}

/// The applicant's grade of how the bad rating was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Satisfied,
    Basic,
    Dissatisfied,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Satisfied => "satisfied",
            Self::Basic => "basic",
            Self::Dissatisfied => "dissatisfied",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Satisfied, Self::Basic, Self::Dissatisfied].into_iter().find(|g| g.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Satisfied => "满意",
            Self::Basic => "基本满意",
            Self::Dissatisfied => "不满意",
        }
    }
}

/// A step of a work order. Each is recorded with who took it, when, and a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// 核实: whether the rating's complaint is founded.
    Verify { founded: bool },
    /// 整改: what was changed.
    Rectify,
    /// 回访: how the applicant was told.
    Callback,
    /// 申诉: the rating is unfounded or malicious; an admin decides.
    Appeal,
    /// An admin's decision on the appeal.
    DecideAppeal { upheld: bool },
    /// The applicant's grade of the handling, which closes the order.
    Close { grade: Grade },
    /// No grade came within the order's time after the call back: the service closes it, ungraded.
    Lapse,
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Step::Verify { .. } => "verify",
            Step::Rectify => "rectify",
            Step::Callback => "callback",
            Step::Appeal => "appeal",
            Step::DecideAppeal { .. } => "decide_appeal",
            Step::Close { .. } => "close",
            Step::Lapse => "lapse",
        }
    }

    /// What the step records beyond its text, for the order's history and the audit log.
    pub fn details(&self) -> serde_json::Value {
        match self {
            Step::Verify { founded } => serde_json::json!({"founded": founded}),
            Step::DecideAppeal { upheld } => serde_json::json!({"upheld": upheld}),
            Step::Close { grade } => serde_json::json!({"grade": grade.as_str()}),
            _ => serde_json::json!({}),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a work order that is {} cannot take the step {step}", state.as_str())]
pub struct IllegalStep {
    pub state: WorkOrderState,
    pub step: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_lowest_levels_are_bad_ratings_and_levels_outside_one_to_five_are_refused() {
        let bad: Vec<u8> = (1..=5).filter_map(Level::new).filter(|l| l.is_bad()).map(Level::value).collect();
        assert_eq!(bad, vec![1, 2]);
        assert_eq!(Level::new(5).unwrap().label(), "非常满意");
        assert_eq!(Level::new(1).unwrap().label(), "非常不满意");
        assert!(Level::new(0).is_none() && Level::new(6).is_none());
        let aspects = BTreeMap::from([("speed".to_string(), 3)]);
        assert_eq!(Rating::parse(4, &aspects, "").unwrap_err().field, "aspects.speed");
        let aspects = BTreeMap::from([("efficiency".to_string(), 9)]);
        assert_eq!(Rating::parse(4, &aspects, "").unwrap_err().field, "aspects.efficiency");
        assert_eq!(Rating::parse(4, &BTreeMap::new(), &"长".repeat(501)).unwrap_err().field, "comment");
        assert_eq!(Rating::parse(2, &BTreeMap::new(), "  太慢了 ").unwrap().comment, "太慢了");
        assert_eq!(Rating::parse(2, &BTreeMap::new(), "太慢\u{7}了").unwrap_err().field, "comment");
        assert_eq!(checked_text("text", "第一行\n第二行", 10).unwrap(), "第一行\n第二行", "line breaks are kept");
        assert!(checked_text("text", "\u{1b}[2J", 10).is_err(), "a terminal escape is refused");
    }

    #[test]
    fn a_work_order_goes_verify_rectify_callback_close_and_nothing_else_is_allowed() {
        use WorkOrderState::*;
        let close = Step::Close { grade: Grade::Basic };
        let founded_path = [Step::Verify { founded: true }, Step::Rectify, Step::Callback, close];
        let mut state = Open;
        for step in &founded_path {
            state = state.after(step).unwrap();
        }
        assert_eq!(state, Closed);
        let unfounded = Open.after(&Step::Verify { founded: false }).unwrap();
        assert_eq!(unfounded.after(&Step::Callback), Ok(CalledBack), "an unfounded rating is explained to the applicant");
        let appealed = unfounded.after(&Step::Appeal).unwrap();
        assert_eq!(appealed.after(&Step::DecideAppeal { upheld: true }), Ok(Closed));
        assert_eq!(appealed.after(&Step::DecideAppeal { upheld: false }), Ok(Founded), "a dismissed appeal is rectified");
        // Every step from every state: exactly the transitions above are allowed.
        let all_steps = [
            Step::Verify { founded: true },
            Step::Verify { founded: false },
            Step::Rectify,
            Step::Callback,
            Step::Appeal,
            Step::DecideAppeal { upheld: true },
            Step::DecideAppeal { upheld: false },
            close,
            Step::Lapse,
        ];
        let allowed: usize = [Open, Founded, Unfounded, Appealed, Rectified, CalledBack, Closed]
            .iter()
            .map(|s| all_steps.iter().filter(|step| s.after(step).is_ok()).count())
            .sum();
        assert_eq!(allowed, 2 + 1 + 2 + 2 + 1 + 2);
        assert_eq!(Closed.after(&Step::Rectify), Err(IllegalStep { state: Closed, step: "rectify" }));
        assert!(Open.after(&Step::Appeal).is_err(), "only an order verified as unfounded is appealed");
        assert!(
            !CalledBack.awaits_centre() && Rectified.awaits_centre() && Appealed.awaits_centre(),
            "a called-back order waits for the applicant, not late"
        );
        assert_eq!(CalledBack.after(&Step::Lapse), Ok(Closed), "an order called back and never graded closes");
    }
}
