//! A page's lines rebuilt from positioned text: glyphs → lines (by baseline) → cells (by gaps), then
//! the rows whose cells were centred and the cells that wrapped put back together.
//!
//! Both PDF extractors hand their glyphs here, so a page reads the same whatever order its content
//! stream draws in: lines come top to bottom and each line left to right, by position, not by the
//! order the writer happened to emit them.
//!
//! The rules are geometry, except three about joining lines: a cell holding a number (a digit, a
//! Roman numeral, or Han numerals before 年, 月, 日, 次, 级, 类 or 等: a value, a date, a frequency
//! such as 1次/年, a grade) is never the continuation of a cell above nor continued; two lines
//! whose numbers stand one under the other are never one centred row; and a cell is never the
//! continuation of the same text above it (合格 under 合格 is the next row's value).
//! - **Frames.** Glyphs are grouped by the direction of their baseline (within [`SAME_FRAME`]
//!   degrees: upright, a page turned a quarter, a vertical font in the fallback extractor, a
//!   diagonal watermark), and each group is laid out in its own frame, so a turned page reads like
//!   an upright one. Sheared glyphs (synthetic italics) are upright: only the baseline's direction
//!   counts. The frame with the most characters is the page's text and comes first; the others
//!   follow, each as its own lines, in the order their first glyph was drawn.
//! - **Lines.** Glyphs whose baselines lie within half a font size of the line's first glyph are one
//!   line, the size taken at most the frame's body size (the median), so one large glyph cannot
//!   pull neighbouring rows together; a raised exponent stays on its line (2.2×10³ reads 2.2×103,
//!   which the number reader knows). A line's show-text operations are kept whole, in the order of
//!   their first glyph; one drawn back over the one before it by more than [`OVERLAP`] ems is
//!   another cell (a value written over a form's blanks), never interleaved with it, and one that
//!   draws the same text again at once (simulated bold) is written once. Inside a line a gap wider
//!   than a tenth of an em is a space, as pdf-extract writes it, except between the glyphs of one
//!   operation, whose spacing is the writer's own (letter-spaced labels such as 名　称 stay one
//!   word); a space the writer asked for ([`Glyph::space_before`]) is kept whatever the gap.
//! - **Cells.** A gap wider than [`CELL_GAP`] ems between two show-text operations ends a cell
//!   (never a gap inside one operation: its spacing is the writer's). After text whose widths the font
//!   does not give (the fallback extractor estimates them) a space takes a gap of one em, as that
//!   extractor has always counted it: a narrower one may be the estimate's error.
//! - **Vertically centred rows.** Two consecutive lines of similar size closer than [`SAME_ROW`] of
//!   an em are taken for one row whose cells were centred at different heights (a results row
//!   whose method or item name takes two lines beside cells of one). They become one line, a row
//!   spanning at most [`ROW_SPAN`] ems from its first line (so a third line can join a row a
//!   tight row pitch below the first); a cell under a cell of the line above is that cell's next
//!   line, the others are the row's other cells. Not merged: a lower line with a number under a
//!   number of the line above (two results rows bridged by a sampling point centred between
//!   them), and one with a cell that would wrap a cell of an earlier row (below). Text cells of
//!   two rows closer than 1.5 em with a cell centred between them can still be joined.
//! - **Wrapped cells.** A cell that continues the text of the cell above it in its column is
//!   appended to that cell, only where the page shows the text broke there: the next line is
//!   closer below than the rows around are to each other (less than [`ROW_SHARE`] of the pitch of
//!   the lines that start rows, lines with a cell in the first column or with two or more cells,
//!   measured on at least two of them), at a line's distance (more than
//!   [`SAME_ROW`], at most 1.8 ems), aligned left or centred, of similar size and at most [`WIDER`]
//!   ems wider than the line it continues; beside a next cell of its row, the line above left less
//!   room before that cell than the continuation's first glyph and [`FULL_GAP`] ems of padding;
//!   the continuation is not in the region's first column (which starts rows: a serial number, an
//!   item, a label, a paragraph's next line) and not a label with a colon; and the line above is a
//!   row of cells (a line of one cell, a title or a paragraph, keeps its next line). A line is
//!   merged only when every cell of it continues a cell above: a licence's 经营范围 over three
//!   lines beside a second column.
//!
//! Text is never changed, only joined, by the rules above; what they do not join stays apart, for
//! the readers to judge.

