//! A page's lines rebuilt from positioned text: glyphs → lines (by baseline) → cells (by gaps), then
//! the cells that wrapped put back together.
//!
//! Both PDF extractors hand their glyphs here, so a page reads the same whatever order its content
//! stream draws in: lines come top to bottom and each line left to right, by position, not by the
//! order the writer happened to emit them.
//!
//! What is rebuilt, each a rule about geometry, never about particular words:
//! - **Lines.** Glyphs whose baselines lie within half a font size of each other are one line
//!   (a raised ×10³ stays on its line). Inside a line a gap wider than a tenth of an em is a space,
//!   as pdf-extract writes it, except between the glyphs of one show-text operation, whose spacing
//!   is the writer's own (letter-spaced labels such as 名　称 stay one word).
//! - **Cells.** A gap wider than [`CELL_GAP`] ems ends a cell. After text whose widths the font
//!   does not give (the fallback extractor estimates them) a space takes a gap of one em, as that
//!   extractor has always counted it: a narrower one may be the estimate's error.
//! - **Wrapped cells.** A cell that continues the text of the cell above it in its column is
//!   appended to that cell: the next line of that column at a line's distance (more than
//!   [`SAME_ROW`], at most 1.8 ems), aligned left or centred, hardly wider than the line it
//!   continues (the text broke because that line was full), in a row of cells (a line of one cell,
//!   a title or a paragraph, keeps its next line), nothing else of the page between them in that
//!   column, not in the region's first column (which starts rows: a serial number, an item, a label,
//!   a paragraph's next line) and not a value of its own (a number, a label with a colon). A line is
//!   merged only when every cell of it continues a cell above: a licence's 经营范围 over three lines
//!   beside a second column.
//! - **Vertically centred rows.** Two lines closer than [`SAME_ROW`] of an em cannot be two lines of
//!   text in one column: they are one row whose cells were centred at different heights (a results
//!   row whose method or item name takes two lines beside cells of one). They become one line; a
//!   cell under a cell of the line above is that cell's next line.
//!
//! Rotated glyphs (a diagonal watermark) are kept apart, in the order they were drawn, as lines of
//! their own at the height of their first glyph: they are not part of the page's rows.

/// One glyph (or, from the fallback extractor, one shown string) where it was drawn. Coordinates are
/// in points from the page's top left, `y` the baseline, growing downwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Glyph {
    pub x: f64,
    pub y: f64,
    /// The horizontal advance: the glyph ends at `x + advance`.
    pub advance: f64,
    /// The font size on the page (after the text and graphics matrices).
    pub size: f64,
    pub text: String,
    /// Glyphs of one show-text operation share a run: their spacing is the writer's, not a gap.
    pub run: u32,
    /// Drawn upright (not rotated). Rotated glyphs are kept out of the rows.
    pub upright: bool,
    /// The advance is the font's own; when it is estimated (a font without widths) the gap after the
    /// glyph is a guess, and only a wider one counts ([`ESTIMATED`] times the thresholds).
    pub exact: bool,
}

/// A gap between glyphs wider than this many ems ends a cell.
pub const CELL_GAP: f64 = 1.0;
/// A gap wider than this many ems is written as a space (pdf-extract's threshold).
const WORD_GAP: f64 = 0.1;
/// The word gap after a glyph whose advance is estimated: the fallback extractor's own space
/// threshold for such fonts (one em; a narrower gap may be the estimate's error).
const ESTIMATED_WORD_GAP: f64 = 1.0;
/// Baselines within this many ems are one line.
const SAME_LINE: f64 = 0.5;
/// Two lines closer than this many ems are one row when their cells do not overlap.
pub const SAME_ROW: f64 = 0.8;
/// A continuation lies more than [`SAME_ROW`] and at most this many ems below the line it continues.
const WRAP_PITCH: f64 = 1.8;
/// Wrapped cells are looked for on pages of at most this many lines (the search is quadratic in
/// lines; no real page comes near it).
const MAX_MERGED_LINES: usize = 2_000;
/// A continuation is at most this many ems wider than the line it continues.
const WIDER: f64 = 2.5;
/// Left edges or centres within this many ems are aligned.
const ALIGNED: f64 = 0.5;

