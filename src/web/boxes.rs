//! The boxes a reviewer sees drawn on a photographed document: for each field the decision read
//! from the image, the OCR boxes of the line it came from, numbered as the case page's table
//! numbers them.
//!
//! The decision keeps each field's line as text, not where it stood, so that a decision's bytes do
//! not depend on drawing; the boxes are found again by reading the image with the same models
//! (the OCR is deterministic) and matching those lines' text. A line not found again (the models
//! changed since the decision) is not drawn; its number stays in the table. Readings are kept for
//! the last few images, so a case reopened is not read again.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::page::PageError;
use super::session::Visitor;
use crate::domain::decision::{Decision, FieldSource};
use crate::http::AppState;
use crate::reading::image::PlacedRow;
use crate::reading::Format;

/// The fields read from one document that name their line, in the decision's order, numbered
/// from 1: the numbers the table and the drawing share.
pub(super) fn marked_fields<'a>(decision: &'a Decision, file_name: &str) -> Vec<(usize, &'a str, &'a str)> {
    decision
        .fields
        .iter()
        // Read from the document itself: a value derived from it (the category from a business
        // scope) names its basis, not a line of the page.
        .filter(|(_, f)| f.source == FieldSource::Document && f.document.as_deref() == Some(file_name) && f.page.is_none_or(|p| p == 1))
        .filter_map(|(key, f)| f.line.as_deref().filter(|l| !l.trim().is_empty()).map(|line| (key.as_str(), line)))
        .enumerate()
        .map(|(i, (key, line))| (i + 1, key, line))
        .collect()
}

/// An image's rows as read, with its size.
pub struct Placed {
    width: usize,
    height: usize,
    rows: Vec<PlacedRow>,
}

/// The readings of the last few images, by their SHA-256.
/// One image is read for its boxes at a time in a process, beside the decision workers' OCR;
/// another asked meanwhile is told to try again (429), as corrections and replays are.
pub struct PlacedCache {
    kept: Mutex<VecDeque<(String, Arc<Placed>)>>,
    reading: tokio::sync::Semaphore,
}

impl Default for PlacedCache {
    fn default() -> Self {
        Self { kept: Mutex::default(), reading: tokio::sync::Semaphore::new(1) }
    }
}

const CACHED_IMAGES: usize = 16;

impl PlacedCache {
    fn get(&self, sha256: &str) -> Option<Arc<Placed>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|(k, _)| k == sha256).map(|(_, p)| p.clone())
    }

    fn put(&self, sha256: &str, placed: Arc<Placed>) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|(k, _)| k != sha256);
        if kept.len() >= CACHED_IMAGES {
            kept.pop_front();
        }
        kept.push_back((sha256.to_string(), placed));
    }
}

/// Which row each numbered line is: the first row of that text not taken by an earlier number,
/// compared without spaces (the decision's line is the row's text; a reviewer's correction keeps it).
fn match_rows(rows: &[PlacedRow], marks: &[(usize, &str, &str)]) -> Vec<(usize, usize)> {
    let bare = |t: &str| t.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let mut taken = vec![false; rows.len()];
    let mut found = Vec::new();
    for &(n, _, line) in marks {
        let line = bare(line);
        // A line two fields came from (label row, value row) is drawn once per number.
        let at = rows
            .iter()
            .enumerate()
            .position(|(i, r)| !taken[i] && bare(&r.text) == line)
            .or_else(|| rows.iter().position(|r| bare(&r.text) == line));
        if let Some(i) = at {
            taken[i] = true;
            found.push((n, i));
        }
    }
    found
}