/// One glyph (or, from the fallback extractor, one shown string) where it was drawn. Coordinates are
/// in points from the page's top left, `y` growing downwards; (`x`, `y`) is the glyph's origin on
/// its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Glyph {
    pub x: f64,
    pub y: f64,
    /// The advance along the baseline: the glyph ends `advance` points from its origin.
    pub advance: f64,
    /// The font size on the page, measured across the baseline (after the text and graphics
    /// matrices).
    pub size: f64,
    pub text: String,
    /// Glyphs of one show-text operation share a run: their spacing is the writer's, not a gap.
    pub run: u32,
    /// The baseline's direction in degrees, clockwise from the page's x axis (y grows downwards):
    /// 0 upright, 90 running down the page (a vertical font), 270 running up it.
    pub angle: f64,
    /// The advance is the font's own; when it is estimated (a font without widths) the gap after the
    /// glyph is a guess, and only a wider one counts.
    pub exact: bool,
    /// The writer moved the pen on by a word's space before this glyph (a TJ adjustment of more
    /// than a fifth of an em): a space whatever the estimated gap.
    pub space_before: bool,
}

/// The baseline's angle ([`Glyph::angle`]) and the font size across it, for a glyph drawn with the
/// text-to-page matrix whose first row (the baseline's direction, page coordinates with y down) is
/// `direction` and whose determinant is `det`. A shear leaves both alone; a rotation by 45° keeps
/// the whole size.
pub fn orientation(direction: (f64, f64), det: f64, font_size: f64) -> (f64, f64) {
    let length = direction.0.hypot(direction.1);
    if !(length.is_finite() && length > 0.0) {
        return (0.0, 0.0);
    }
    let angle = direction.1.atan2(direction.0).to_degrees().rem_euclid(360.0);
    (angle, (font_size * det / length).abs())
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
/// Two lines closer than this many ems are one row (module doc).
pub const SAME_ROW: f64 = 0.8;
/// A row made of centred lines spans at most this many ems from its first line.
pub const ROW_SPAN: f64 = 1.5;
/// A continuation lies more than [`SAME_ROW`] and at most this many ems below the line it continues.
const WRAP_PITCH: f64 = 1.8;
/// Rows are merged on pages of at most this many lines and cells (the search is quadratic in
/// lines; no real page comes near it).
const MAX_MERGED_LINES: usize = 2_000;
const MAX_MERGED_CELLS: usize = 10_000;
/// A continuation is at most this many ems wider than the last line of the cell it continues (a
/// writer breaks a little early, at punctuation or between words).
pub const WIDER: f64 = 1.0;
/// A line is full when the room left before the next cell of its row is less than the next
/// line's first glyph and this many ems (the padding of both cells, up to an em each).
pub const FULL_GAP: f64 = 2.0;
/// A wrapped line lies closer below the line it continues than this share of the rows' pitch.
pub const ROW_SHARE: f64 = 0.85;
/// Rows are looked for this many ems above and below the lines being joined.
const ROW_WINDOW: f64 = 6.0;
/// Operations drawn over each other by more than this many ems are two cells.
pub const OVERLAP: f64 = 0.3;
/// Operations compared with the one before for simulated bold.
const OVERDRAWN_LOOKBACK: usize = 8;
/// Left edges or centres within this many ems are aligned.
const ALIGNED: f64 = 0.5;
/// Lines of these sizes (relative to the larger) are of similar size.
const SIMILAR_SIZE: f64 = 0.2;

#[derive(Debug, Clone)]
struct Cell {
    x0: f64,
    x1: f64,
    /// The baseline of the cell's first line and of its last (after continuations were appended).
    first_y: f64,
    last_y: f64,
    /// Where the cell's last line starts and ends.
    last_x0: f64,
    last_x1: f64,
    /// The advance of the cell's first glyph: what the line above lacked room for, if it wrapped.
    first_advance: f64,
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
}

/// The page's lines, each a line's cells in reading order joined by a space; trimmed, none empty.
pub fn page_lines(glyphs: &[Glyph]) -> Vec<String> {
    let mut frames = frames(glyphs);
    let visible = |f: &Frame| f.members.iter().map(|g| g.text.trim().chars().count()).sum::<usize>();
    // The page's text first: the frame with the most characters (the earliest drawn on a tie).
    let dominant = frames.iter().enumerate().rev().max_by_key(|(_, f)| visible(f)).map(|(i, _)| i);
    if let Some(i) = dominant {
        let frame = frames.remove(i);
        frames.insert(0, frame);
    }
    let mut laid: Vec<Vec<Line>> = frames.iter().map(frame_lines).collect();
    // One budget for the page: the merges' search is quadratic in a frame's cells.
    let (lines, cells) = laid.iter().flatten().fold((0, 0), |(l, c), line| (l + 1, c + line.cells.len()));
    if lines <= MAX_MERGED_LINES && cells <= MAX_MERGED_CELLS {
        for frame in &mut laid {
            merge_centred_rows(frame);
            merge_continuations(frame);
        }
    }
    laid.iter()
        .flatten()
        .map(|l| l.cells.iter().map(|c| c.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty())
        .collect()
}

fn usable(g: &Glyph) -> bool {
    [g.x, g.y, g.advance, g.size, g.angle].iter().all(|v| v.is_finite()) && g.size > 0.0 && !g.text.is_empty()
}

/// Glyphs whose baselines run the same way, within [`SAME_FRAME`] degrees of the frame's mean.
struct Frame<'a> {
    /// The sum of the members' baseline directions (unit vectors): the mean direction.
    direction: (f64, f64),
    members: Vec<&'a Glyph>,
}

/// Baselines within this many degrees of a frame's mean direction belong to it (a page skewed by a
/// fraction of a degree is one frame).
pub const SAME_FRAME: f64 = 3.0;

/// The usable glyphs grouped into frames, in the order each frame's first glyph was drawn.
fn frames(glyphs: &[Glyph]) -> Vec<Frame<'_>> {
    let mut frames: Vec<Frame> = Vec::new();
    for g in glyphs.iter().filter(|g| usable(g)) {
        let (sin, cos) = g.angle.to_radians().sin_cos();
        let same = frames.iter_mut().find(|f| {
            let mean = f.direction.1.atan2(f.direction.0).to_degrees();
            (g.angle - mean).rem_euclid(360.0).min((mean - g.angle).rem_euclid(360.0)) <= SAME_FRAME
        });
        match same {
            Some(f) => {
                f.direction = (f.direction.0 + cos, f.direction.1 + sin);
                f.members.push(g);
            }
            None => frames.push(Frame { direction: (cos, sin), members: vec![g] }),
        }
    }
    frames
}