#[derive(Debug, Clone)]
struct Cell {
    x0: f64,
    x1: f64,
    /// The baseline of the cell's first line and of its last (after continuations were appended).
    first_y: f64,
    last_y: f64,
    size: f64,
    text: String,
}

#[derive(Debug, Clone)]
struct Line {
    y: f64,
    /// The lowest baseline of the lines this one was merged from.
    bottom: f64,
    size: f64,
    cells: Vec<Cell>,
    /// A rotated run: kept as it was drawn, never merged.
    rotated: bool,
}

/// The page's lines, top to bottom, each a line's cells left to right joined by a space; trimmed,
/// none empty.
pub fn page_lines(glyphs: &[Glyph]) -> Vec<String> {
    let mut lines = upright_lines(glyphs);
    if lines.len() <= MAX_MERGED_LINES {
        merge_continuations(&mut lines);
    }
    merge_centred_rows(&mut lines);
    lines.extend(rotated_lines(glyphs));
    lines.sort_by(|a, b| a.y.total_cmp(&b.y));
    lines
        .iter()
        .map(|l| l.cells.iter().map(|c| c.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty())
        .collect()
}

fn usable(g: &Glyph) -> bool {
    [g.x, g.y, g.advance, g.size].iter().all(|v| v.is_finite()) && g.size > 0.0 && !g.text.is_empty()
}

/// Upright glyphs grouped by baseline, each line's glyphs in x order split into cells at wide gaps.
fn upright_lines(glyphs: &[Glyph]) -> Vec<Line> {
    let mut upright: Vec<&Glyph> = glyphs.iter().filter(|g| g.upright && usable(g)).collect();
    upright.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
    let mut groups: Vec<(f64, f64, Vec<&Glyph>)> = Vec::new();
    for g in upright {
        match groups.last_mut() {
            Some((y, size, members)) if (g.y - *y).abs() <= SAME_LINE * size.max(g.size) => {
                if g.size > *size && !g.text.trim().is_empty() {
                    (*y, *size) = (g.y, g.size);
                }
                members.push(g);
            }
            _ => groups.push((g.y, g.size, vec![g])),
        }
    }
    groups
        .into_iter()
        .map(|(y, size, mut members)| {
            members.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.run.cmp(&b.run)));
            Line { y, bottom: y, size, cells: cells(&members, y), rotated: false }
        })
        .collect()
}

/// One line's glyphs (in x order) as cells. A glyph drawn again over itself at once (simulated bold)
/// is written once. Blank glyphs (spaces, U+3000) are kept in the text and move the pen, as the
/// writer drew them, but do not widen a cell.
fn cells(members: &[&Glyph], y: f64) -> Vec<Cell> {
    let mut cells: Vec<Cell> = Vec::new();
    let mut last: Option<&Glyph> = None;
    for &g in members {
        let blank = g.text.trim().is_empty();
        if let Some(p) = last {
            if !blank && p.text == g.text && (g.x - p.x).abs() < 0.3 * p.advance.max(g.advance) {
                continue;
            }
        }
        match (cells.last_mut(), last) {
            (Some(cell), Some(p)) => {
                let em = p.size.max(g.size);
                let word_gap = if p.exact { WORD_GAP } else { ESTIMATED_WORD_GAP };
                let gap = g.x - (p.x + p.advance);
                let same_run = p.run == g.run;
                if !blank && !same_run && gap > CELL_GAP * em {
                    cells.push(new_cell(g, y));
                } else {
                    // Drawn back over the text before it by more than an em: another word.
                    let spaced = gap > word_gap * em || gap < -em;
                    if !blank && !same_run && spaced && !cell.text.ends_with(char::is_whitespace) {
                        cell.text.push(' ');
                    }
                    cell.text.push_str(&g.text);
                    if !blank {
                        cell.x1 = cell.x1.max(g.x + g.advance);
                        cell.size = cell.size.max(g.size);
                    }
                }
            }
            _ if blank => {}
            _ => cells.push(new_cell(g, y)),
        }
        last = Some(g);
    }
    cells
}

