//! `/dashboard`: the centre's figures for anyone (no personal data), as tables and as charts drawn
//! on the server in SVG, readable without JavaScript; staff also get the links to the work orders
//! behind the counts.
//!
//! The charts are a few bars, so they are written by hand: a plotting crate would add a build and
//! fonts for what is a handful of rectangles; every number in them is also in the tables.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::page::{Nav, PageError};
use super::session::Visitor;
use crate::http::ratings::DashboardQuery;
use crate::http::AppState;
use crate::usecases::dashboard::{sees_detail, Figures, PUBLIC_MIN_COUNT};

pub fn router() -> Router<AppState> {
    Router::new().route("/dashboard", get(dashboard))
}

/// A figure as the tables show it.
pub struct Row {
    label: &'static str,
    value: String,
}

/// A bar of a chart, in the chart's own units.
pub struct Bar {
    label: String,
    value: String,
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    class: &'static str,
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "暂无".to_string(), |r| format!("{:.1}%", r * 100.0))
}

fn days(value: Option<f64>) -> String {
    value.map_or_else(|| "暂无".to_string(), |d| format!("{d:.1} 个工作日"))
}

/// What a withheld figure shows instead (the page's note says why).
fn withheld_text() -> String {
    "不公布".to_string()
}

/// The rates, each of the figures named in `usecases::dashboard`, with the group it belongs to.
fn rates(f: &Figures) -> [(&'static str, &'static str, Option<f64>); 7] {
    [
        ("即办率", "cases", f.auto_issue_rate),
        ("不见面率", "cases", f.contactless_rate),
        ("按时办结率", "cases", f.on_time_rate),
        ("时限压缩度", "cases", f.time_limit_compression),
        ("好评率", "ratings", f.good_rating_rate),
        ("差评整改率", "ratings", f.rectification_rate),
        ("差评回访率", "ratings", f.callback_rate),
    ]
}

