//! Results tables turned sideways: the test items across the header row, an optional units row,
//! one row per sampling point (or per sample) with a value under each item, and a limits row.
//!
//! A row's cells are matched to the header's items by their order: a row with as many values (an
//! empty cell written `—` or `/` counts) as the header has items is read; a row with numbers and
//! another count is named as unread, never guessed.

use super::{below_detection, strip_non_results, worst, PollutantReader, Unread, LIMIT_HEADER, TABLE_END, UNREAD_VALUE};
use crate::reading::TextLine;
use crate::understanding::fields::CONF_RESULT_CLEAR;
use crate::understanding::normalize::{find_unit, measured_values, Measured, Unit};

/// The most rows below a header that one grid spans.
const MAX_GRID_ROWS: usize = 16;
/// The most lines a header cell wraps onto under the header row.
const MAX_WRAPPED_HEADER_LINES: usize = 3;

/// A sideways table found in a document.
pub(super) struct Grid {
    /// Every line the grid took, header included.
    pub lines: Vec<usize>,
    /// (item, worst value in the standard's unit, confidence, line it was read from, whether that
    /// value was written as below the detection limit).
    pub results: Vec<(String, f64, f64, usize, bool)>,
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
        // A header cell that wraps (化学需氧量 / (CODCr)) leaves its item on lines of its own under
        // the header, with no number and no unit: its column's place is not known from the text.
        let mut wrapped: Vec<String> = Vec::new();
        let mut first_row = at + 1;
        while let Some(text) = normalized.get(first_row).filter(|_| first_row <= at + MAX_WRAPPED_HEADER_LINES) {
            let stripped = strip_non_results(text);
            if !measured_values(&stripped).is_empty() || !find_units(text).is_empty() || TABLE_END.is_match(text) {
                break;
            }
            for (item, _, _) in self.mentions(text) {
                if wrapped.last() != Some(&item) && !mentions.iter().any(|(i, _, _)| *i == item) {
                    wrapped.push(item);
                }
            }
            taken.push(first_row);
            first_row += 1;
        }
        if wrapped.is_empty() {
            taken.truncate(1);
            first_row = at + 1;
        }
        let columns = mentions.len() + wrapped.len();
        let mut rows: Vec<(usize, Vec<Measured>, bool)> = Vec::new();
        let mut unread = Vec::new();
        for row in first_row..normalized.len().min(first_row + MAX_GRID_ROWS) {
            let text = &normalized[row];
            if !self.mentions(text).is_empty() || TABLE_END.is_match(text) {
                break;
            }
            let stripped = strip_non_results(text);
            let mut tokens = measured_values(&stripped);
            // A serial number before the row's label (1 W1 7.2 236 …) is no column.
            if tokens.len() == columns + 1
                && stripped[..tokens[0].start].trim().is_empty()
                && tokens[0].value.fract() == 0.0
                && !tokens[0].range
                && !tokens[0].below_detection
            {
                tokens.remove(0);
            }
            if tokens.is_empty() {
                let row_units: Vec<_> = find_units(text);
                if row_units.len() == columns {
                    units = row_units.into_iter().map(Some).collect();
                    taken.push(row);
                }
                continue;
            }
            let label = &stripped[..tokens[0].start];
            taken.push(row);
            if tokens.len() != columns {
                unread.push(Unread::row(&lines[row], &lines[row].text, UNREAD_VALUE));
                continue;
            }
            rows.push((row, tokens, LIMIT_HEADER.is_match(label)));
        }
        // Not a grid unless some row lines up with the items (a list of items in a sentence does not).
        if rows.is_empty() {
            return None;
        }
        let items: Vec<String> = if wrapped.is_empty() {
            mentions.iter().map(|m| m.0.clone()).collect()
        } else {
            let header_items: Vec<String> = mentions.iter().map(|m| m.0.clone()).collect();
            if units.len() != columns {
                units = vec![None; columns];
            }
            let limits = rows.iter().find(|(_, _, limit)| *limit).map(|(_, tokens, _)| tokens.as_slice());
            match limits.and_then(|l| self.place_wrapped(&header_items, &wrapped, l, &units)) {
                Some(items) => items,
                None => {
                    // No limits row, or none that places the wrapped items: every row is unread.
                    unread
                        .extend(rows.iter().filter(|r| !r.2).map(|(row, _, _)| Unread::row(&lines[*row], &lines[*row].text, UNREAD_VALUE)));
                    return Some(Grid { lines: taken, results: Vec::new(), unread });
                }
            }
        };
        // Each column's readings, with whether each was written as below the detection limit.
        let mut values: Vec<Vec<(f64, bool)>> = vec![Vec::new(); columns];
        let mut confidence = lines[at].confidence;
        for (row, tokens, _) in rows.iter().filter(|r| !r.2) {
            confidence = confidence.min(lines[*row].confidence);
            for (column, token) in tokens.iter().enumerate() {
                let f = self.factor(&items[column], units[column]);
                match token.allows {
                    // Several samples written as one range (7.1~7.4): both ends are readings.
                    Some((low, high)) if token.range => values[column].extend([(low * f, false), (high * f, false)]),
                    _ if token.range => {} // an empty cell: not measured at this point
                    _ => values[column].push((token.value * f, token.below_detection)),
                }
            }
        }
        let results = items
            .iter()
            .zip(&values)
            .filter_map(|(item, vs)| {
                let value = worst(item, &vs.iter().map(|(v, _)| *v).collect::<Vec<_>>())?;
                Some((item.clone(), (value * 1e6).round() / 1e6, CONF_RESULT_CLEAR * confidence, at, below_detection(vs, value)))
            })
            .collect();
        Some(Grid { lines: taken, results, unread })
    }

    /// The column order that puts the wrapped header items among the header's own (which keep
    /// their order) so that every cell of the limits row is its column item's limit in the
    /// standard for one and the same grade; none unless exactly one order does.
    fn place_wrapped(&self, header: &[String], wrapped: &[String], limits: &[Measured], units: &[Option<Unit>]) -> Option<Vec<String>> {
        let columns = header.len() + wrapped.len();
        if wrapped.len() > 2 || limits.len() != columns {
            return None;
        }
        let fits = |order: &[String]| {
            let grades: Vec<&String> = self.items.values().flat_map(|spec| spec.max.keys()).collect();
            grades.iter().any(|grade| {
                order.iter().zip(limits).zip(units).all(|((item, cell), unit)| {
                    let (Some(spec), Some((low, high))) = (self.items.get(item), cell.allows) else { return false };
                    let f = self.factor(item, *unit);
                    let max = spec.max.get(*grade).copied();
                    let min = spec.min.get(*grade).copied().unwrap_or(0.0);
                    max.is_some_and(|max| ((high * f) - max).abs() < 1e-9 * max.max(1.0) && ((low * f) - min).abs() < 1e-9)
                })
            })
        };
        let mut found: Vec<Vec<String>> = Vec::new();
        // Every way to choose the wrapped items' positions, in their order.
        let positions: Vec<Vec<usize>> = match wrapped.len() {
            1 => (0..columns).map(|a| vec![a]).collect(),
            _ => (0..columns).flat_map(|a| (a + 1..columns).map(move |b| vec![a, b])).collect(),
        };
        for places in positions {
            let (mut h, mut w) = (header.iter(), wrapped.iter());
            let order: Vec<String> = (0..columns).filter_map(|c| if places.contains(&c) { w.next() } else { h.next() }).cloned().collect();
            if order.len() == columns && fits(&order) {
                found.push(order);
            }
        }
        (found.len() == 1).then(|| found.remove(0))
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