fn new_cell(g: &Glyph, y: f64) -> Cell {
    Cell { x0: g.x, x1: g.x + g.advance, first_y: y, last_y: y, size: g.size, text: g.text.clone() }
}

/// Rotated glyphs as lines of their own: each run of consecutive rotated glyphs, in drawing order.
fn rotated_lines(glyphs: &[Glyph]) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    let mut last_rotated = false;
    for g in glyphs.iter().filter(|g| usable(g)) {
        if g.upright {
            last_rotated = false;
            continue;
        }
        match lines.last_mut() {
            Some(line) if last_rotated => line.cells[0].text.push_str(&g.text),
            _ => lines.push(Line { y: g.y, bottom: g.y, size: g.size, cells: vec![new_cell(g, g.y)], rotated: true }),
        }
        last_rotated = true;
    }
    lines
}

/// Whether `below` lies under `above` as the next line of one wrapped cell: left edges or centres
/// aligned, and not reaching out of `above`'s column by more than the alignment allows.
fn aligned(above: &Cell, below: &Cell) -> bool {
    let em = above.size.max(below.size);
    let left = (below.x0 - above.x0).abs() <= ALIGNED * em;
    let centre = ((below.x0 + below.x1) - (above.x0 + above.x1)).abs() / 2.0 <= ALIGNED * em;
    left || centre
}

fn overlaps(a: &Cell, b: &Cell) -> bool {
    a.x0 < b.x1 && b.x0 < a.x1
}

/// A cell that is a value or a row of its own, never a continuation: a number (with its unit or
/// sign) or a label with a colon.
fn stands_alone(cell: &Cell) -> bool {
    let text = cell.text.trim();
    let has_digit = text.chars().any(|c| c.is_ascii_digit() || ('０'..='９').contains(&c));
    let has_han = text.chars().any(is_han);
    // A label starts the cell: a few Han characters (perhaps spaced out) before its colon.
    let labelled = text.split_once(['：', ':']).is_some_and(|(label, _)| {
        let han = label.chars().filter(|c| is_han(*c)).count();
        (2..=10).contains(&han) && label.chars().all(|c| is_han(c) || c.is_whitespace())
    });
    (has_digit && !has_han) || labelled
}

fn is_han(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c) || ('\u{3400}'..='\u{4DBF}').contains(&c)
}

/// Wide characters (Han, kana, full-width forms and punctuation) join a wrapped line without a space.
fn wide(c: char) -> bool {
    is_han(c) || ('\u{3000}'..='\u{30FF}').contains(&c) || ('\u{FF00}'..='\u{FFEF}').contains(&c)
}

/// The text of a cell continued by the next line of the same cell.
fn join_wrapped(first: &str, next: &str) -> String {
    let (first, next) = (first.trim_end(), next.trim_start());
    let tight = match (first.chars().last(), next.chars().next()) {
        (Some(a), Some(b)) => (wide(a) && wide(b)) || a == '-' || (wide(a) && !b.is_ascii_alphanumeric()),
        _ => true,
    };
    if tight {
        format!("{first}{next}")
    } else {
        format!("{first} {next}")
    }
}

/// Appends each line whose every cell continues a cell above it to those cells (module doc).
fn merge_continuations(lines: &mut Vec<Line>) {
    let mut i = 0;
    while i < lines.len() {
        let targets = continuation_targets(lines, i);
        match targets {
            Some(targets) => {
                let moved = std::mem::take(&mut lines[i].cells);
                for ((j, k), cell) in targets.into_iter().zip(moved) {
                    append(&mut lines[j].cells[k], cell);
                }
                lines.remove(i);
            }
            None => i += 1,
        }
    }
}