fn rows(f: &Figures) -> Vec<Row> {
    let count = |n: u64| n.to_string();
    let mut rows: Vec<(&str, &'static str, String)> = vec![("cases", "办结件数", count(f.decided))];
    rows.extend(rates(f).into_iter().map(|(label, group, rate)| (group, label, percent(rate))));
    rows.extend([
        ("cases", "平均办理时间", days(f.average_working_days)),
        ("cases", "90%的案件办理时间不超过", days(f.p90_working_days)),
        ("cases", "法定时限（平均）", days(f.statutory_days)),
        ("cases", "承诺时限（平均）", days(f.promised_days)),
        ("ratings", "评价率", percent(f.rating_rate)),
        ("ratings", "评价数（申诉成立已剔除）", count(f.ratings)),
        ("ratings", "差评整改工单", count(f.bad_rating_work_orders)),
        ("live", "未办结工单 / 其中超期", format!("{} / {}", f.open_work_orders, f.overdue_work_orders)),
    ]);
    let shown =
        rows.into_iter().map(|(group, label, value)| Row { label, value: if f.is_withheld(group) { withheld_text() } else { value } });
    let mut all = vec![Row { label: "受理件数", value: count(f.received) }];
    if f.counted != f.received {
        all.push(Row { label: "其中计入各项指标（办结不足公布件数的事项月份不计）", value: count(f.counted) });
    }
    all.extend(shown);
    all
}

const CHART_WIDTH: f64 = 600.0;
const LABEL_WIDTH: f64 = 125.0;
const BAR_HEIGHT: f64 = 22.0;
const BAR_GAP: f64 = 10.0;

/// Horizontal bars, one per rate, as long as the rate is of the whole width.
fn rate_bars(f: &Figures) -> Vec<Bar> {
    rates(f)
        .into_iter()
        .enumerate()
        .map(|(i, (label, group, rate))| (i, label, if f.is_withheld(group) { (None, withheld_text()) } else { (rate, percent(rate)) }))
        .map(|(i, label, (rate, value))| Bar {
            label: label.to_string(),
            value,
            x: LABEL_WIDTH,
            y: i as f64 * (BAR_HEIGHT + BAR_GAP),
            width: rate.unwrap_or(0.0).clamp(0.0, 1.0) * (CHART_WIDTH - LABEL_WIDTH - 85.0),
            height: BAR_HEIGHT,
            class: "bar",
        })
        .collect()
}

const MONTH_CHART_HEIGHT: f64 = 160.0;

/// Per month, two bars side by side: received, and issued by the machine alone, scaled to the
/// busiest month.
fn month_bars(months: &[(String, Figures)]) -> Vec<Bar> {
    let most = months.iter().map(|(_, f)| f.received).max().unwrap_or(0).max(1) as f64;
    let slot = (CHART_WIDTH - 40.0) / months.len().max(1) as f64;
    let width = (slot / 2.0 - 6.0).clamp(4.0, 40.0);
    let mut bars = Vec::new();
    for (i, (month, f)) in months.iter().enumerate() {
        let auto = (!f.is_withheld("cases")).then_some(f.auto_issued);
        for (j, (value, class)) in [(Some(f.received), "bar"), (auto, "bar second")].into_iter().enumerate() {
            let height = value.unwrap_or(0) as f64 / most * MONTH_CHART_HEIGHT;
            bars.push(Bar {
                label: month.clone(),
                value: value.map_or_else(withheld_text, |v| v.to_string()),
                x: 20.0 + i as f64 * slot + j as f64 * (width + 4.0),
                y: MONTH_CHART_HEIGHT - height,
                width,
                height,
                class,
            });
        }
    }
    bars
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: Nav,
    services: Vec<(String, String, bool)>,
    from: String,
    to: String,
    overall: Vec<Row>,
    rate_bars: Vec<Bar>,
    rate_chart_height: f64,
    month_bars: Vec<Bar>,
    months: Vec<(String, u64, String)>,
    by_service: Vec<(String, Vec<Row>)>,
    detail: bool,
    min_count: u64,
    open_work_orders: u64,
    overdue_work_orders: u64,
    error: String,
}

async fn dashboard(State(state): State<AppState>, visitor: Visitor, Query(query): Query<DashboardQuery>) -> Result<Response, PageError> {
    let rules = state.usecases().rules().clone();
    let (scope, error) = match query.scope(&rules) {
        Ok(scope) => (scope, String::new()),
        Err(message) => (Default::default(), format!("筛选条件有误（{message}），下面是全部数据。")),
    };
    let asked_from = scope.from;
    let (scope, board) = state.usecases().dashboard(visitor.actor.as_ref(), &scope).await?;
    let error = match (asked_from, scope.to) {
        (Some(from), Some(to)) if error.is_empty() && from > to => format!("所选月份尚未公布：每月数据在次月结束后公布，目前公布至 {to}。"),
        _ => error,
    };
    let detail = sees_detail(visitor.actor.as_ref());
    // The public asks by whole months (a month input); staff by any dates.
    let shown =
        |d: Option<chrono::NaiveDate>| d.map(|d| if detail { d.to_string() } else { d.format("%Y-%m").to_string() }).unwrap_or_default();
    let name = |id: &str| rules.service(id).map_or_else(|| id.to_string(), |s| s.info().name.clone());
    let months: Vec<(String, Figures)> = board.by_month.clone().into_iter().collect();
    Ok(DashboardPage {
        nav: Nav::of(&visitor),
        services: rules.services.keys().map(|id| (id.clone(), name(id), scope.service.as_deref() == Some(id))).collect(),
        from: shown(scope.from),
        to: shown(scope.to),
        overall: rows(&board.overall),
        rate_bars: rate_bars(&board.overall),
        rate_chart_height: 7.0 * (BAR_HEIGHT + BAR_GAP),
        month_bars: month_bars(&months),
        months: months
            .iter()
            .map(|(m, f)| (m.clone(), f.received, if f.is_withheld("cases") { withheld_text() } else { f.auto_issued.to_string() }))
            .collect(),
        by_service: board.by_service.iter().map(|(id, f)| (name(id), rows(f))).collect(),
        detail,
        min_count: PUBLIC_MIN_COUNT,
        open_work_orders: board.overall.open_work_orders,
        overdue_work_orders: board.overall.overdue_work_orders,
        error,
    }
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_as_long_as_their_rates_and_as_tall_as_their_months() {
        let f = Figures { auto_issue_rate: Some(0.5), good_rating_rate: Some(1.0), ..Figures::default() };
        let bars = rate_bars(&f);
        let full = CHART_WIDTH - LABEL_WIDTH - 85.0;
        assert_eq!((bars[0].width, bars[4].width, bars[1].width), (full / 2.0, full, 0.0));
        assert_eq!(bars[1].value, "暂无", "a rate with nothing to count is said so, not drawn as 0%");
        let months = vec![
            ("2026-10".to_string(), Figures { received: 4, auto_issued: 2, ..Figures::default() }),
            ("2026-11".to_string(), Figures { received: 2, auto_issued: 2, ..Figures::default() }),
        ];
        let heights: Vec<f64> = month_bars(&months).iter().map(|b| b.height).collect();
        let h = MONTH_CHART_HEIGHT;
        assert_eq!(heights, vec![h, h / 2.0, h / 2.0, h / 2.0]);
    }
}