/// The drawing, in the image's own pixels so that it scales with the image it lies over. Only
/// numbers and coordinates are written: no text from the document or the applicant.
fn svg(placed: &Placed, found: &[(usize, usize)]) -> String {
    let (w, h) = (placed.width.max(1), placed.height.max(1));
    let stroke = (w.max(h) / 400).max(2);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" preserveAspectRatio=\"none\">"
    );
    let mut tags_on: std::collections::BTreeMap<usize, usize> = Default::default();
    for &(n, at) in found {
        let Some(row) = placed.rows.get(at) else { continue };
        // Two fields from one row: the second number stands beside the first.
        let count = tags_on.entry(at).or_insert(0);
        let before = *count;
        *count += 1;
        out.push_str("<g>");
        for quad in &row.quads {
            let points: Vec<String> = quad.iter().map(|[x, y]| format!("{x:.1},{y:.1}")).collect();
            let _ = write!(
                out,
                "<polygon points=\"{}\" fill=\"rgba(255,221,0,0.18)\" stroke=\"#d4351c\" stroke-width=\"{stroke}\"/>",
                points.join(" ")
            );
        }
        if let Some(first) = row.quads.first() {
            // The number as tall as its line, standing to the left of the box (inside it when the
            // line starts at the image's edge), so that it covers no text.
            let (left, top) = (first.iter().map(|p| p[0]).fold(f32::MAX, f32::min), first.iter().map(|p| p[1]).fold(f32::MAX, f32::min));
            let bottom = first.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
            // At least a fortieth of the image's height: a 4000-pixel photo shown 600 wide keeps
            // its numbers readable.
            let tag_h = (bottom - top).max(h as f32 / 40.0).max(12.0);
            let font = tag_h * 0.8;
            let tag_w = font * (0.4 + 0.6 * n.to_string().len() as f32);
            let x = if left - (tag_w + 4.0) * (before + 1) as f32 >= 0.0 {
                left - (tag_w + 4.0) * (before + 1) as f32
            } else {
                left.max(0.0) + (tag_w + 2.0) * before as f32
            };
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{tag_w:.1}\" height=\"{tag_h:.1}\" fill=\"#d4351c\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{font:.1}\" font-family=\"sans-serif\" font-weight=\"bold\" fill=\"#ffffff\">{n}</text>",
                x + font * 0.2,
                top + tag_h * 0.82,
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// `GET /review/{id}/documents/{doc}/boxes.svg`: staff only, an image document only, and only
/// when the service runs its OCR.
pub(super) async fn boxes(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, document)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let actor = super::reviewer::staff(&visitor, &format!("/review/{id}"))?.clone();
    let case = super::reviewer::case_id(&id)?;
    let usecases = state.usecases();
    let view = usecases.view(&actor, &case).await?;
    let Some(record) = view.documents.iter().find(|d| d.id == document && d.format != "pdf" && d.withdrawn_at.is_none()) else {
        return Err(PageError::NotFound);
    };
    let decision = super::reviewer::standing(&view).ok_or(PageError::NotFound)?;
    let marks = marked_fields(&decision, &record.file_name);
    if marks.is_empty() {
        return Err(PageError::NotFound);
    }
    let ocr = state.replay_kit().inference.ocr.clone().ok_or(PageError::NotFound)?;
    let placed = match state.placed_cache().get(&record.sha256) {
        Some(placed) => placed,
        None => {
            let Ok(_reading) = state.placed_cache().reading.try_acquire() else {
                return Err(PageError::TooMany("正在为另一份材料定位文字，请稍后刷新页面。".into()));
            };
            let (record, bytes) = usecases.document_file(&actor, &case, document).await?;
            let limits = state.replay_kit().limits.read_limits().image;
            let format = Format::sniff(&bytes);
            let read = tokio::task::spawn_blocking(move || {
                let image = crate::reading::image::decode(&bytes, format, limits)?;
                let rows = crate::reading::image::placed_rows(ocr.as_ref(), &image)?;
                Ok::<_, String>(Placed { width: image.width, height: image.height, rows })
            })
            .await
            .map_err(|e| PageError::Internal(format!("reading an image for its boxes: {e}")))?;
            match read {
                Ok(placed) => {
                    let placed = Arc::new(placed);
                    state.placed_cache().put(&record.sha256, placed.clone());
                    placed
                }
                // Nothing to draw this time (an image the reader could not read was reported with
                // the decision; a page over its time budget on a busy machine may read next time):
                // not kept, so a passing failure does not stay.
                Err(reason) => {
                    tracing::info!(application.id = %case, document, %reason, "no boxes drawn");
                    Arc::new(Placed { width: 1, height: 1, rows: Vec::new() })
                }
            }
        }
    };
    let drawing = svg(&placed, &match_rows(&placed.rows, &marks));
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "private, no-store"),
            (header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'"),
        ],
        drawing,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str, x: f32) -> PlacedRow {
        PlacedRow { text: text.into(), quads: vec![[[x, 10.0], [x + 50.0, 10.0], [x + 50.0, 30.0], [x, 30.0]]] }
    }

    #[test]
    fn each_numbered_line_is_drawn_on_its_own_row_and_a_line_not_read_again_is_not_drawn() {
        let rows = vec![row("名称 某某公司", 0.0), row("住所 某路1号", 100.0), row("名称 某某公司", 200.0)];
        let marks = [(1, "licence.name", "名称  某某公司"), (2, "licence.address", "住所 某路2号"), (3, "licence.other", "名称 某某公司")];
        let found = match_rows(&rows, &marks);
        assert_eq!(found, vec![(1, 0), (3, 2)], "the same text twice is two rows; a changed line is not guessed");
        let drawing = svg(&Placed { width: 300, height: 40, rows: rows.clone() }, &found);
        assert_eq!(drawing.matches("<polygon").count(), 2);
        assert!(drawing.contains(">1</text>") && drawing.contains(">3</text>") && !drawing.contains(">2</text>"));
        assert!(!drawing.contains("某某"), "no document text is written into the drawing");
        // Two fields from one row: both numbers, side by side, the row boxed for each.
        let both = svg(&Placed { width: 300, height: 40, rows: rows.clone() }, &[(1, 1), (2, 1)]);
        let xs: Vec<&str> = both.split("<rect x=\"").skip(1).map(|r| r.split('"').next().unwrap()).collect();
        assert_eq!(xs.len(), 2);
        assert_ne!(xs[0], xs[1], "the second number stands beside the first");
    }

    #[test]
    fn only_fields_read_from_the_document_itself_are_numbered() {
        use crate::domain::decision::FieldReport;
        let field = |source, line: &str| FieldReport {
            value: serde_json::json!("x"),
            source,
            confidence: 0.9,
            document: Some("照片.jpg".into()),
            page: Some(1),
            line: Some(line.into()),
            corrected_from: None,
            note: None,
        };
        let mut decision: Decision = serde_json::from_value(serde_json::json!({
            "service": "s", "outcome": "needs_review", "spot_check": false, "findings": [], "missing_materials": [],
            "documents": [], "fields": {}, "items": [], "ruleset": "sha256:x", "models": {}, "submitted_on": "2026-10-20"
        }))
        .unwrap();
        decision.fields.insert("licence.name".into(), field(FieldSource::Document, "名称 某某公司"));
        decision.fields.insert("form.category".into(), field(FieldSource::Derived, "依据：经营范围"));
        decision.fields.insert("licence.scope".into(), field(FieldSource::Document, "  "));
        let marks = marked_fields(&decision, "照片.jpg");
        assert_eq!(marks, vec![(1, "licence.name", "名称 某某公司")]);
        assert!(marked_fields(&decision, "另一份.jpg").is_empty());
    }
}
