//! Shaping a results table's lines into one line per row before it is read: an item name split
//! at a line's end, a numbered row whose cells wrap over several lines, and a long name wrapped in
//! its cell.

use crate::reading::TextLine;
use crate::understanding::normalize::{find_unit, halfwidth, measured_values};

use super::{is_han, parse_header, PollutantReader, INFO_LABEL, NOT_RESULTS, STANDARD_NUMBER, TABLE_END};

/// The longest row of a numbered table, in lines: a name and a method wrapped over three lines each
/// is far beyond what a report prints.
const MAX_ROW_LINES: usize = 6;

/// A cell that can be (part of) an item's name: words, not a number, a unit or a standard's number.
fn name_cell(cell: &str) -> bool {
    find_unit(cell).is_none()
        && cell.chars().any(|c| is_han(c) || c.is_ascii_alphabetic())
        && !cell.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '<' | '≤' | '-' | '/'))
}

/// The run of name characters at the end of `text` (after its last space or punctuation) and at
/// the start: Han, ASCII letters and digits, and the hyphen of NH3-N.
fn name_chars(c: char) -> bool {
    is_han(c) || c.is_ascii_alphanumeric() || c == '-'
}

impl PollutantReader {
    /// All the row shaping, in order.
    pub(super) fn shape_rows(&self, lines: &[TextLine]) -> Vec<TextLine> {
        let lines = self.split_names_across_lines(lines);
        let lines = self.group_numbered_rows(&lines);
        self.join_wrapped_names(&lines)
    }

    /// An item's name broken at a line's end, in prose ("…pH值为7.2；化学" / "需氧量：241 mg/l；…")
    /// or in a cell ("5 NH3-" / "N HJ 535-2009"): when the last word of a line and the first word
    /// of the next together hold a name that crosses the break, the first part moves down to join
    /// the rest, and the joined line is as sure as the less sure of the two.
    fn split_names_across_lines(&self, lines: &[TextLine]) -> Vec<TextLine> {
        let mut texts: Vec<String> = lines.iter().map(|l| halfwidth(&l.text)).collect();
        let mut moved = vec![false; lines.len()];
        let mut confidence: Vec<f64> = lines.iter().map(|l| l.confidence).collect();
        for idx in 0..lines.len().saturating_sub(1) {
            if lines[idx].page != lines[idx + 1].page {
                continue;
            }
            let (a, b) = (&texts[idx], &texts[idx + 1]);
            let tail_start = a.char_indices().rev().take_while(|(_, c)| name_chars(*c)).last().map_or(a.len(), |(i, _)| i);
            let head_end = b.char_indices().find(|(_, c)| !name_chars(*c)).map_or(b.len(), |(i, _)| i);
            if tail_start == a.len() || head_end == 0 {
                continue;
            }
            let tail = &a[tail_start..];
            let joined = format!("{tail}{}", &b[..head_end]);
            let crosses = self.mentions(&joined).iter().any(|(_, start, end)| *start < tail.len() && *end > tail.len());
            if !crosses {
                continue;
            }
            let b_new = format!("{tail}{b}");
            texts[idx] = a[..tail_start].trim_end().to_string();
            texts[idx + 1] = b_new;
            moved[idx] = true;
            moved[idx + 1] = true;
            confidence[idx + 1] = confidence[idx + 1].min(confidence[idx]);
        }
        lines
            .iter()
            .zip(texts)
            .zip(moved)
            .zip(confidence)
            .filter(|(((_, text), _), _)| !text.is_empty())
            .map(|(((line, text), moved), confidence)| if moved { TextLine::new(line.page, text, confidence) } else { line.clone() })
            .collect()
    }

    /// A table with a 序号 column numbers its rows 1, 2, 3 …; a row whose cells wrap spans several
    /// lines, with its number, unit, result and limit on one ("2 mg/L 145 ≤500") and its name and
    /// method wrapped under it ("化学需氧 HJ 828-2017" / "量(CODCr) 重铬酸盐法"). A numbered line
    /// and the unnumbered lines under it, up to the next number, are one row, joined into one line
    /// with the name's parts together, so that the next row's number is never read as this row's
    /// result. A line under a row that names an item of its own with numbers is a row of its own.
    fn group_numbered_rows(&self, lines: &[TextLine]) -> Vec<TextLine> {
        let mut out: Vec<TextLine> = Vec::with_capacity(lines.len());
        let mut row: Vec<(usize, String)> = Vec::new();
        let mut numbered_table = false;
        let mut expected = 1u32;
        let flush = |row: &mut Vec<(usize, String)>, out: &mut Vec<TextLine>| {
            if !row.is_empty() {
                out.push(self.joined_row(lines, row));
                row.clear();
            }
        };
        for (idx, line) in lines.iter().enumerate() {
            let text = halfwidth(&line.text);
            if parse_header(&text).is_some() {
                flush(&mut row, &mut out);
                numbered_table =
                    text.split_whitespace().next().is_some_and(|c| c.contains("序号") || c == "编号" || c.eq_ignore_ascii_case("No."));
                out.push(line.clone());
                continue;
            }
            let serial = text.split_whitespace().next().and_then(|c| c.parse::<u32>().ok());
            let restart = row.is_empty() && serial == Some(1) && out.last().is_some_and(|l| parse_header(&halfwidth(&l.text)).is_some());
            // A number misread or missing on one row must not end the grouping: the next two
            // numbers are taken too.
            let next_number = serial.is_some_and(|s| (expected..=expected + 2).contains(&s));
            if numbered_table && (next_number || restart) {
                flush(&mut row, &mut out);
                expected = serial.unwrap_or(expected) + 1;
                row.push((idx, text));
                continue;
            }
            let stripped = super::strip_non_results(&text);
            let own_row = !self.mentions(&text).is_empty()
                && stripped.chars().any(|c| c.is_ascii_digit())
                && row.iter().any(|(_, t)| !self.mentions(t).is_empty());
            let continues = numbered_table
                && !row.is_empty()
                && row.len() < MAX_ROW_LINES
                && lines[row[0].0].page == line.page
                && !TABLE_END.is_match(&text)
                && !NOT_RESULTS.is_match(&text)
                && !INFO_LABEL.is_match(&text)
                && !own_row;
            if continues {
                row.push((idx, text));
                continue;
            }
            flush(&mut row, &mut out);
            if TABLE_END.is_match(&text) {
                numbered_table = false;
            }
            out.push(line.clone());
        }
        flush(&mut row, &mut out);
        out
    }

