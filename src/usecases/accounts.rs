//! Accounts on the site: applicants sign up, everyone signs in with a password, sessions expire
//! (idle and absolute limits), a password change ends the account's other sessions, and repeated
//! failed sign-ins for one name are slowed down. Passwords are hashed with argon2id (the `argon2`
//! crate's defaults, OWASP's minimum: 19 MiB, 2 passes) off the async threads, and never logged.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use super::{UseCaseError, UseCases};
use crate::domain::user::{new_token, password_problem, token_digest, Actor, Role};
use crate::storage::NewUser;

/// How long a browser session lives.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Ended after this long without a request.
    pub idle_ms: i64,
    /// Ended this long after sign-in, however busy.
    pub absolute_ms: i64,
}

impl Default for SessionLimits {
    fn default() -> Self {
        // OWASP's session guidance: 15–30 minutes idle for a service handling personal data, and
        // a working day absolute.
        Self { idle_ms: 30 * 60_000, absolute_ms: 12 * 3_600_000 }
    }
}

/// Failed sign-ins a name may have in a row before each further try must wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait between tries once a name has failed too often.
pub const MAX_WAIT_SECS: i64 = 15 * 60;
/// Names whose failures are remembered at once; past it the oldest are forgotten.
const MAX_TRACKED_NAMES: usize = 10_000;

/// Failed sign-ins per account name, in this process.
#[derive(Debug, Default)]
pub(crate) struct SignInThrottle(Mutex<HashMap<String, (u32, i64)>>);

impl SignInThrottle {
    /// Seconds `name` must still wait before its password is checked again.
    #[cfg(test)]
    fn wait_secs(&self, name: &str, now_ms: i64) -> i64 {
        let failures = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Self::wait_of(failures.get(name).copied(), now_ms)
    }

    fn wait_of(entry: Option<(u32, i64)>, now_ms: i64) -> i64 {
        match entry {
            Some((count, last_ms)) if count >= FREE_FAILURES => {
                let wait = (1i64 << (count - FREE_FAILURES).min(20)).min(MAX_WAIT_SECS);
                ((last_ms + wait * 1000 - now_ms).max(0) + 999) / 1000
            }
            _ => 0,
        }
    }

    /// Takes one try for `name`, counted as failed until `succeeded` says otherwise, so tries sent
    /// at once cannot all pass the check before any is counted; `Err` is the wait in seconds.
    fn attempt(&self, name: &str, now_ms: i64) -> Result<(), i64> {
        let mut failures = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let wait = Self::wait_of(failures.get(name).copied(), now_ms);
        if wait > 0 {
            return Err(wait);
        }
        if failures.len() >= MAX_TRACKED_NAMES && !failures.contains_key(name) {
            // Forget a name whose wait is over, never one still waiting: flooding the table with
            // other names does not clear a name under attack.
            let forgettable = failures
                .iter()
                .filter(|(_, e)| Self::wait_of(Some(**e), now_ms) == 0)
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone());
            match forgettable {
                Some(old) => {
                    failures.remove(&old);
                }
                // Every tracked name is waiting: a flood; new names wait until some wait ends.
                None => return Err(1),
            }
        }
        let entry = failures.entry(name.to_string()).or_insert((0, now_ms));
        *entry = (entry.0.saturating_add(1), now_ms);
        Ok(())
    }

    fn succeeded(&self, name: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
    }
}

/// A signed-in browser: the account and the session token for its cookie (shown once).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub actor: Actor,
    pub session_token: String,
}

/// A new applicant account, as typed on the sign-up page.
#[derive(Clone)]
pub struct SignUp {
    pub name: String,
    pub phone: String,
    pub password: String,
}

impl std::fmt::Debug for SignUp {
    /// Without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignUp").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Why a sign-in or sign-up was refused, in the words the page shows beside its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("{message}")]
    Field { field: &'static str, message: String },
    /// Wrong name or password: which of the two is not said.
    #[error("用户名或密码不正确")]
    BadCredentials,
    #[error("登录失败次数过多，请{0}秒后再试")]
    Throttled(i64),
}

/// The argon2id PHC string of `password`, computed off the async threads.
pub async fn hash_password(password: String) -> Result<String, UseCaseError> {
    tokio::task::spawn_blocking(move || argon2::Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()))
        .await
        .map_err(|e| UseCaseError::Internal(format!("password hashing panicked: {e}")))?
        .map_err(|e| UseCaseError::Internal(format!("password hashing failed: {e}")))
}

