//! The OpenAPI document, generated from the handlers. Every route of `/api/v1`, the health checks
//! and the public verification page is added with `utoipa_axum`'s `routes!`, which takes the
//! handler's `#[utoipa::path(...)]` for the router and the document alike, so that a route and its
//! entry cannot part (`http::documented`); the tests below walk the router that is served and fail
//! on any route the document does not name. The document is built once, on its first request, and
//! served at `GET /api/v1/openapi.json`.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::AppState;

/// What the document says of itself; the paths and their schemas come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "onewindow 一窗 API",
        version = "1.0.0",
        description = "AI-assisted permit approval. The machine may issue; only a person refuses."
    ),
    servers((url = "/")),
    components(schemas(ErrorBody), responses(ErrorBody)),
    modifiers(&BearerToken),
    security(("bearer" = [])),
    tags(
        (name = "applications", description = "An applicant's applications: create, upload, submit, decisions"),
        (name = "review", description = "The reviewers' queue, claims, corrections and decisions"),
        (name = "permits", description = "Certificates, revocation and public verification"),
        (name = "ratings", description = "好差评: ratings, the work orders bad ones open, and the dashboard"),
        (name = "audit", description = "The audit log's checkpoints, key, entries and Merkle proofs"),
        (name = "health", description = "Liveness and readiness"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The `bearer` scheme every operation asks for unless it says otherwise.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some("a token from `onewindow users add`")).build();
        openapi.components.get_or_insert_with(Default::default).add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The route of the document itself, under `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The whole document, from the routers the service serves.
pub fn document() -> utoipa::openapi::OpenApi {
    super::documented().into_openapi()
}

/// The document as served, made on first use.
fn document_json() -> Result<&'static str, ApiError> {
    static DOCUMENT: OnceLock<Result<String, String>> = OnceLock::new();
    DOCUMENT
        .get_or_init(|| serde_json::to_string(&document()).map_err(|e| e.to_string()))
        .as_deref()
        .map_err(|e| ApiError::Internal(format!("serialising the OpenAPI document: {e}")))
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    security(),
    summary = "This document",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json"))
)]
async fn openapi_json() -> Result<impl IntoResponse, ApiError> {
    Ok(([(header::CONTENT_TYPE, "application/json")], document_json()?))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use axum::body::Body;
    use axum::extract::{MatchedPath, Request};
    use axum::http::{HeaderValue, Method, StatusCode};
    use axum::middleware::Next;
    use axum::response::Response;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::document;
    use crate::http::AppState;

    /// The methods probed; HEAD is left out, as axum answers it for every GET route.
    const METHODS: [Method; 7] = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS, Method::TRACE];

    /// A header the probe router sets to the route template a request matched.
    const MATCHED: &str = "x-test-matched-path";

    /// The paths a router has routes for. axum has no public listing, so this reads its `Debug`
    /// output, which names every route's path (axum 0.8: `Node { paths: {RouteId(n): "/path", …} }`);
    /// axum's own catch-all paths of the fallback are left out. Should a newer axum print less, the
    /// test fails (the documented paths are not found), it does not pass by finding nothing.
    fn paths_of<S>(router: &axum::Router<S>) -> BTreeSet<String> {
        let debug = format!("{router:?}");
        let mut paths = BTreeSet::new();
        let mut rest = debug.as_str();
        while let Some(at) = rest.find("\"/") {
            let tail = &rest[at + 1..];
            let end = tail.find('"').unwrap_or(tail.len());
            if !tail[..end].contains("__private__axum") {
                paths.insert(tail[..end].to_string());
            }
            rest = &tail[end..];
            rest = rest.strip_prefix('"').unwrap_or(rest);
        }
        paths
    }

    /// `path` with each `{parameter}` written as `1`: a request the route answers.
    fn concrete(path: &str) -> String {
        path.split('/').map(|segment| if segment.starts_with('{') { "1" } else { segment }).collect::<Vec<_>>().join("/")
    }

    async fn echo_matched_path(request: Request, next: Next) -> Response {
        let matched = request.extensions().get::<MatchedPath>().and_then(|m| HeaderValue::from_str(m.as_str()).ok());
        let mut response = next.run(request).await;
        if let Some(matched) = matched {
            response.headers_mut().insert(MATCHED, matched);
        }
        response
    }

    /// Whether `router` has a route for `method` at the template `path`: a request to it reaches
    /// that route (its template is the matched one) and is not answered 405 by axum.
    async fn served(router: &axum::Router, path: &str, method: &Method) -> bool {
        let request = Request::builder().method(method.clone()).uri(concrete(path)).body(Body::empty()).expect("a request");
        let response = router.clone().oneshot(request).await.expect("the router answers");
        response.status() != StatusCode::METHOD_NOT_ALLOWED && response.headers().get(MATCHED).and_then(|v| v.to_str().ok()) == Some(path)
    }

    /// The service as it starts: the repository's rules, an empty SQLite database, no models.
    async fn state(dir: &Path) -> AppState {
        let config = crate::config::ServeConfig {
            listen: "127.0.0.1:0".parse().expect("an address"),
            data_dir: dir.join("data"),
            database_url: None,
            blob_store: None,
            public_url: "https://onewindow.example.gov.cn".into(),
            audit_origin: None,
            workers: 0,
            job_lease_secs: None,
            rules: crate::config::RulesConfig { rules_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules") },
            limits: crate::config::LimitsConfig::default(),
            sessions: crate::config::SessionConfig::default(),
        };
        let options =
            crate::app::BuildOptions { reader_exe: Some(PathBuf::from("onewindow")), clock: None, inference: Some(Default::default()) };
        crate::app::Application::build(config, options).await.expect("the app builds").state()
    }

    /// `(path, METHOD)` of every operation the document names.
    fn documented(document: &Value) -> BTreeSet<(String, String)> {
        let paths = document["paths"].as_object().expect("the document has paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                METHODS
                    .iter()
                    .filter(|method| item.get(method.as_str().to_ascii_lowercase()).is_some())
                    .map(|method| (path.clone(), method.to_string()))
            })
            .collect()
    }

    /// Walks the router the service serves (`http::router`, pages and all) and requires that the
    /// routes outside the HTML pages (`web::router`) are exactly the document's operations.
    ///
    /// The paths come from the router itself (see [`paths_of`]), the methods from a request for
    /// each method to each path, through the real router with a layer that reports which route
    /// template the request matched: a method is served when its request reaches the route and is
    /// not 405. So a route added with a plain `.route(...)` (on an `OpenApiRouter`, on the
    /// top-level `Router` in `http.rs`, or on the pages' router under `/api/`), or a method added
    /// to a documented path without `routes!`, shows as served and undocumented, and fails here;
    /// so does a documented operation that nothing serves.
    #[tokio::test]
    async fn every_route_but_the_pages_is_documented_and_every_documented_route_is_served() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let state = state(dir.path()).await;
        let document = serde_json::to_value(document()).expect("the document serialises");
        let documented = documented(&document);
        let documented_paths: BTreeSet<String> = documented.iter().map(|(path, _)| path.clone()).collect();

        let all = paths_of(&crate::http::router(state.clone()));
        let pages = paths_of(&crate::web::router(state.clone()));
        let missing: Vec<_> = documented_paths.difference(&all).collect();
        assert!(missing.is_empty(), "documented paths the router has no route for (or axum's Debug output changed): {missing:?}");
        let pages_in_the_api: Vec<_> = pages.iter().filter(|p| p.starts_with("/api/")).collect();
        assert!(pages_in_the_api.is_empty(), "page routes under /api/, outside the document: {pages_in_the_api:?}");

        let probe = crate::http::router(state).route_layer(axum::middleware::from_fn(echo_matched_path));
        let mut routed = BTreeSet::new();
        for path in all.difference(&pages).chain(documented_paths.iter()).collect::<BTreeSet<_>>() {
            for method in &METHODS {
                if served(&probe, path, method).await {
                    routed.insert((path.clone(), method.to_string()));
                }
            }
        }
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "routes the OpenAPI document does not name (add them with routes! and #[utoipa::path]): {undocumented:?}"
        );
        let unserved: Vec<_> = documented.difference(&routed).collect();
        assert!(unserved.is_empty(), "documented operations no route serves: {unserved:?}");
        // The API is there at all: the walk found it.
        assert!(routed.contains(&("/api/v1/applications".to_string(), "POST".to_string())), "{routed:?}");
    }

    /// Every `$ref` in `value`, as written.
    fn refs(value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.insert(target.clone());
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    /// The document holds together: every reference names a component it has, every operation
    /// has a summary and answers, the API's paths carry the prefix, and the error body's
    /// `error_type` lists the types the middleware writes as well as the handlers'.
    #[test]
    fn the_document_is_whole() {
        let document = serde_json::to_value(document()).expect("the document serialises");
        assert_eq!(document["info"]["title"], "onewindow 一窗 API");
        let mut found = BTreeSet::new();
        refs(&document, &mut found);
        for target in &found {
            let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("{target} is not a local reference"));
            assert!(document.pointer(pointer).is_some(), "{target} names nothing in the document");
        }
        assert!(found.contains("#/components/responses/Error"), "{found:?}");
        for (path, item) in document["paths"].as_object().expect("paths") {
            assert!(
                path.starts_with("/api/v1/") || path.starts_with("/health") || path == "/metrics" || path.starts_with("/verify/"),
                "{path} is outside the API"
            );
            let operations = item.as_object().expect("a path item").iter();
            for (method, operation) in operations.filter(|(key, _)| METHODS.iter().any(|m| m.as_str().eq_ignore_ascii_case(key))) {
                let summary = operation["summary"].as_str().unwrap_or_default();
                assert!(!summary.is_empty(), "{method} {path} has no summary");
                assert!(operation["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
            }
        }
        let error_types = document["components"]["schemas"]["Error"]["properties"]["error_type"]["enum"].as_array().expect("an enum");
        for expected in ["invalid_form", "quota_exceeded", "gone", "overloaded", "method_not_allowed", "uri_too_long", "headers_too_large"]
        {
            assert!(error_types.iter().any(|t| t == expected), "{expected} is not in {error_types:?}");
        }
        assert_eq!(document["paths"]["/api/v1/health"], Value::Null);
        assert!(document["paths"]["/health/live"]["get"]["security"].as_array().is_some_and(Vec::is_empty), "health is public");
    }
}
