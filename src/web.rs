//! The pages: server-rendered HTML, Chinese first, for applicants (sign up, apply, upload, check
//! and submit, follow), reviewers (the queue, a case beside its documents, correct and decide) and
//! auditors (the log, verification, replay, export). Templates are askama's, checked at compile
//! time with HTML escaping on; handlers parse the form, call the same use cases as the JSON API and
//! render what they return — no business rule is decided here. Pages work without JavaScript;
//! `assets/web/app.js` only adds live status and focus on the error summary.

pub mod account;
pub mod applicant;
pub mod auditor;
pub mod boxes;
mod case_view;
pub mod dashboard;
pub mod form;
pub mod page;
pub mod ratings;
pub mod reviewer;
pub mod session;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use crate::http::AppState;

/// One problem with what was typed, for the error summary and the field it links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorItem {
    /// The `id` of the input the summary's link goes to.
    pub id: String,
    pub message: String,
}

/// A page's problems, in the order of its fields.
#[derive(Debug, Clone, Default)]
pub struct Errors(pub Vec<ErrorItem>);

impl Errors {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn items(&self) -> &[ErrorItem] {
        &self.0
    }

    /// The message of the field with this id, if it has one.
    pub fn get(&self, id: &str) -> Option<&str> {
        self.0.iter().find(|e| e.id == id).map(|e| e.message.as_str())
    }
}

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/login", get(account::login_page).post(account::login))
        .route("/logout", post(account::logout))
        .route("/signup", get(account::signup_page).post(account::signup))
        .route("/account", get(account::account_page))
        .route("/account/password", post(account::change_password))
        .merge(applicant::router())
        .merge(reviewer::router())
        .merge(auditor::router())
        .merge(ratings::router())
        .merge(dashboard::router())
        .layer(axum::middleware::from_fn_with_state(state, session::ensure_visitor))
        .layer(axum::middleware::from_fn(page_headers))
        .route("/assets/site.css", get(|| asset("text/css; charset=utf-8", include_str!("../assets/web/site.css"))))
        .route("/assets/app.js", get(|| asset("text/javascript; charset=utf-8", include_str!("../assets/web/app.js"))))
}

/// A path no route has: a browser asking for a page gets the page that says so, with the site's
/// headers; a script (or anything under `/api/`) gets the API's error body, as before.
pub async fn not_found(request: axum::extract::Request) -> axum::response::Response {
    let wants_page = !request.uri().path().starts_with("/api/")
        && request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if !wants_page {
        return axum::response::IntoResponse::into_response(crate::http::ApiError::NotFound("no such endpoint".into()));
    }
    let mut response = axum::response::IntoResponse::into_response(page::PageError::NotFound);
    with_page_headers(response.headers_mut());
    response
}

/// Every page carries personal data or a form: never cached (Back after signing out on a shared
/// computer in the service hall shows nothing), never framed by another site, scripts and styles
/// from this site only (the pages have no inline script), no referrer sent elsewhere. A header a
/// handler set itself (a document's own policy) is kept.
async fn page_headers(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let mut response = next.run(request).await;
    with_page_headers(response.headers_mut());
    response
}

fn with_page_headers(headers: &mut header::HeaderMap) {
    let html = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/html"));
    if !html {
        // A document, a certificate, an export: its handler's own headers stand.
        headers.entry(header::CACHE_CONTROL).or_insert(header::HeaderValue::from_static("no-store"));
        return;
    }
    let defaults = [
        (header::CACHE_CONTROL, "no-store"),
        (header::CONTENT_SECURITY_POLICY, "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'self'; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, header::HeaderValue::from_static(value));
        }
    }
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body)
}
