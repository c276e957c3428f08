//! Signing up (applicants), signing in and out, and changing one's password.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::page::{Nav, PageError};
use super::session::{home_of, is_secure, local_path, set_cookie, Visitor, SESSION_COOKIE};
use super::{ErrorItem, Errors};
use crate::http::AppState;
use crate::usecases::accounts::{AccountError, SignUp, SignedIn};

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Nav,
    next: String,
    name: String,
    errors: Errors,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_page(visitor: Visitor, Query(query): Query<NextQuery>) -> Response {
    if let Some(actor) = &visitor.actor {
        return Redirect::to(&local_path(query.next.as_deref()).unwrap_or_else(|| home_of(actor.role).into())).into_response();
    }
    let next = local_path(query.next.as_deref()).unwrap_or_default();
    LoginPage { nav: Nav::of(&visitor), next, name: String::new(), errors: Errors::default() }.into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// The browser signed in: the session cookie, and 303 to where it was going or its role's page.
fn signed_in(state: &AppState, signed: &SignedIn, next: Option<String>) -> Response {
    let target = next.unwrap_or_else(|| home_of(signed.actor.role).to_string());
    let mut response = Redirect::to(&target).into_response();
    response.headers_mut().append(SET_COOKIE, set_cookie(SESSION_COOKIE, &signed.session_token, is_secure(state), None));
    response
}

pub async fn login(State(state): State<AppState>, visitor: Visitor, Form(form): Form<LoginForm>) -> Result<Response, PageError> {
    visitor.check_csrf(&form.csrf)?;
    let next = local_path(Some(&form.next));
    let error = match state.usecases().sign_in(&form.name, &form.password).await? {
        Ok(signed) => return Ok(signed_in(&state, &signed, next)),
        Err(error) => error,
    };
    let status = match error {
        AccountError::Throttled(_) => axum::http::StatusCode::TOO_MANY_REQUESTS,
        _ => axum::http::StatusCode::UNPROCESSABLE_ENTITY,
    };
    let errors = Errors(vec![ErrorItem { id: "name".into(), message: error.to_string() }]);
    let page = LoginPage { nav: Nav::of(&visitor), next: next.unwrap_or_default(), name: form.name.trim().to_string(), errors };
    Ok((status, page).into_response())
}

pub async fn logout(State(state): State<AppState>, visitor: Visitor, Form(form): Form<CsrfOnly>) -> Result<Response, PageError> {
    visitor.check_csrf(&form.csrf)?;
    if let Some(token) = &visitor.session {
        state.usecases().sign_out(token).await?;
    }
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(SET_COOKIE, set_cookie(SESSION_COOKIE, "", is_secure(&state), Some(0)));
    Ok(response)
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "signup.html")]
struct SignUpPage {
    nav: Nav,
    name: String,
    phone: String,
    errors: Errors,
}

pub async fn signup_page(visitor: Visitor) -> Response {
    if let Some(actor) = &visitor.actor {
        return Redirect::to(home_of(actor.role)).into_response();
    }
    SignUpPage { nav: Nav::of(&visitor), name: String::new(), phone: String::new(), errors: Errors::default() }.into_response()
}

#[derive(Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    password: String,
}

fn field_errors(errors: Vec<AccountError>) -> Errors {
    Errors(
        errors
            .into_iter()
            .map(|e| match e {
                AccountError::Field { field, message } => ErrorItem { id: field.into(), message },
                other => ErrorItem { id: "name".into(), message: other.to_string() },
            })
            .collect(),
    )
}

pub async fn signup(State(state): State<AppState>, visitor: Visitor, Form(form): Form<SignUpForm>) -> Result<Response, PageError> {
    visitor.check_csrf(&form.csrf)?;
    let request = SignUp { name: form.name.clone(), phone: form.phone.clone(), password: form.password };
    match state.usecases().sign_up(request).await? {
        Ok(signed) => Ok(signed_in(&state, &signed, None)),
        Err(errors) => {
            let page = SignUpPage {
                nav: Nav::of(&visitor),
                name: form.name.trim().into(),
                phone: form.phone.trim().into(),
                errors: field_errors(errors),
            };
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    name: String,
    changed: bool,
    errors: Errors,
}

#[derive(Debug, Deserialize)]
pub struct ChangedQuery {
    changed: Option<String>,
}

pub async fn account_page(visitor: Visitor, Query(query): Query<ChangedQuery>) -> Result<Response, PageError> {
    let actor = visitor.require("/account")?;
    Ok(AccountPage { nav: Nav::of(&visitor), name: actor.name.clone(), changed: query.changed.is_some(), errors: Errors::default() }
        .into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
}

/// Changes the password; the browser stays signed in and every other session of the account ends.
pub async fn change_password(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let actor = visitor.require("/account")?.clone();
    visitor.check_csrf(&form.csrf)?;
    let session = visitor.session.clone().unwrap_or_default();
    match state.usecases().change_password(&actor, &session, &form.current, &form.password).await? {
        Ok(()) => Ok(Redirect::to("/account?changed=1").into_response()),
        Err(error) => {
            let page = AccountPage { nav: Nav::of(&visitor), name: actor.name, changed: false, errors: field_errors(vec![error]) };
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}