    /// One line for a numbered row: its number, the name's parts joined (the cell after the number
    /// on the numbered line, then the first cell of each line under it until they name an item),
    /// then every other cell in reading order.
    fn joined_row(&self, lines: &[TextLine], row: &[(usize, String)]) -> TextLine {
        let first = &lines[row[0].0];
        if row.len() == 1 {
            return first.clone();
        }
        let mut name = String::new();
        let mut rest: Vec<String> = Vec::new();
        for (at, (_, text)) in row.iter().enumerate() {
            // Cells inside a standard's number (HJ 828-2017) are never part of the name.
            let standard: Vec<std::ops::Range<usize>> = STANDARD_NUMBER.find_iter(text).map(|m| m.range()).collect();
            let mut cells: Vec<(usize, &str)> =
                text.split_whitespace().map(|c| (c.as_ptr() as usize - text.as_ptr() as usize, c)).collect();
            if at == 0 {
                cells.remove(0);
            }
            let candidate = cells.first().filter(|(start, cell)| {
                name_cell(cell) && !standard.iter().any(|r| r.start <= *start && *start < r.end) && self.mentions(&name).is_empty()
            });
            if let Some((_, cell)) = candidate {
                name.push_str(cell);
                cells.remove(0);
            }
            rest.extend(cells.into_iter().map(|(_, c)| c.to_string()));
        }
        let serial = row[0].1.split_whitespace().next().unwrap_or_default();
        let text = [serial.to_string(), name].into_iter().chain(rest).filter(|c| !c.is_empty()).collect::<Vec<_>>().join(" ");
        let mut confidence = row.iter().map(|(idx, _)| lines[*idx].confidence).fold(f64::INFINITY, f64::min);
        // Numbers from more than one of the row's lines (a detection limit on the name's line, the
        // result on the number's) cannot be matched to the header's columns by their order: the
        // reading is doubtful and goes to a person.
        let numbered_lines = row
            .iter()
            .enumerate()
            .filter(|(at, (_, t))| {
                // The row's own number is no column.
                let cells = if *at == 0 { t.split_once(char::is_whitespace).map_or("", |(_, rest)| rest) } else { t.as_str() };
                !measured_values(&super::strip_non_results(cells)).is_empty()
            })
            .count();
        if numbered_lines > 1 {
            confidence = confidence.min(super::CONF_RESULT_AMBIGUOUS);
        }
        TextLine::new(first.page, text, confidence)
    }

    /// A long item name wrapped in its cell ("5 阴离子表面" / "活性剂 mg/L 0.52 20", or "5 阴离子表面
    /// mg/L 0.52 20" / "活性剂"): two neighbouring lines that name no item are joined when a Han cell
    /// of the first and the first cell of the second together name one.
    fn join_wrapped_names(&self, lines: &[TextLine]) -> Vec<TextLine> {
        let mut out: Vec<TextLine> = Vec::with_capacity(lines.len());
        let mut idx = 0;
        while idx < lines.len() {
            let line = &lines[idx];
            if let Some(joined) = lines.get(idx + 1).and_then(|next| self.joined_name(line, next)) {
                out.push(joined);
                idx += 2;
                continue;
            }
            out.push(line.clone());
            idx += 1;
        }
        out
    }

    fn joined_name(&self, line: &TextLine, next: &TextLine) -> Option<TextLine> {
        let (a, b) = (halfwidth(&line.text), halfwidth(&next.text));
        if !self.mentions(&a).is_empty() || !self.mentions(&b).is_empty() {
            return None;
        }
        let han_cell = |cell: &str| !cell.is_empty() && cell.chars().count() <= 8 && cell.chars().all(is_han);
        let a_cells: Vec<&str> = a.split_whitespace().collect();
        let b_cells: Vec<&str> = b.split_whitespace().collect();
        let tail = b_cells.first().filter(|c| han_cell(c))?;
        let rest_of_b = b_cells[1..].join(" ");
        // The name's first part is the first line's last cell, or (when the second line holds
        // nothing else) its first Han cell, with the row's numbers after it.
        let candidates = [Some(a_cells.len().checked_sub(1)?), a_cells.iter().position(|c| han_cell(c)).filter(|_| b_cells.len() == 1)];
        candidates.into_iter().flatten().find_map(|at| {
            let head = a_cells.get(at).filter(|c| han_cell(c))?;
            let name = format!("{head}{tail}");
            if self.mentions(&name).is_empty() {
                return None;
            }
            let mut cells: Vec<String> = a_cells.iter().map(|c| c.to_string()).collect();
            cells[at] = name;
            if !rest_of_b.is_empty() {
                cells.push(rest_of_b.clone());
            }
            Some(TextLine::new(line.page, cells.join(" "), line.confidence.min(next.confidence)))
        })
    }
}