/// One frame's glyphs turned so their mean baseline runs along x, laid out as lines.
fn frame_lines(frame: &Frame) -> Vec<Line> {
    let length = frame.direction.0.hypot(frame.direction.1);
    let (cos, sin) = if length > 0.0 { (frame.direction.0 / length, frame.direction.1 / length) } else { (1.0, 0.0) };
    let turned: Vec<Glyph> =
        frame.members.iter().map(|g| Glyph { x: g.x * cos + g.y * sin, y: g.y * cos - g.x * sin, ..(*g).clone() }).collect();
    let mut sizes: Vec<f64> = turned.iter().filter(|g| !g.text.trim().is_empty()).map(|g| g.size).collect();
    sizes.sort_by(f64::total_cmp);
    let body = sizes.get(sizes.len() / 2).copied().unwrap_or(f64::INFINITY);
    baseline_lines(turned, body)
}

/// A frame's glyphs grouped by baseline, each line's glyphs in x order split into cells at wide
/// gaps. A glyph joins the line when its baseline lies within half an em of the line's first glyph,
/// the em being the larger of the two sizes but at most the frame's `body` size.
fn baseline_lines(mut glyphs: Vec<Glyph>, body: f64) -> Vec<Line> {
    glyphs.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
    let mut groups: Vec<(f64, f64, Vec<Glyph>)> = Vec::new();
    for g in glyphs {
        match groups.last_mut() {
            Some((y, size, members)) if (g.y - *y).abs() <= SAME_LINE * size.max(g.size).min(body) => members.push(g),
            _ => groups.push((g.y, g.size, vec![g])),
        }
    }
    groups
        .into_iter()
        .map(|(first_y, _, mut members)| {
            // Each show-text operation's glyphs stay together, operations in order of their first
            // glyph: two operations drawn over each other are two cells, never interleaved.
            let mut starts: std::collections::HashMap<u32, f64> = std::collections::HashMap::new();
            for g in &members {
                let start = starts.entry(g.run).or_insert(g.x);
                *start = start.min(g.x);
            }
            members.sort_by(|a, b| starts[&a.run].total_cmp(&starts[&b.run]).then(a.run.cmp(&b.run)).then(a.x.total_cmp(&b.x)));
            let members = without_overdrawn_runs(members);
            // The line's baseline and size are its largest visible glyph's (not a raised exponent's).
            let (y, size) = members
                .iter()
                .filter(|g| !g.text.trim().is_empty())
                .fold(None, |best: Option<(f64, f64)>, g| match best {
                    Some((_, s)) if s >= g.size => best,
                    _ => Some((g.y, g.size)),
                })
                .unwrap_or((first_y, members[0].size));
            Line { y, bottom: y, size, cells: cells(&members, y) }
        })
        .collect()
}

