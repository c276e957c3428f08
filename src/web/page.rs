//! What every page shares: the header's account navigation, the error pages, and how a use case's
//! refusal becomes one (404 for what the visitor may not see, as the API answers).

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::session::Visitor;
use crate::domain::user::Role;
use crate::usecases::UseCaseError;

/// The header: who is signed in, the links their role has, and the sign-out form's token.
#[derive(Debug, Clone)]
pub struct Nav {
    pub user: Option<String>,
    pub role_name: &'static str,
    pub links: Vec<(&'static str, &'static str)>,
    pub csrf: String,
}

impl Nav {
    pub fn of(visitor: &Visitor) -> Self {
        let (role_name, links): (&'static str, Vec<(&'static str, &'static str)>) = match visitor.role() {
            None => ("", vec![("/", "办事服务"), ("/dashboard", "办件数据")]),
            Some(Role::Applicant) => ("申请人", vec![("/", "办事服务"), ("/my", "我的申请"), ("/dashboard", "办件数据")]),
            Some(Role::Reviewer) => ("审核人员", vec![("/review", "待审核"), ("/work-orders", "差评整改"), ("/dashboard", "办件数据")]),
            Some(Role::Auditor) => ("审计人员", vec![("/audit", "审计日志"), ("/work-orders", "差评整改"), ("/dashboard", "办件数据")]),
            Some(Role::Admin) => {
                ("管理员", vec![("/review", "待审核"), ("/work-orders", "差评整改"), ("/audit", "审计日志"), ("/dashboard", "办件数据")])
            }
        };
        Self { user: visitor.actor.as_ref().map(|a| a.name.clone()), role_name, links, csrf: visitor.csrf.clone() }
    }
}

/// A page that could not be shown, as the visitor is told.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    /// Not signed in: to the sign-in page, coming back here after.
    #[error("sign in first")]
    SignIn(String),
    /// A form without this browser's CSRF token.
    #[error("the form's token is missing or stale")]
    Csrf,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooMany(String),
    #[error("internal error")]
    Internal(String),
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Nav,
    title: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::SignIn(back) => {
                let target = format!("/login?next={}", crate::web::form::url_encode(&back));
                return Redirect::to(&target).into_response();
            }
            PageError::NotFound => {
                (StatusCode::NOT_FOUND, "找不到这个页面", "您要找的页面不存在，或您无权查看。请检查网址，或返回首页。".to_string())
            }
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, "无权进行此操作", m),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "页面已过期",
                "为保护您的账户，这个表单已失效（可能是页面打开太久或已退出登录）。请返回上一页，刷新后重新提交。".to_string(),
            ),
            PageError::Conflict(m) => (StatusCode::CONFLICT, "无法完成此操作", m),
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, "请求有误", m),
            PageError::TooMany(m) => (StatusCode::TOO_MANY_REQUESTS, "请稍后再试", m),
            PageError::Internal(detail) => {
                tracing::error!(error = %detail, "page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "系统出现问题", "系统暂时出现问题，您提交的内容没有丢失。请稍后再试。".to_string())
            }
        };
        let nav = Nav { user: None, role_name: "", links: vec![("/", "办事服务")], csrf: String::new() };
        (status, ErrorPage { nav, title, message }).into_response()
    }
}

impl From<UseCaseError> for PageError {
    fn from(error: UseCaseError) -> Self {
        match error {
            UseCaseError::NotFound(_) => PageError::NotFound,
            UseCaseError::NotAllowed(_) => PageError::Forbidden("您的账户角色不能进行此操作。".into()),
            UseCaseError::Forbidden(m) => PageError::Forbidden(m),
            UseCaseError::Conflict(m) => PageError::Conflict(m),
            UseCaseError::Invalid(m) => PageError::BadRequest(m),
            UseCaseError::TooLarge(m) => PageError::BadRequest(m),
            UseCaseError::Overloaded { message, .. } => PageError::TooMany(message),
            other => match crate::http::ApiError::from(other) {
                crate::http::ApiError::NotFound(_) | crate::http::ApiError::UnknownService(_) => PageError::NotFound,
                crate::http::ApiError::Conflict(m) => PageError::Conflict(m),
                crate::http::ApiError::Quota(m) | crate::http::ApiError::Overloaded { message: m, .. } => PageError::TooMany(m),
                crate::http::ApiError::PayloadTooLarge(m) => PageError::BadRequest(m),
                crate::http::ApiError::Internal(detail) => PageError::Internal(detail),
                e => PageError::Internal(format!("{e:?}")),
            },
        }
    }
}

impl From<crate::storage::StoreError> for PageError {
    fn from(error: crate::storage::StoreError) -> Self {
        UseCaseError::Store(error).into()
    }
}
