//! Results tables turned sideways: the test items across the header row, an optional units row,
//! one row per sampling point (or per sample) with a value under each item, and a limits row.
//!
//! A row's cells are matched to the header's items by their order: a row with as many values (an
//! empty cell written `—` or `/` counts) as the header has items is read; a row with numbers and
//! another count is named as unread, never guessed.

use super::{strip_non_results, worst, PollutantReader, Unread, LIMIT_HEADER, TABLE_END, UNREAD_VALUE};
use crate::reading::TextLine;
use crate::understanding::fields::CONF_RESULT_CLEAR;
use crate::understanding::normalize::{find_unit, measured_values, Unit};

/// The most rows below a header that one grid spans.
const MAX_GRID_ROWS: usize = 16;

/// A sideways table found in a document.
pub(super) struct Grid {
    /// Every line the grid took, header included.
    pub lines: Vec<usize>,
    /// (item, worst value in the standard's unit, confidence, line it was read from).
    pub results: Vec<(String, f64, f64, usize)>,
    pub unread: Vec<Unread>,
}

/// The unit of each item column written in the header (化学需氧量(mg/L)) or in a units row.
fn units_between(text: &str, starts: &[usize]) -> Vec<Option<Unit>> {
    (0..starts.len())
        .map(|c| {
            let end = starts.get(c + 1).copied().unwrap_or(text.len());
            find_unit(&text[starts[c]..end]).map(|(u, _)| u)
        })
        .collect()
}

impl PollutantReader {
    pub(super) fn sideways_grids(&self, lines: &[TextLine], normalized: &[String]) -> Vec<Grid> {
        let mut grids = Vec::new();
        let mut idx = 0;
        while idx < normalized.len() {
            match self.grid_at(lines, normalized, idx) {
                Some(grid) => {
                    idx = grid.lines.iter().max().copied().unwrap_or(idx) + 1;
                    grids.push(grid);
                }
                None => idx += 1,
            }
        }
        grids
    }

    /// The grid whose header is line `at`, if it is one: two or more items and no result beside them.
    fn grid_at(&self, lines: &[TextLine], normalized: &[String], at: usize) -> Option<Grid> {
        let header = &normalized[at];
        let mentions = self.mentions(header);
        if mentions.len() < 2 {
            return None;
        }
        let mut blanked = header.clone();
        for (_, start, end) in mentions.iter().rev() {
            blanked.replace_range(*start..*end, &" ".repeat(end - start));
        }
        if measured_values(&strip_non_results(&blanked)).iter().any(|t| !t.range) {
            return None;
        }
        let starts: Vec<usize> = mentions.iter().map(|m| m.1).collect();
        let mut units = units_between(header, &starts);
        let mut taken = vec![at];
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); mentions.len()];
        let mut confidence = lines[at].confidence;
        let mut unread = Vec::new();
        let mut matched_rows = 0;
        for row in at + 1..normalized.len().min(at + 1 + MAX_GRID_ROWS) {
            let text = &normalized[row];
            if !self.mentions(text).is_empty() || TABLE_END.is_match(text) {
                break;
            }
            let stripped = strip_non_results(text);
            let mut tokens = measured_values(&stripped);
            // A serial number before the row's label (1 W1 7.2 236 …) is no column.
            if tokens.len() == mentions.len() + 1
                && stripped[..tokens[0].start].trim().is_empty()
                && tokens[0].value.fract() == 0.0
                && !tokens[0].range
                && !tokens[0].below_detection
            {
                tokens.remove(0);
            }
            if tokens.is_empty() {
                let row_units: Vec<_> = find_units(text);
                if row_units.len() == mentions.len() {
                    units = row_units.into_iter().map(Some).collect();
                    taken.push(row);
                }
                continue;
            }
            let label = &stripped[..tokens[0].start];
            taken.push(row);
            if tokens.len() != mentions.len() {
                unread.push(Unread::row(&lines[row], &lines[row].text, UNREAD_VALUE));
                continue;
            }
            matched_rows += 1;
            if LIMIT_HEADER.is_match(label) {
                continue;
            }
            confidence = confidence.min(lines[row].confidence);
            for (column, token) in tokens.iter().enumerate() {
                let item = &mentions[column].0;
                let f = self.factor(item, units[column]);
                match token.allows {
                    // Several samples written as one range (7.1~7.4): both ends are readings.
                    Some((low, high)) if token.range => values[column].extend([low * f, high * f]),
                    _ if token.range => {} // an empty cell: not measured at this point
                    _ => values[column].push(token.value * f),
                }
            }
        }
        // Not a grid unless some row lines up with the items (a list of items in a sentence does not).
        if matched_rows == 0 {
            return None;
        }
        let results = mentions
            .iter()
            .zip(&values)
            .filter_map(|((item, _, _), vs)| {
                let value = worst(item, vs)?;
                Some((item.clone(), (value * 1e6).round() / 1e6, CONF_RESULT_CLEAR * confidence, at))
            })
            .collect();
        Some(Grid { lines: taken, results, unread })
    }
}

/// Every unit written in a line, in order.
fn find_units(text: &str) -> Vec<Unit> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some((unit, range)) = find_unit(rest) {
        out.push(unit);
        rest = &rest[range.end..];
    }
    out
}
