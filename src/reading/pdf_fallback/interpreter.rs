//! Page interpretation: graphics and text state, the text operators, Form XObjects, and placing text into lines.

use lopdf::content::Content;

use super::*;

// ---------------------------------------------------------------------------
// Geometry

#[derive(Debug, Clone, Copy, PartialEq)]
struct Matrix {
    a: f32,
    b: f32,
    c: f32,
    d: f32,
    e: f32,
    f: f32,
}

impl Matrix {
    const IDENTITY: Matrix = Matrix { a: 1.0, b: 0.0, c: 0.0, d: 1.0, e: 0.0, f: 0.0 };

    fn translate(x: f32, y: f32) -> Matrix {
        Matrix { e: x, f: y, ..Matrix::IDENTITY }
    }

    /// `self × other` in PDF's row-vector convention (apply `self` first).
    fn mul(&self, o: &Matrix) -> Matrix {
        Matrix {
            a: self.a * o.a + self.b * o.c,
            b: self.a * o.b + self.b * o.d,
            c: self.c * o.a + self.d * o.c,
            d: self.c * o.b + self.d * o.d,
            e: self.e * o.a + self.f * o.c + o.e,
            f: self.e * o.b + self.f * o.d + o.f,
        }
    }

    fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        (x * self.a + y * self.c + self.e, x * self.b + y * self.d + self.f)
    }

    fn from_operands(ops: &[Object]) -> Option<Matrix> {
        let n = |i: usize| ops.get(i).and_then(num);
        Some(Matrix { a: n(0)?, b: n(1)?, c: n(2)?, d: n(3)?, e: n(4)?, f: n(5)? })
    }
}

// ---------------------------------------------------------------------------
// Page interpretation

#[derive(Debug, Clone)]
struct GState {
    ctm: Matrix,
    font: Option<Rc<Font>>,
    size: f32,
    char_spacing: f32,
    word_spacing: f32,
    hscale: f32,
    leading: f32,
    rise: f32,
}

impl GState {
    fn new() -> GState {
        GState { ctm: Matrix::IDENTITY, font: None, size: 0.0, char_spacing: 0.0, word_spacing: 0.0, hscale: 1.0, leading: 0.0, rise: 0.0 }
    }
}

#[derive(Debug)]
struct Line {
    y: f32,
    size: f32,
    end_x: f32,
    exact: bool,
    text: String,
}

struct PageState {
    gs: GState,
    stack: Vec<GState>,
    /// `q` beyond MAX_GSTATE_STACK: matched by `Q`s that restore nothing.
    overflow: usize,
    tm: Matrix,
    tlm: Matrix,
    lines: Vec<Line>,
    /// Every string shown, where it was drawn, for the page's layout (unless there were more than
    /// MAX_PLACED: then the content-order lines are kept).
    placed: Vec<crate::reading::layout::Glyph>,
    placed_whole: bool,
    current: Option<usize>,
    pending_space: bool,
    forms: usize,
}

impl<'a> Extractor<'a> {
    pub(super) fn page(&mut self, page_id: ObjectId) -> Vec<String> {
        let Ok(page) = self.doc.get_dictionary(page_id) else { return Vec::new() };
        let resources = self.inherited_resources(page);
        let mut data = Vec::new();
        for id in self.doc.get_page_contents(page_id) {
            if self.stats.truncated {
                break;
            }
            if let Ok(Object::Stream(s)) = self.doc.get_object(id) {
                if let Some(bytes) = self.content_bytes(s) {
                    data.extend_from_slice(&bytes);
                    data.push(b'\n');
                }
            }
        }
        let ops = decode_ops(&data);
        drop(data);
        let mut st = PageState {
            gs: GState::new(),
            stack: Vec::new(),
            overflow: 0,
            tm: Matrix::IDENTITY,
            tlm: Matrix::IDENTITY,
            lines: Vec::new(),
            placed: Vec::new(),
            placed_whole: true,
            current: None,
            pending_space: false,
            forms: 0,
        };
        let mut active = Vec::new();
        self.run(&ops, &resources, &mut st, 0, &mut active);
        if st.placed_whole && !st.placed.is_empty() {
            return crate::reading::layout::page_lines(&st.placed);
        }
        st.lines.into_iter().map(|l| l.text.trim().to_string()).filter(|l| !l.is_empty()).collect()
    }