/// A line's glyphs without an operation that draws the text of one of the few before it again at
/// (nearly) the same place: simulated bold, written once.
fn without_overdrawn_runs(members: Vec<Glyph>) -> Vec<Glyph> {
    let mut runs: Vec<Vec<Glyph>> = Vec::new();
    for g in members {
        match runs.last_mut() {
            Some(run) if run[0].run == g.run => run.push(g),
            _ => runs.push(vec![g]),
        }
    }
    let text = |run: &[Glyph]| run.iter().map(|g| g.text.as_str()).collect::<String>();
    let mut kept: Vec<Vec<Glyph>> = Vec::with_capacity(runs.len());
    for run in runs {
        let overdrawn = kept
            .iter()
            .rev()
            .take(OVERDRAWN_LOOKBACK)
            .any(|k| (k[0].x - run[0].x).abs() < 0.3 * k[0].advance.max(run[0].advance) && text(k) == text(&run));
        if !overdrawn {
            kept.push(run);
        }
    }
    kept.into_iter().flatten().collect()
}

/// One line's glyphs (operations in order, module doc) as cells. Blank glyphs (spaces, U+3000) are
/// kept in the text and move the pen, as the writer drew them, but do not widen a cell.
fn cells(members: &[Glyph], y: f64) -> Vec<Cell> {
    let mut cells: Vec<Cell> = Vec::new();
    let mut last: Option<&Glyph> = None;
    for g in members {
        let blank = g.text.trim().is_empty();
        match (cells.last_mut(), last) {
            (Some(cell), Some(p)) => {
                let em = p.size.max(g.size);
                let word_gap = if p.exact { WORD_GAP } else { ESTIMATED_WORD_GAP };
                let gap = g.x - (p.x + p.advance);
                let same_run = p.run == g.run;
                // Drawn back over the operation before it: a value written over a form's blanks,
                // or text over text. (An estimated advance may overshoot: that is only a space.)
                let over = p.exact && gap < -OVERLAP * em;
                if !blank && !same_run && (gap > CELL_GAP * em || over) {
                    cells.push(new_cell(g, y));
                } else {
                    let spaced = g.space_before || (!same_run && (gap > word_gap * em || gap < -em));
                    if !blank && spaced && !cell.text.ends_with(char::is_whitespace) {
                        cell.text.push(' ');
                    }
                    cell.text.push_str(&g.text);
                    if !blank {
                        cell.x1 = cell.x1.max(g.x + g.advance);
                        cell.last_x1 = cell.x1;
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
    let x1 = g.x + g.advance;
    Cell {
        x0: g.x,
        x1,
        first_y: y,
        last_y: y,
        last_x0: g.x,
        last_x1: x1,
        // The fallback's glyph is a whole string: its first character's share.
        first_advance: g.advance / g.text.trim().chars().count().max(1) as f64,
        size: g.size,
        text: g.text.clone(),
    }
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

fn similar_size(a: f64, b: f64) -> bool {
    (a - b).abs() <= SIMILAR_SIZE * a.max(b)
}

/// A digit, full-width or ASCII, or a number written in Han numerals (二〇二六年, 十九日, 三次).
fn has_digit(cell: &Cell) -> bool {
    let chars: Vec<char> = cell.text.chars().collect();
    let numeral = |c: char| "〇零一二三四五六七八九十".contains(c);
    // Roman numerals (Ⅲ类) and Han numerals before 年/月/日/次 or a grade's 级/类/等 count too: a
    // date, a frequency and a discharge grade are values as much as 45 is.
    chars.iter().any(|&c| c.is_ascii_digit() || ('０'..='９').contains(&c) || c == '〇' || ('Ⅰ'..='ⅻ').contains(&c))
        || chars.windows(2).any(|w| numeral(w[0]) && "年月日次级类等".contains(w[1]))
}

/// A label with a colon starts its cell: a few Han characters (perhaps spaced out) before it.
fn labelled(cell: &Cell) -> bool {
    cell.text.trim().split_once(['：', ':']).is_some_and(|(label, _)| {
        let han = label.chars().filter(|c| is_han(*c)).count();
        (2..=10).contains(&han) && label.chars().all(|c| is_han(c) || c.is_whitespace())
    })
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
        // A hyphen joins only a word broken inside it (NH3- and N): never a lone dash and a number.
        (Some(a), Some(b)) => {
            let word_hyphen = a == '-' && b.is_ascii_alphabetic() && first.chars().rev().nth(1).is_some_and(|c| c.is_ascii_alphanumeric());
            (wide(a) && wide(b)) || word_hyphen || (wide(a) && !b.is_ascii_alphanumeric())
        }
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
        match continuation_targets(lines, i) {
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
    if line.cells.is_empty() {
        return None;
    }
    let mut targets = Vec::with_capacity(line.cells.len());
    for cell in &line.cells {
        let (j, k) = wrapped_from(lines, i, cell)?;
        if targets.contains(&(j, k)) {
            return None;
        }
        targets.push((j, k));
    }
    Some(targets)
}

/// The cell (line `j` < `i`, index) that `cell`, of line `i`, is the next line of, if the page
/// shows that the text broke there (module doc).
fn wrapped_from(lines: &[Line], i: usize, cell: &Cell) -> Option<(usize, usize)> {
    if has_digit(cell) || labelled(cell) {
        return None;
    }
    let (j, k) = nearest_above(lines, i, cell)?;
    let above = &lines[j].cells[k];
    // The same text again is the next row's value (合格 under 合格), not the rest of this one.
    if above.text.trim() == cell.text.trim() {
        return None;
    }
    let em = above.size.max(cell.size);
    let distance = cell.first_y - above.last_y;
    let at_pitch = distance > SAME_ROW * em && distance <= WRAP_PITCH * em;
    let narrow = cell.x1 - cell.x0 <= above.last_x1 - above.last_x0 + WIDER * em;
    if !at_pitch || !similar_size(above.size, cell.size) || !narrow || !aligned(above, cell) || has_digit(above) {
        return None;
    }
    // Only a cell in a row of cells (a table, pairs of labels and values) is continued this way:
    // a line of one cell (a title, a paragraph) keeps its next line.
    let in_row = lines[j].cells.len() >= 2;
    if !in_row || above.text.trim_end().ends_with(['：', ':']) || in_first_column(lines, j, i, cell) {
        return None;
    }
    full(lines, j, k, i, cell).then_some((j, k))
}

/// Whether the last line of cell `k` of line `j` was full, so that `next` (of line `i`) is where its
/// text went on. Beside a next cell of its row, the room left before that cell must be less than
/// `next`'s first glyph and [`FULL_GAP`] ems (the two cells' padding). Either way the rows around
/// must show that `next` is a line inside a row, not a row: it lies closer below than
/// [`ROW_SHARE`] of the pitch of the lines that start rows (that have a cell in the first
/// column); with fewer than two such lines nothing shows it.
fn full(lines: &[Line], j: usize, k: usize, i: usize, next: &Cell) -> bool {
    let above = &lines[j].cells[k];
    let em = above.size.max(next.size);
    let padded = match lines[j].cells.get(k + 1) {
        Some(right) => right.x0 - above.last_x1 < next.first_advance + FULL_GAP * em,
        None => true,
    };
    padded && row_pitch(lines, j, i, em).is_some_and(|pitch| next.first_y - above.last_y < ROW_SHARE * pitch)
}

/// The least distance between consecutive lines that start rows (a cell in the leftmost column of
/// the lines within [`ROW_WINDOW`] ems of lines `j` to `i`, or two or more cells).
fn row_pitch(lines: &[Line], j: usize, i: usize, em: f64) -> Option<f64> {
    let (top, bottom) = (lines[j].y - ROW_WINDOW * em, lines[i].y + ROW_WINDOW * em);
    let window = || lines.iter().filter(move |l| l.y >= top && l.y <= bottom);
    let leftmost = window().flat_map(|l| l.cells.iter()).map(|c| c.x0).fold(f64::INFINITY, f64::min);
    // A line of two or more cells is a row of its own too: under a first column merged over two
    // rows, only every other row starts in it, and the pitch measured from those alone is doubled.
    let starts: Vec<f64> =
        window().filter(|l| l.cells.len() >= 2 || l.cells.iter().any(|c| c.x0 <= leftmost + ALIGNED * em)).map(|l| l.y).collect();
    starts.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0.0).reduce(f64::min)
}

/// The cell nearest above `cell` (by its last line) among the lines before `i` that overlaps it
/// horizontally: what stands directly above it in its column.
fn nearest_above(lines: &[Line], i: usize, cell: &Cell) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize, f64)> = None;
    for (j, line) in lines[..i].iter().enumerate() {
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
    let leftmost =
        lines.iter().filter(|l| l.y >= top && l.y <= bottom).flat_map(|l| l.cells.iter()).map(|c| c.x0).fold(f64::INFINITY, f64::min);
    cell.x0 <= leftmost + ALIGNED * em
}

/// Joins lines of similar size closer than [`SAME_ROW`] ems into rows spanning at most
/// [`ROW_SPAN`] ems (module doc): a cell of the lower line under a cell of the upper is the next
/// line of that cell, the others are the row's other cells.
fn merge_centred_rows(lines: &mut Vec<Line>) {
    let mut i = 1;
    while i < lines.len() {
        let (above, below) = (&lines[i - 1], &lines[i]);
        let em = above.size.min(below.size);
        let close = below.y - above.bottom < SAME_ROW * em && below.y - above.y <= ROW_SPAN * em;
        // A cell beside the upper line's cells that wraps a cell of a row above belongs to that row.
        let wraps_earlier = || below.cells.iter().any(|c| !above.cells.iter().any(|u| overlaps(u, c)) && wraps_before(lines, i - 1, c));
        // A value under a value is the next row's, never the second line of one cell: two rows a
        // tight pitch apart, bridged by a cell centred between them (a sampling point spanning
        // both), stay two rows.
        let stacks_values = || below.cells.iter().any(|c| has_digit(c) && above.cells.iter().any(|u| overlaps(u, c) && has_digit(u)));
        if close && similar_size(above.size, below.size) && !wraps_earlier() && !stacks_values() {
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

/// Whether `cell` would be the next line of a cell of the lines before `j`, by position and text
/// alone: at a line's distance below it, aligned, neither holding a digit.
fn wraps_before(lines: &[Line], j: usize, cell: &Cell) -> bool {
    let Some((m, k)) = nearest_above(lines, j, cell) else { return false };
    let above = &lines[m].cells[k];
    let em = above.size.max(cell.size);
    let distance = cell.first_y - above.last_y;
    distance > SAME_ROW * em && distance <= WRAP_PITCH * em && aligned(above, cell) && !has_digit(above) && !has_digit(cell)
}

/// `next` as the next line of `cell`.
fn append(cell: &mut Cell, next: Cell) {
    cell.text = join_wrapped(&cell.text, &next.text);
    cell.x0 = cell.x0.min(next.x0);
    cell.x1 = cell.x1.max(next.x1);
    cell.last_y = next.last_y;
    (cell.last_x0, cell.last_x1) = (next.last_x0, next.last_x1);
}

#[cfg(test)]
mod tests;
