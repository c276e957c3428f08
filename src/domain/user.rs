//! Accounts: roles and API tokens. A token is shown once; only its SHA-256 is stored.

use rand::RngCore;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Uploads materials and follows their own applications.
    Applicant,
    /// Works the queue of flagged cases.
    Reviewer,
    /// Reads everything, changes nothing.
    Auditor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Applicant => "applicant",
            Role::Reviewer => "reviewer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "applicant" => Role::Applicant,
            "reviewer" => Role::Reviewer,
            "auditor" => Role::Auditor,
            "admin" => Role::Admin,
            _ => return None,
        })
    }
}

/// Who acts on a case: an account with its role. The access rules per role live here, so that the
/// API, the pages and the use cases all ask the same questions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
}

/// An account may not do what it asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {} may not do this", .0.as_str())]
pub struct NotAllowed(pub Role);

impl Actor {
    /// How the actor appears in the audit log: `reviewer:王芳`.
    pub fn audit_name(&self) -> String {
        format!("{}:{}", self.role.as_str(), self.name)
    }

    pub fn require(&self, roles: &[Role]) -> Result<(), NotAllowed> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(NotAllowed(self.role))
        }
    }

    /// Applicants see only their own applications (`owner_id`); reviewers, auditors and admins see
    /// all. An application the actor may not see is reported as not found, so ids leak nothing.
    pub fn can_read(&self, owner_id: Option<i64>) -> bool {
        match self.role {
            Role::Applicant => owner_id == Some(self.user_id),
            Role::Reviewer | Role::Auditor | Role::Admin => true,
        }
    }

    /// Only the owner (or an admin) adds documents or submits.
    pub fn can_change_as_applicant(&self, owner_id: Option<i64>) -> bool {
        match self.role {
            Role::Applicant => owner_id == Some(self.user_id),
            Role::Admin => true,
            Role::Reviewer | Role::Auditor => false,
        }
    }
}

/// The shortest and longest password an account may have (NIST SP 800-63B §3.1.1.2: at least 8,
/// and long passphrases allowed).
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// What is wrong with `password` as the password of the account `name`, in the words shown to the
/// person choosing it; `None` when it may be used.
pub fn password_problem(name: &str, password: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Some(format!("密码至少需要{MIN_PASSWORD_CHARS}个字符"))
    } else if chars > MAX_PASSWORD_CHARS {
        Some(format!("密码不能超过{MAX_PASSWORD_CHARS}个字符"))
    } else if password.chars().any(char::is_control) {
        Some("密码不能含有控制字符".into())
    } else if password.trim() == name.trim() {
        Some("密码不能与用户名相同".into())
    } else if password.chars().all(|c| c == password.chars().next().unwrap_or(' ')) {
        Some("密码不能由同一个字符重复组成".into())
    } else {
        None
    }
}

/// A fresh API token: `ow_` and 32 random bytes in hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("ow_{}", hex::encode(bytes))
}

/// What is stored and looked up: the token's SHA-256 in hex.
pub fn token_digest(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_only_their_digest_is_kept() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with("ow_") && a.len() == 67);
        assert_eq!(token_digest(&a).len(), 64);
        assert_ne!(token_digest(&a), a);
        for role in [Role::Applicant, Role::Reviewer, Role::Auditor, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }

    #[test]
    fn passwords_are_long_enough_and_not_the_name() {
        assert_eq!(password_problem("张三", "correct horse"), None);
        assert_eq!(password_problem("张三", "密码是八个汉字啊"), None, "characters, not bytes");
        for bad in ["short", "zhangsan1", "aaaaaaaaaa", "tab\there!", &"x".repeat(129)] {
            assert!(password_problem("zhangsan1", bad).is_some(), "{bad}");
        }
    }
}