    fn run(&mut self, ops: &[Operation], resources: &[&'a Dictionary], st: &mut PageState, depth: usize, active: &mut Vec<ObjectId>) {
        for op in ops {
            if self.ops_left == 0 || self.stats.truncated {
                self.stats.truncated = true;
                return;
            }
            self.ops_left -= 1;
            let args = op.operands.as_slice();
            let arg = |i: usize| args.get(i).and_then(num);
            match op.operator.as_str() {
                "q" => {
                    if st.stack.len() < MAX_GSTATE_STACK {
                        st.stack.push(st.gs.clone());
                    } else {
                        st.overflow = st.overflow.saturating_add(1);
                    }
                }
                "Q" => {
                    if st.overflow > 0 {
                        st.overflow -= 1;
                    } else if let Some(g) = st.stack.pop() {
                        st.gs = g;
                    }
                }
                "cm" => {
                    if let Some(m) = Matrix::from_operands(args) {
                        st.gs.ctm = m.mul(&st.gs.ctm);
                    }
                }
                "BT" => {
                    st.tm = Matrix::IDENTITY;
                    st.tlm = Matrix::IDENTITY;
                }
                "Tf" => {
                    if let Some(name) = args.first().and_then(|o| o.as_name().ok()) {
                        st.gs.font = self.font(resources, name);
                    }
                    if let Some(size) = arg(1) {
                        st.gs.size = size;
                    }
                }
                "Tc" => st.gs.char_spacing = arg(0).unwrap_or(st.gs.char_spacing),
                "Tw" => st.gs.word_spacing = arg(0).unwrap_or(st.gs.word_spacing),
                "Tz" => st.gs.hscale = arg(0).map(|v| v / 100.0).unwrap_or(st.gs.hscale),
                "TL" => st.gs.leading = arg(0).unwrap_or(st.gs.leading),
                "Ts" => st.gs.rise = arg(0).unwrap_or(st.gs.rise),
                "Td" => {
                    if let (Some(x), Some(y)) = (arg(0), arg(1)) {
                        next_line(st, x, y);
                    }
                }
                "TD" => {
                    if let (Some(x), Some(y)) = (arg(0), arg(1)) {
                        st.gs.leading = -y;
                        next_line(st, x, y);
                    }
                }
                "Tm" => {
                    if let Some(m) = Matrix::from_operands(args) {
                        st.tm = m;
                        st.tlm = m;
                    }
                }
                "T*" => {
                    let l = st.gs.leading;
                    next_line(st, 0.0, -l);
                }
                "Tj" => {
                    if let Some(Object::String(s, _)) = args.first() {
                        self.show(st, s);
                    }
                }
                "'" => {
                    let l = st.gs.leading;
                    next_line(st, 0.0, -l);
                    if let Some(Object::String(s, _)) = args.first() {
                        self.show(st, s);
                    }
                }
                "\"" => {
                    if let (Some(aw), Some(ac)) = (arg(0), arg(1)) {
                        st.gs.word_spacing = aw;
                        st.gs.char_spacing = ac;
                    }
                    let l = st.gs.leading;
                    next_line(st, 0.0, -l);
                    if let Some(Object::String(s, _)) = args.get(2) {
                        self.show(st, s);
                    }
                }
                "TJ" => {
                    if let Some(Object::Array(items)) = args.first() {
                        for item in items {
                            match item {
                                Object::String(s, _) => self.show(st, s),
                                other => {
                                    if let Some(adj) = num(other) {
                                        self.adjust(st, adj);
                                    }
                                }
                            }
                        }
                    }
                }
                "Do" => {
                    if let Some(name) = args.first().and_then(|o| o.as_name().ok()) {
                        self.form(name, resources, st, depth, active);
                    }
                }
                _ => {}
            }
        }
    }

    fn form(&mut self, name: &[u8], resources: &[&'a Dictionary], st: &mut PageState, depth: usize, active: &mut Vec<ObjectId>) {
        if depth >= MAX_FORM_DEPTH || st.forms >= MAX_FORMS_PER_PAGE || self.stats.truncated {
            return;
        }
        let Some(obj) = self.lookup(resources, b"XObject", name) else { return };
        let Ok((id, Object::Stream(stream))) = self.doc.dereference(obj) else { return };
        if self.get_name(&stream.dict, b"Subtype") != Some(b"Form".as_slice()) {
            return;
        }
        if let Some(id) = id {
            if active.contains(&id) {
                return;
            }
        }
        st.forms += 1;
        let cached = id.and_then(|id| self.forms.get(&id).cloned());
        let ops = match cached {
            Some(ops) => ops,
            None => {
                let Some(data) = self.content_bytes(stream) else { return };
                let ops = Rc::new(decode_ops(&data));
                if let Some(id) = id {
                    self.forms.insert(id, ops.clone());
                }
                ops
            }
        };

        let mut chain: Vec<&'a Dictionary> = Vec::with_capacity(resources.len() + 1);
        if let Some(r) = self.get(&stream.dict, b"Resources").and_then(|o| self.dict(o)) {
            chain.push(r);
        }
        chain.extend_from_slice(resources);
        let matrix = self
            .get(&stream.dict, b"Matrix")
            .and_then(|o| o.as_array().ok())
            .and_then(|a| Matrix::from_operands(a))
            .unwrap_or(Matrix::IDENTITY);

        let saved_gs = st.gs.clone();
        let saved_stack = std::mem::take(&mut st.stack);
        let saved_overflow = std::mem::replace(&mut st.overflow, 0);
        let (saved_tm, saved_tlm) = (st.tm, st.tlm);
        st.gs.ctm = matrix.mul(&st.gs.ctm);
        if let Some(id) = id {
            active.push(id);
        }
        self.run(&ops, &chain, st, depth + 1, active);
        if id.is_some() {
            active.pop();
        }
        st.gs = saved_gs;
        st.stack = saved_stack;
        st.overflow = saved_overflow;
        st.tm = saved_tm;
        st.tlm = saved_tlm;
    }

    /// Show one string operand at the current text position.
    fn show(&mut self, st: &mut PageState, bytes: &[u8]) {
        let font = st.gs.font.clone().unwrap_or_else(|| self.default_font.clone());
        let fs = st.gs.size;
        let mut text = String::new();
        let mut advance = 0.0f32;
        let mut rest = bytes;
        while !rest.is_empty() {
            let (code, len) = font.next_code(rest);
            let Some((chunk, tail)) = rest.split_at_checked(len.max(1)) else { break };
            rest = tail;
            let before = text.len();
            if !font.decode(code, len, chunk, &mut text) {
                self.stats.unmapped_codes = self.stats.unmapped_codes.saturating_add(1);
            }
            let w = font.width(code, text.get(before..).unwrap_or(""));
            let word = if len == 1 && code == 32 { st.gs.word_spacing } else { 0.0 };
            if font.vertical {
                advance += fs + st.gs.char_spacing + word;
            } else {
                advance += (w * fs + st.gs.char_spacing + word) * st.gs.hscale;
            }
        }
        let render = st.tm.mul(&st.gs.ctm);
        let (x0, y0) = render.apply(0.0, st.gs.rise);
        let size = (fs * (render.c * render.c + render.d * render.d).sqrt()).abs();
        let shift = if font.vertical { Matrix::translate(0.0, -advance) } else { Matrix::translate(advance, 0.0) };
        st.tm = shift.mul(&st.tm);
        let (x1, y1) = st.tm.mul(&st.gs.ctm).apply(0.0, st.gs.rise);
        // The baseline's direction on the page with y down: along the text space's x axis, or down
        // its y axis for a vertical font.
        // A negative font size (or horizontal scaling) turns the glyphs round.
        let sign = if font.vertical { fs } else { fs * st.gs.hscale }.signum();
        let direction = if font.vertical { (-sign * render.c, sign * render.d) } else { (sign * render.a, -sign * render.b) };
        let (direction, det) = ((f64::from(direction.0), f64::from(direction.1)), f64::from(render.a * render.d - render.b * render.c));
        let (angle, height) = crate::reading::layout::orientation(direction, det, f64::from(fs));
        let length = direction.0.hypot(direction.1);
        let along = if length > 0.0 { (f64::from(x1 - x0) * direction.0 - f64::from(y1 - y0) * direction.1) / length } else { 0.0 };
        let shown = Shown { x0, y0, x1, size, exact: font.exact, angle, height, advance: along };
        self.place(st, text, shown);
    }

    /// A number inside a TJ array: move left by n/1000 em (right when negative).
    fn adjust(&mut self, st: &mut PageState, n: f32) {
        let vertical = st.gs.font.as_ref().is_some_and(|f| f.vertical);
        let d = -n / 1000.0 * st.gs.size;
        let shift = if vertical { Matrix::translate(0.0, d) } else { Matrix::translate(d * st.gs.hscale, 0.0) };
        st.tm = shift.mul(&st.tm);
        if n < -200.0 && !vertical {
            st.pending_space = true;
        }
    }

    /// Adds a shown string to its line, by content order (`lines`), and to the page's placed text
    /// (`placed`, y from the top) for the layout.
    fn place(&mut self, st: &mut PageState, text: String, shown: Shown) {
        let Shown { x0, y0, x1, size, exact, .. } = shown;
        if text.is_empty() {
            return;
        }
        let force_space = std::mem::take(&mut st.pending_space);
        if self.text_bytes.saturating_add(text.len()) > MAX_TEXT_BYTES {
            self.stats.truncated = true;
            return;
        }
        let size = if size.is_finite() && size > 0.0 { size } else { 1.0 };
        if st.placed.len() < MAX_PLACED {
            st.placed.push(crate::reading::layout::Glyph {
                x: f64::from(x0),
                y: -f64::from(y0),
                advance: shown.advance,
                size: shown.height,
                text: text.clone(),
                run: u32::try_from(st.placed.len()).unwrap_or(u32::MAX),
                angle: shown.angle,
                exact,
                space_before: force_space,
            });
        } else {
            st.placed_whole = false;
        }
        let same_baseline = |l: &Line| (y0 - l.y).abs() <= 0.5 * size.max(l.size);
        let mut target = st.current.filter(|i| st.lines.get(*i).is_some_and(same_baseline));
        if target.is_none() {
            let skip = st.lines.len().saturating_sub(MAX_LINE_LOOKBACK);
            target = st
                .lines
                .iter()
                .enumerate()
                .skip(skip)
                .rev()
                .find(|(_, l)| {
                    let em = size.max(l.size);
                    let slack = if l.exact { 0.5 * em } else { 2.0 * em };
                    same_baseline(l) && x0 >= l.end_x - slack
                })
                .map(|(i, _)| i);
        }
        let added = match target.and_then(|i| st.lines.get_mut(i).map(|l| (i, l))) {
            Some((i, line)) => {
                let em = size.max(line.size);
                let gap = x0 - line.end_x;
                let threshold = if line.exact { 0.3 * em } else { em };
                let space = force_space || gap > threshold || gap < -em;
                let before = line.text.len();
                if space && !line.text.ends_with(' ') && !text.starts_with(' ') {
                    line.text.push(' ');
                }
                line.text.push_str(&text);
                line.end_x = x1;
                line.exact = exact;
                line.size = line.size.max(size);
                st.current = Some(i);
                line.text.len().saturating_sub(before)
            }
            None => {
                let len = text.len();
                st.lines.push(Line { y: y0, size, end_x: x1, exact, text });
                st.current = Some(st.lines.len() - 1);
                len
            }
        };
        self.text_bytes = self.text_bytes.saturating_add(added);
    }
}

/// A shown string's geometry: where it starts (`x0`, baseline `y0`, PDF's y up) and ends (`x1`), its
/// font size as the content-order lines measure it (`size`), and, for the layout, its baseline's
/// angle, its size across the baseline (`height`) and its advance along it.
struct Shown {
    x0: f32,
    y0: f32,
    x1: f32,
    size: f32,
    exact: bool,
    angle: f64,
    height: f64,
    advance: f64,
}

fn decode_ops(data: &[u8]) -> Vec<Operation> {
    if data.is_empty() {
        return Vec::new();
    }
    Content::decode(data).map(|c| c.operations).unwrap_or_default()
}

fn next_line(st: &mut PageState, x: f32, y: f32) {
    st.tlm = Matrix::translate(x, y).mul(&st.tlm);
    st.tm = st.tlm;
}