/// For line `i`, the cell (line, index) each of its cells continues, when every one of them does.
fn continuation_targets(lines: &[Line], i: usize) -> Option<Vec<(usize, usize)>> {
    let line = &lines[i];
    if line.rotated || line.cells.is_empty() {
        return None;
    }
    let mut targets = Vec::with_capacity(line.cells.len());
    for cell in &line.cells {
        if stands_alone(cell) {
            return None;
        }
        let (j, k) = nearest_above(lines, i, cell)?;
        let above = &lines[j].cells[k];
        let em = above.size.max(cell.size);
        let distance = cell.first_y - above.last_y;
        let similar_size = (above.size - cell.size).abs() <= 0.2 * em;
        // A wrapped line is hardly wider than the line it continues: the text broke because that
        // line was full (writers break a little early, at punctuation or between words).
        let no_wider = cell.x1 - cell.x0 <= above.x1 - above.x0 + WIDER * em;
        let at_pitch = distance > SAME_ROW * em && distance <= WRAP_PITCH * em;
        if !at_pitch || !similar_size || !no_wider || !aligned(above, cell) {
            return None;
        }
        // Only a cell in a row of cells (a table, pairs of labels and values) is continued this way:
        // a line of one cell (a title, a paragraph) keeps its next line.
        let in_row = lines[j].cells.len() >= 2;
        if !in_row || above.text.trim_end().ends_with(['：', ':']) || in_first_column(lines, j, i, cell) {
            return None;
        }
        if targets.contains(&(j, k)) {
            return None;
        }
        targets.push((j, k));
    }
    Some(targets)
}

/// The cell nearest above `cell` (by its last line) among the lines before `i` that overlaps it
/// horizontally: what stands directly above it in its column.
fn nearest_above(lines: &[Line], i: usize, cell: &Cell) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize, f64)> = None;
    for (j, line) in lines[..i].iter().enumerate().filter(|(_, l)| !l.rotated) {
        for (k, above) in line.cells.iter().enumerate() {
            if overlaps(above, cell) && above.last_y < cell.first_y && best.is_none_or(|(_, _, y)| above.last_y > y) {
                best = Some((j, k, above.last_y));
            }
        }
    }
    best.map(|(j, k, _)| (j, k))
}

/// Whether `cell` starts at the leftmost column of the rows around it (from the line `j` it would
/// continue to two ems below line `i`): a cell there starts a row (a serial number, an item, a
/// label), it does not continue one.
fn in_first_column(lines: &[Line], j: usize, i: usize, cell: &Cell) -> bool {
    let em = cell.size;
    let (top, bottom) = (lines[j].y - WRAP_PITCH * em, lines[i].y + WRAP_PITCH * em);
    let leftmost = lines
        .iter()
        .filter(|l| !l.rotated && l.y >= top && l.y <= bottom)
        .flat_map(|l| l.cells.iter())
        .map(|c| c.x0)
        .fold(f64::INFINITY, f64::min);
    cell.x0 <= leftmost + ALIGNED * em
}

/// Joins lines closer than [`SAME_ROW`] ems (module doc): a cell of the lower line under a cell of
/// the upper is the next line of that cell, the others are the row's other cells.
fn merge_centred_rows(lines: &mut Vec<Line>) {
    let mut i = 1;
    while i < lines.len() {
        let (above, below) = (&lines[i - 1], &lines[i]);
        let em = above.size.min(below.size);
        if below.y - above.bottom < SAME_ROW * em && !above.rotated && !below.rotated {
            let moved = lines.remove(i);
            let line = &mut lines[i - 1];
            line.bottom = line.bottom.max(moved.bottom);
            line.size = line.size.max(moved.size);
            for cell in moved.cells {
                match line.cells.iter_mut().find(|c| overlaps(c, &cell)) {
                    Some(upper) => append(upper, cell),
                    None => line.cells.push(cell),
                }
            }
            line.cells.sort_by(|a, b| a.x0.total_cmp(&b.x0));
        } else {
            i += 1;
        }
    }
}

/// `next` as the next line of `cell`.
fn append(cell: &mut Cell, next: Cell) {
    cell.text = join_wrapped(&cell.text, &next.text);
    cell.x0 = cell.x0.min(next.x0);
    cell.x1 = cell.x1.max(next.x1);
    cell.last_y = next.last_y;
}

#[cfg(test)]
mod tests;