async fn password_matches(password: String, hash: Option<String>) -> Result<bool, UseCaseError> {
    tokio::task::spawn_blocking(move || {
        // An account without a password (or an unknown name) still costs one hash, so the time
        // taken does not tell which names exist.
        let reference = hash.unwrap_or_else(|| DUMMY_HASH.to_string());
        let parsed = PasswordHash::new(&reference).map_err(|e| e.to_string())?;
        Ok::<bool, String>(argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && reference != DUMMY_HASH)
    })
    .await
    .map_err(|e| UseCaseError::Internal(format!("password check panicked: {e}")))?
    .map_err(|e| UseCaseError::Internal(format!("a stored password hash is not valid: {e}")))
}

/// The argon2id hash of a password no one has, checked against for unknown names.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Hdr4RscoE0JWoHUfM4KkdLuoLmbM/7UaXt7vNZcwqYM";

fn actor_of(user: &crate::storage::UserRecord) -> Result<Actor, UseCaseError> {
    let role = Role::parse(&user.role).ok_or_else(|| UseCaseError::Internal(format!("user {} has unknown role", user.id)))?;
    Ok(Actor { user_id: user.id, name: user.name.clone(), role })
}

impl UseCases {
    /// An applicant creates their own account on the site and is signed in.
    pub async fn sign_up(&self, form: SignUp) -> Result<Result<SignedIn, Vec<AccountError>>, UseCaseError> {
        let name = form.name.trim().to_string();
        let phone: String = form.phone.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        let mut problems = Vec::new();
        if let Some(message) = crate::rules::schema::text_error("用户名", &name, 40) {
            problems.push(AccountError::Field { field: "name", message });
        }
        if !crate::domain::phone::is_mobile(&phone) {
            problems.push(AccountError::Field { field: "phone", message: "请填写11位手机号码，例如 13912345678".into() });
        }
        if let Some(message) = password_problem(&name, &form.password) {
            problems.push(AccountError::Field { field: "password", message });
        }
        if !problems.is_empty() {
            return Ok(Err(problems));
        }
        let hash = {
            let _hashing = self.hashing_permit().await?;
            hash_password(form.password).await?
        };
        let token = token_digest(&new_token());
        let new =
            NewUser { name: &name, role: Role::Applicant.as_str(), token_sha256: &token, password_hash: Some(&hash), phone: Some(&phone) };
        let user = match self.store().create_account(&new, &format!("applicant:{name}")).await {
            Ok(user) => user,
            Err(crate::storage::StoreError::Conflict(_)) => {
                return Ok(Err(vec![AccountError::Field { field: "name", message: "这个用户名已被使用，请换一个".into() }]));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Ok(self.start_session(actor_of(&user)?).await?))
    }

    /// Checks a name and password and starts a session; slowed down after repeated failures.
    pub async fn sign_in(&self, name: &str, password: &str) -> Result<Result<SignedIn, AccountError>, UseCaseError> {
        let name = name.trim();
        let now = self.clock().now_ms();
        if let Err(wait) = self.0.sign_ins.attempt(name, now) {
            return Ok(Err(AccountError::Throttled(wait)));
        }
        let user = self.store().user_by_name(name).await?;
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let _hashing = self.hashing_permit().await?;
        if !password_matches(password.to_string(), hash).await? {
            return Ok(Err(AccountError::BadCredentials));
        }
        self.0.sign_ins.succeeded(name);
        let user = user.ok_or_else(|| UseCaseError::Internal("a password matched no account".into()))?;
        Ok(Ok(self.start_session(actor_of(&user)?).await?))
    }

    /// One of the few password hashes that may run at once (each takes 19 MiB and a core for a
    /// moment): a flood of sign-ins waits its turn briefly, then is told to try again, and the
    /// blocking threads the decision work shares are not all taken by hashing.
    async fn hashing_permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, UseCaseError> {
        match tokio::time::timeout(std::time::Duration::from_secs(5), self.0.hashing.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(UseCaseError::Overloaded { message: "登录人数较多，请稍后再试".into(), retry_after_secs: 5 }),
        }
    }

    async fn start_session(&self, actor: Actor) -> Result<SignedIn, UseCaseError> {
        let token = new_token();
        let now = self.clock().now_ms();
        let limits = self.0.sessions;
        // Expired sessions of anyone are cleared as new ones start, so the table stays small.
        self.store().purge_sessions(now - limits.idle_ms, now - limits.absolute_ms).await?;
        self.store().create_session(&token_digest(&token), actor.user_id, now, &actor.audit_name()).await?;
        Ok(SignedIn { actor, session_token: token })
    }

    /// The account a session cookie belongs to, while the session lives; each use renews its idle time.
    pub async fn actor_for_session(&self, token: &str) -> Result<Option<Actor>, UseCaseError> {
        let digest = token_digest(token);
        let Some(session) = self.store().session(&digest).await? else { return Ok(None) };
        let now = self.clock().now_ms();
        let limits = self.0.sessions;
        if now - session.last_seen_ms > limits.idle_ms || now - session.created_ms > limits.absolute_ms {
            self.store().end_session(&digest).await?;
            return Ok(None);
        }
        // Renewed at most once a minute: a page's requests do not each write the database.
        if now - session.last_seen_ms > 60_000 {
            self.store().touch_session(&digest, now).await?;
        }
        Ok(Some(actor_of(&session.user)?))
    }

    pub async fn sign_out(&self, token: &str) -> Result<(), UseCaseError> {
        self.store().end_session(&token_digest(token)).await?;
        Ok(())
    }

    /// Changes the signed-in account's password; every other session of it ends.
    pub async fn change_password(
        &self,
        actor: &Actor,
        session_token: &str,
        current: &str,
        new: &str,
    ) -> Result<Result<(), AccountError>, UseCaseError> {
        let user = self.store().user_by_name(&actor.name).await?.ok_or_else(|| UseCaseError::NotFound("no such account".into()))?;
        let _hashing = self.hashing_permit().await?;
        if !password_matches(current.to_string(), user.password_hash.clone()).await? {
            return Ok(Err(AccountError::Field { field: "current", message: "当前密码不正确".into() }));
        }
        if let Some(message) = password_problem(&actor.name, new) {
            return Ok(Err(AccountError::Field { field: "password", message }));
        }
        let hash = hash_password(new.to_string()).await?;
        self.store().set_password(actor.user_id, &hash, Some(&token_digest(session_token)), &actor.audit_name()).await?;
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_free_ones_wait_longer_each_time() {
        let throttle = SignInThrottle::default();
        for _ in 0..FREE_FAILURES - 1 {
            throttle.attempt("王芳", 0).unwrap();
        }
        assert_eq!(throttle.wait_secs("王芳", 0), 0, "four failures cost nothing");
        throttle.attempt("王芳", 0).unwrap();
        assert_eq!(throttle.attempt("王芳", 0), Err(1), "tries at once are counted before any is checked");
        throttle.attempt("王芳", 1_000).unwrap();
        throttle.attempt("王芳", 3_000).unwrap();
        assert_eq!(throttle.wait_secs("王芳", 3_000), 4);
        assert_eq!(throttle.wait_secs("王芳", 6_500), 1);
        assert_eq!(throttle.wait_secs("王芳", 7_000), 0);
        assert_eq!(throttle.wait_secs("李明", 0), 0, "per name");
        let mut at = 7_000;
        for _ in 0..40 {
            at += MAX_WAIT_SECS * 1000;
            throttle.attempt("王芳", at).unwrap();
        }
        assert_eq!(throttle.wait_secs("王芳", at), MAX_WAIT_SECS);
        throttle.succeeded("王芳");
        assert_eq!(throttle.wait_secs("王芳", at), 0);
    }

    #[test]
    fn a_flood_of_other_names_does_not_clear_a_name_under_attack() {
        let throttle = SignInThrottle::default();
        for _ in 0..FREE_FAILURES {
            throttle.attempt("王芳", 0).unwrap();
        }
        for i in 0..MAX_TRACKED_NAMES + 10 {
            let _ = throttle.attempt(&format!("flood-{i}"), 0);
        }
        assert_eq!(throttle.wait_secs("王芳", 0), 1, "still waiting");
    }

    #[test]
    fn the_dummy_hash_is_a_valid_hash_no_password_matches() {
        let parsed = PasswordHash::new(DUMMY_HASH).expect("valid PHC string");
        assert!(argon2::Argon2::default().verify_password(b"", &parsed).is_err());
    }
}
