//! `/metrics`: Prometheus text that a scraper accepts, whose counters move with the work done.
//!
//! Every in-process app of this test binary shares the one recorder, and other tests run beside
//! this one, so the checks are on how much a figure grew at least, never on its exact value.

use std::collections::BTreeMap;

use crate::helpers::*;

/// One sample: the metric's name and its labels, sorted.
type Series = (String, BTreeMap<String, String>);

/// Parses the text exposition format strictly: every line a `# HELP`, a `# TYPE` or a sample; every
/// sample of a family whose `# TYPE` came first; names and label names of the allowed characters;
/// label values quoted with their escapes; values numbers. Panics, naming the line, otherwise.
fn parse(text: &str) -> (BTreeMap<Series, f64>, BTreeMap<String, String>) {
    let name_ok = |n: &str| {
        !n.is_empty()
            && !n.starts_with(|c: char| c.is_ascii_digit())
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut samples = BTreeMap::new();
    let mut types = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE line: {line}"));
            assert!(name_ok(name), "bad metric name: {line}");
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "bad type: {line}");
            assert!(types.insert(name.to_string(), kind.to_string()).is_none(), "a family typed twice: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(name_ok(rest.split(' ').next().unwrap_or_default()), "bad HELP line: {line}");
            continue;
        }
        assert!(!line.starts_with('#'), "an unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample without a value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other.parse().unwrap_or_else(|_| panic!("not a number: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, labels(rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}")), line)),
            None => (series, BTreeMap::new()),
        };
        assert!(name_ok(name), "bad metric name: {line}");
        let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).filter(|f| types.contains_key(*f));
        assert!(types.contains_key(name) || family.is_some(), "a sample before its TYPE: {line}");
        assert!(samples.insert((name.to_string(), labels), value).is_none(), "a series given twice: {line}");
    }
    (samples, types)
}

fn labels(text: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad label: {line}"));
        assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad label name: {line}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    _ => panic!("a bad escape: {line}"),
                },
                Some((at, '"')) => break at,
                Some((_, c)) => value.push(c),
                None => panic!("an unclosed label value: {line}"),
            }
        };
        labels.insert(name.to_string(), value);
        rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
    }
    labels
}

async fn scrape(app: &TestApp) -> BTreeMap<Series, f64> {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200, "/metrics needs no account");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let (samples, types) = parse(&response.text().await.unwrap());
    for (name, kind) in [
        ("onewindow_decisions_total", "counter"),
        ("onewindow_http_requests_total", "counter"),
        ("onewindow_stage_duration_seconds", "histogram"),
        ("onewindow_jobs", "gauge"),
        ("onewindow_job_queue_oldest_seconds", "gauge"),
    ] {
        if types.contains_key(name) {
            assert_eq!(types[name], kind, "{name}");
        }
    }
    samples
}

fn value(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    samples.get(&(name.to_string(), labels)).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_with_the_work_done() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    let id = app.submit_fixture("clean-catering-stsong", "k").await;
    let application = app.wait_for_decisions(&id, 1).await;
    assert_eq!(application["state"], "issued");
    // An unknown application, by an id that must not become a series of its own.
    let missing = "00000000-0000-4000-8000-000000000000";
    assert_eq!(app.get(&format!("/api/v1/applications/{missing}")).await.status(), 404);
    let odd = reqwest::Method::from_bytes(b"RANDOM123").unwrap();
    assert_eq!(app.client.request(odd, app.url("/health")).send().await.unwrap().status(), 405);
    let after = scrape(&app).await;

    let grew = |name: &str, labels: &[(&str, &str)]| value(&after, name, labels) - value(&before, name, labels);
    let issued = [("service", "drainage-permit"), ("outcome", "issued"), ("by", "machine")];
    assert!(grew("onewindow_decisions_total", &issued) >= 1.0, "the machine's issued decision is counted");
    let created = [("method", "POST"), ("route", "/api/v1/applications"), ("status", "201")];
    assert!(grew("onewindow_http_requests_total", &created) >= 1.0, "the create request is counted by its route");
    let not_found = [("method", "GET"), ("route", "/api/v1/applications/{id}"), ("status", "404")];
    assert!(grew("onewindow_http_requests_total", &not_found) >= 1.0, "counted under the route's pattern");
    assert!(after.keys().all(|(_, labels)| labels.values().all(|v| !v.contains(missing))), "no raw path becomes a series");
    assert!(after.keys().all(|(_, labels)| labels.values().all(|v| v != "RANDOM123")), "no made-up method becomes a series");
    assert!(grew("onewindow_http_requests_total", &[("method", "other"), ("route", "/health"), ("status", "405")]) >= 1.0);
    let files = Fixture::load("clean-catering-stsong").files.len() as f64;
    for stage in ["read", "understand"] {
        assert!(grew("onewindow_stage_duration_seconds_count", &[("stage", stage)]) >= files, "{stage}: one per document");
    }
    for stage in ["rules", "decide"] {
        assert!(grew("onewindow_stage_duration_seconds_count", &[("stage", stage)]) >= 1.0, "{stage}");
    }
    // A histogram's +Inf bucket holds every observation.
    let inf = value(&after, "onewindow_stage_duration_seconds_bucket", &[("stage", "read"), ("le", "+Inf")]);
    assert_eq!(inf, value(&after, "onewindow_stage_duration_seconds_count", &[("stage", "read")]));
    assert!(grew("onewindow_decision_duration_seconds_count", &[("service", "drainage-permit")]) >= 1.0);
    // The queue is read from the database at the scrape: nothing waits in this app's.
    assert_eq!(value(&after, "onewindow_jobs", &[("state", "queued")]), 0.0);
    assert!(after.contains_key(&("onewindow_job_queue_oldest_seconds".to_string(), BTreeMap::new())));
    app.stop().await;
}

#[test]
fn the_parser_refuses_what_a_scraper_would() {
    for bad in ["x 1\n", "# TYPE x counter\nx{a=\"1} 1\n", "# TYPE x counter\nx one\n", "# TYPE 1x counter\n"] {
        assert!(std::panic::catch_unwind(|| parse(bad)).is_err(), "{bad:?} was accepted");
    }
    let (samples, _) = parse("# TYPE x counter\nx{a=\"q\\\"\",b=\"2\"} 3\n");
    assert_eq!(value(&samples, "x", &[("a", "q\""), ("b", "2")]), 3.0);
}
