//! Who is at the browser: the session cookie (`ow_session`, a token whose SHA-256 the store keeps)
//! read into an `Actor`, and the CSRF token every form that changes something carries. The token
//! is an HMAC, under a key derived from the data directory's key, of the session token when signed
//! in, else of a random visitor cookie (`ow_visitor`, set by [`ensure_visitor`] on the first
//! page), so a sign-in or sign-up form is protected too and a token is good for one browser only.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::page::PageError;
use crate::domain::user::{Actor, Role};
use crate::http::AppState;

pub const SESSION_COOKIE: &str = "ow_session";
pub const VISITOR_COOKIE: &str = "ow_visitor";
/// The hidden field every changing form carries.
pub const CSRF_FIELD: &str = "csrf";

/// The value of the cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(parts: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    parts
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A cookie for the whole site, not readable by scripts, sent on top-level navigation from other
/// sites but not on their forms' POSTs (SameSite=Lax), and only over HTTPS when the site is HTTPS.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> HeaderValue {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        text.push_str("; Secure");
    }
    if let Some(secs) = max_age {
        text.push_str(&format!("; Max-Age={secs}"));
    }
    HeaderValue::from_str(&text).expect("cookie names and values are ASCII")
}

pub fn is_secure(state: &AppState) -> bool {
    state.public_url().starts_with("https://")
}

/// Gives a browser that has none a visitor cookie (before the handler runs, so its forms' CSRF
/// tokens are bound to it already).
pub async fn ensure_visitor(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let secure = is_secure(&state);
    if cookie(request.headers(), VISITOR_COOKIE).is_some() {
        return next.run(request).await;
    }
    let visitor = crate::domain::user::new_token();
    let header = HeaderValue::from_str(&format!("{VISITOR_COOKIE}={visitor}")).expect("ASCII");
    request.headers_mut().append(COOKIE, header);
    let mut response = next.run(request).await;
    response.headers_mut().append(SET_COOKIE, set_cookie(VISITOR_COOKIE, &visitor, secure, None));
    response
}

/// The browser's visitor: signed in or not, and the CSRF token of its forms.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub actor: Option<Actor>,
    /// The session token, when signed in (for sign-out and a password change).
    pub session: Option<String>,
    pub csrf: String,
}

fn csrf_for(state: &AppState, binding: &str) -> String {
    let key = state.verification().derive("csrf");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes a key of any length");
    mac.update(binding.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

impl Visitor {
    /// Refuses a changing request whose form did not carry this browser's token (403).
    pub fn check_csrf(&self, submitted: &str) -> Result<(), PageError> {
        if crate::domain::constant_time_eq(self.csrf.as_bytes(), submitted.trim().as_bytes()) {
            Ok(())
        } else {
            Err(PageError::Csrf)
        }
    }

    /// The signed-in account, or a redirect to sign in that comes back to `back`.
    pub fn require(&self, back: &str) -> Result<&Actor, PageError> {
        self.actor.as_ref().ok_or_else(|| PageError::SignIn(back.to_string()))
    }

    pub fn role(&self) -> Option<Role> {
        self.actor.as_ref().map(|a| a.role)
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string);
        let actor = match &session {
            Some(token) => state.usecases().actor_for_session(token).await?,
            None => None,
        };
        let session = session.filter(|_| actor.is_some());
        let binding = match (&session, cookie(&parts.headers, VISITOR_COOKIE)) {
            (Some(token), _) => format!("session:{token}"),
            (None, Some(visitor)) => format!("visitor:{visitor}"),
            // No cookie at all (a request that skipped the middleware): a token nothing matches.
            (None, None) => format!("none:{}", crate::domain::user::new_token()),
        };
        Ok(Visitor { csrf: csrf_for(state, &binding), actor, session })
    }
}

/// Where a path given as `next` may send the browser after signing in: a path of this site only
/// (never `//elsewhere` or `https://elsewhere`).
pub fn local_path(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    (next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && !next.chars().any(char::is_control))
        .then(|| next.to_string())
}

/// Each role's first page after signing in.
pub fn home_of(role: Role) -> &'static str {
    match role {
        Role::Applicant => "/my",
        Role::Reviewer | Role::Admin => "/review",
        Role::Auditor => "/audit",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path(Some("/applications/x")).as_deref(), Some("/applications/x"));
        for bad in ["//evil.example", "https://evil.example", "/\\evil.example", "evil", ""] {
            assert_eq!(local_path(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn cookies_are_read_by_name_from_every_header() {
        let mut headers = axum::http::HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; ow_session=abc"));
        headers.append(COOKIE, HeaderValue::from_static("ow_visitor=v"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, VISITOR_COOKIE), Some("v"));
        assert_eq!(cookie(&headers, "b"), None);
        let set = set_cookie(SESSION_COOKIE, "t", true, Some(0));
        assert_eq!(set.to_str().unwrap(), "ow_session=t; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0");
    }
}
