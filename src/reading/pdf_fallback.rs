//! Fallback PDF text extraction over lopdf: ToUnicode CMaps, predefined UCS-2 CMaps, simple encodings.
//!
//! This reader exists for the PDFs the main reader cannot handle: CJK fonts that
//! are not embedded and use a predefined Unicode CMap (`UniGB-UCS2-H`, e.g.
//! reportlab's `STSong-Light`), embedded CFF CJK fonts (`CIDFontType0C`), and
//! ordinary simple fonts. It works per page:
//!
//! * fonts come from the page resources (inherited ones included) and, inside
//!   Form XObjects, from the form's own resources;
//! * string bytes are decoded by the font's `/ToUnicode` CMap when there is one,
//!   else by a predefined Unicode CMap (`*-UCS2-*`, `*-UTF16-*`, `*-UTF8-*`,
//!   `*-UTF32-*`), else — for simple fonts — by `/Encoding` (WinAnsi,
//!   MacRoman, Standard, `/Differences` glyph names). Codes that none of these
//!   maps (e.g. `Identity-H` without `/ToUnicode`) give no text and are counted
//!   in [`ExtractStats::unmapped_codes`];
//! * text positions follow the text and graphics state (`cm`, `q`/`Q`, `Tm`,
//!   `Td`, `TD`, `T*`, `TL`, `'`, `"`, `Tc`, `Tw`, `Tz`, `Ts`) and glyph widths.
//!   A fragment whose baseline is within half a font size of an existing line
//!   of the page is appended to that line (content order is kept, nothing is
//!   sorted); a forward jump wider than ~0.3 em (1 em when widths are only
//!   estimated) or a `TJ` adjustment below −200 inserts a space.
//!
//! Hostile input: no `unwrap`, no unchecked indexing or integer arithmetic on
//! file data; Form XObject nesting, operator count, CMap sizes and the total
//! output (2 MiB of text per document) are bounded.
//!
//! Not handled: vertical writing (each `Tj` of a `-V` font is placed but lines
//! are not laid out vertically), rotated text layout, Type3 glyphs without
//! `/ToUnicode` or glyph names, legacy multi-byte CMaps without `/ToUnicode`
//! (`GBK-EUC-H`, `B5pc-H`, …: that needs code-page tables), `/ActualText`,
//! annotations (form field values), passwords: a file that needs a user
//! password is refused with [`FallbackError::Encrypted`]. (A file encrypted
//! with an empty user password — owner password / permissions only — is
//! decrypted by lopdf itself while loading, loses its `/Encrypt` entry and is
//! read normally, as viewers and `pdftotext` do.)

// Nested `if let`s instead of let-chains keep this file building on edition 2021 too.
#![allow(clippy::collapsible_if)]

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use lopdf::content::{Content, Operation};
use lopdf::{Dictionary, Document, Object, ObjectId};

/// Text of one page, in content order, one entry per visual line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageText {
    /// 1-based page number.
    pub page: u32,
    /// Trimmed, non-empty lines.
    pub lines: Vec<String>,
}

/// Why a PDF could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackError {
    /// lopdf could not load the file (truncated, garbage, unsupported).
    Parse(String),
    /// The trailer has `/Encrypt` after loading: the file needs a password.
    /// No decryption is attempted.
    Encrypted,
    /// The file loaded but its page tree has no pages.
    NoPages,
}

impl fmt::Display for FallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FallbackError::Parse(msg) => write!(f, "PDF could not be parsed: {msg}"),
            FallbackError::Encrypted => f.write_str("PDF is encrypted"),
            FallbackError::NoPages => f.write_str("PDF has no pages"),
        }
    }
}

impl std::error::Error for FallbackError {}

/// Counters a caller can use to judge the result (e.g. to decide on OCR).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractStats {
    /// Character codes shown on the pages that no mapping could turn into text.
    pub unmapped_codes: u64,
    /// The text limit or the operator budget was reached; later text is missing.
    pub truncated: bool,
}

/// Extract the text of every page, in page order.
pub fn extract_pages(bytes: &[u8]) -> Result<Vec<PageText>, FallbackError> {
    extract_pages_with_stats(bytes).map(|(pages, _)| pages)
}

/// [`extract_pages`] plus counters about what could not be decoded.
pub fn extract_pages_with_stats(bytes: &[u8]) -> Result<(Vec<PageText>, ExtractStats), FallbackError> {
    if bytes.is_empty() {
        return Err(FallbackError::Parse("empty input".to_string()));
    }
    let doc = match Document::load_mem(bytes) {
        Ok(doc) => doc,
        Err(lopdf::Error::InvalidPassword) | Err(lopdf::Error::Decryption(_)) => {
            return Err(FallbackError::Encrypted);
        }
        Err(e) => return Err(FallbackError::Parse(e.to_string())),
    };
    if doc.trailer.get(b"Encrypt").is_ok() {
        return Err(FallbackError::Encrypted);
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(FallbackError::NoPages);
    }
    let mut ex = Extractor::new(&doc);
    let mut out = Vec::with_capacity(pages.len());
    for (number, id) in pages {
        let lines = ex.page(id);
        out.push(PageText { page: number, lines });
    }
    Ok((out, ex.stats))
}

// ---------------------------------------------------------------------------
// Limits

/// Total text kept per document, in UTF-8 bytes.
const MAX_TEXT_BYTES: usize = 2 * 1024 * 1024;
/// Content stream operators interpreted per document.
const MAX_OPS: usize = 5_000_000;
/// Nesting of Form XObjects.
const MAX_FORM_DEPTH: usize = 8;
/// Form XObject invocations per page.
const MAX_FORMS_PER_PAGE: usize = 1000;
/// Depth of the `q` stack that is actually stored.
const MAX_GSTATE_STACK: usize = 128;
/// Page-tree levels walked up for inherited resources.
const MAX_TREE_DEPTH: usize = 64;
/// Mappings stored per CMap (all range expansions included).
const MAX_CMAP_ENTRIES: usize = 1 << 17;
/// Codes expanded from one CMap range.
const MAX_RANGE_LEN: u32 = 1 << 16;
/// Lines of the page searched for a matching baseline.
const MAX_LINE_LOOKBACK: usize = 256;
/// Decompressed content-stream bytes parsed per document.
const MAX_CONTENT_BYTES: usize = 256 * 1024 * 1024;

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

fn num(o: &Object) -> Option<f32> {
    let v = match o {
        Object::Integer(i) => *i as f32,
        Object::Real(r) => *r,
        _ => return None,
    };
    v.is_finite().then_some(v)
}

// ---------------------------------------------------------------------------
// Fonts

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CodeRange {
    len: usize,
    lo: [u8; 4],
    hi: [u8; 4],
}

/// How a string is cut into character codes.
#[derive(Debug, Clone, PartialEq)]
enum Split {
    One,
    Two,
    /// UTF-16BE: 2 bytes, or 4 for a surrogate pair.
    Utf16,
    Utf8,
    Four,
    /// Legacy EUC-style CMaps without codespace info: ASCII one byte, else two.
    Mixed,
    Codespace(Vec<CodeRange>),
}

/// Codes that are Unicode themselves (predefined Unicode CMaps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direct {
    None,
    Ucs2,
    Utf16,
    Utf8,
    Utf32,
}

#[derive(Debug)]
enum ToUni {
    None,
    Map(CMap),
    /// `/ToUnicode /Identity-H`: codes are UCS-2.
    Identity,
}

#[derive(Debug)]
enum Widths {
    Simple {
        first: i64,
        widths: Vec<f32>,
        missing: f32,
    },
    Cid {
        map: HashMap<u32, f32>,
        default: f32,
    },
    /// No width information: estimate from the decoded text.
    Guess,
}

#[derive(Debug)]
struct Font {
    /// Simple fonts: byte → text from /Encoding.
    table: Option<Vec<Option<Box<str>>>>,
    split: Split,
    direct: Direct,
    to_unicode: ToUni,
    /// Type0 with an embedded CMap: code → CID.
    cid_map: Option<CMap>,
    identity_cid: bool,
    widths: Widths,
    /// Glyph space → text space (1/1000, or FontMatrix `a` for Type3).
    scale: f32,
    /// Widths come from the file (not guessed).
    exact: bool,
    vertical: bool,
}

impl Font {
    /// Unknown font (no `Tf`, or a name missing from the resources).
    fn fallback() -> Font {
        Font {
            table: Some(base_table(BaseEncoding::Default)),
            split: Split::One,
            direct: Direct::None,
            to_unicode: ToUni::None,
            cid_map: None,
            identity_cid: false,
            widths: Widths::Guess,
            scale: 0.001,
            exact: false,
            vertical: false,
        }
    }

    /// Length in bytes (≥ 1 when `bytes` is not empty) and value of the next code.
    fn next_code(&self, bytes: &[u8]) -> (u32, usize) {
        let first = match bytes.first() {
            Some(b) => *b,
            None => return (0, 0),
        };
        let len = match &self.split {
            Split::One => 1,
            Split::Two => 2,
            Split::Four => 4,
            Split::Mixed => {
                if first < 0x80 {
                    1
                } else {
                    2
                }
            }
            Split::Utf8 => match first {
                0x00..=0x7F => 1,
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            },
            Split::Utf16 => {
                let hi = be_value(bytes.get(..2).unwrap_or(bytes));
                let lo = bytes.get(2..4).map(be_value).unwrap_or(0);
                if (0xD800..0xDC00).contains(&hi) && (0xDC00..0xE000).contains(&lo) {
                    4
                } else {
                    2
                }
            }
            Split::Codespace(ranges) => codespace_len(ranges, bytes),
        };
        let len = len.clamp(1, bytes.len());
        let code = bytes.get(..len).map(be_value).unwrap_or(0);
        (code, len)
    }

    /// Append the text of one code; false when nothing maps it.
    fn decode(&self, code: u32, len: usize, chunk: &[u8], out: &mut String) -> bool {
        match &self.to_unicode {
            ToUni::Map(cmap) => {
                if let Some(s) = cmap.lookup(len, code) {
                    push_clean(out, s);
                    return true;
                }
            }
            ToUni::Identity => {
                if let Some(c) = char::from_u32(code) {
                    push_clean_char(out, c);
                    return true;
                }
            }
            ToUni::None => {}
        }
        let direct = match self.direct {
            Direct::None => None,
            Direct::Ucs2 | Direct::Utf32 => char::from_u32(code).map(String::from),
            Direct::Utf16 => {
                let units: Vec<u16> = chunk.chunks(2).map(|p| be_value(p) as u16).collect();
                let s: String = char::decode_utf16(units).filter_map(Result::ok).collect();
                (!s.is_empty()).then_some(s)
            }
            Direct::Utf8 => std::str::from_utf8(chunk).ok().map(str::to_string),
        };
        if let Some(s) = direct {
            push_clean(out, &s);
            return true;
        }
        if let Some(table) = &self.table {
            if let Some(Some(s)) = usize::try_from(code).ok().and_then(|i| table.get(i)) {
                push_clean(out, s);
                return true;
            }
        }
        false
    }

    /// Advance of one code in text space per unit of font size.
    fn width(&self, code: u32, decoded: &str) -> f32 {
        let guess = || {
            if decoded.chars().all(|c| (c as u32) < 0x2E80) {
                0.5
            } else {
                1.0
            }
        };
        let w = match &self.widths {
            Widths::Simple { first, widths, missing } => {
                let idx = i64::from(code).checked_sub(*first).and_then(|i| usize::try_from(i).ok());
                let w = idx.and_then(|i| widths.get(i)).copied().unwrap_or(*missing);
                w * self.scale
            }
            Widths::Cid { map, default } => {
                let cid = if self.identity_cid { Some(code) } else { self.cid_map.as_ref().and_then(|m| m.cid(code)) };
                match cid {
                    Some(cid) => map.get(&cid).copied().unwrap_or(*default) * self.scale,
                    None => guess(),
                }
            }
            Widths::Guess => guess(),
        };
        if w.is_finite() {
            w
        } else {
            0.0
        }
    }
}

fn be_value(bytes: &[u8]) -> u32 {
    bytes.iter().take(4).fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
}

fn codespace_len(ranges: &[CodeRange], bytes: &[u8]) -> usize {
    for len in 1..=4usize {
        let Some(prefix) = bytes.get(..len) else { break };
        let hit =
            ranges.iter().any(|r| r.len == len && prefix.iter().zip(r.lo.iter().zip(r.hi.iter())).all(|(b, (lo, hi))| lo <= b && b <= hi));
        if hit {
            return len;
        }
    }
    // Not in any range: consume the shortest code length the CMap knows.
    ranges.iter().map(|r| r.len).min().unwrap_or(1)
}

fn push_clean_char(out: &mut String, c: char) {
    match c {
        '\t' | '\n' | '\r' | '\u{a0}' => out.push(' '),
        c if c.is_control() => {}
        c => out.push(c),
    }
}

fn push_clean(out: &mut String, s: &str) {
    for c in s.chars() {
        push_clean_char(out, c);
    }
}

mod cmap;
mod encoding;

use cmap::*;
use encoding::*;

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
    current: Option<usize>,
    pending_space: bool,
    forms: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FontKey {
    Id(ObjectId),
    Direct(usize),
}

struct Extractor<'a> {
    doc: &'a Document,
    fonts: HashMap<FontKey, Rc<Font>>,
    default_font: Rc<Font>,
    /// Parsed Form XObjects, so a form drawn many times is decoded once.
    forms: HashMap<ObjectId, Rc<Vec<Operation>>>,
    stats: ExtractStats,
    text_bytes: usize,
    ops_left: usize,
    content_bytes_left: usize,
}

impl<'a> Extractor<'a> {
    fn new(doc: &'a Document) -> Self {
        Extractor {
            doc,
            fonts: HashMap::new(),
            default_font: Rc::new(Font::fallback()),
            forms: HashMap::new(),
            stats: ExtractStats::default(),
            text_bytes: 0,
            ops_left: MAX_OPS,
            content_bytes_left: MAX_CONTENT_BYTES,
        }
    }

    fn resolve(&self, o: &'a Object) -> Option<&'a Object> {
        self.doc.dereference(o).ok().map(|(_, o)| o)
    }

    fn dict(&self, o: &'a Object) -> Option<&'a Dictionary> {
        match self.resolve(o)? {
            Object::Dictionary(d) => Some(d),
            Object::Stream(s) => Some(&s.dict),
            _ => None,
        }
    }

    fn get(&self, d: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
        d.get(key).ok().and_then(|o| self.resolve(o))
    }

    fn get_name(&self, d: &'a Dictionary, key: &[u8]) -> Option<&'a [u8]> {
        self.get(d, key).and_then(|o| o.as_name().ok())
    }

    fn get_num(&self, d: &'a Dictionary, key: &[u8]) -> Option<f32> {
        self.get(d, key).and_then(num)
    }

    fn page(&mut self, page_id: ObjectId) -> Vec<String> {
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
            current: None,
            pending_space: false,
            forms: 0,
        };
        let mut active = Vec::new();
        self.run(&ops, &resources, &mut st, 0, &mut active);
        st.lines.into_iter().map(|l| l.text.trim().to_string()).filter(|l| !l.is_empty()).collect()
    }

    /// The page's /Resources followed by its ancestors' (nearest first).
    fn inherited_resources(&self, page: &'a Dictionary) -> Vec<&'a Dictionary> {
        let mut chain = Vec::new();
        let mut node = Some(page);
        let mut seen: Vec<ObjectId> = Vec::new();
        while let Some(n) = node {
            if seen.len() > MAX_TREE_DEPTH {
                break;
            }
            if let Some(r) = n.get(b"Resources").ok().and_then(|o| self.dict(o)) {
                chain.push(r);
            }
            node = match n.get(b"Parent") {
                Ok(Object::Reference(id)) if !seen.contains(id) => {
                    seen.push(*id);
                    self.doc.get_dictionary(*id).ok()
                }
                _ => None,
            };
        }
        chain
    }

    fn lookup(&self, resources: &[&'a Dictionary], category: &[u8], name: &[u8]) -> Option<&'a Object> {
        resources.iter().find_map(|r| {
            let d = r.get(category).ok().and_then(|o| self.dict(o))?;
            d.get(name).ok()
        })
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

    /// Decompressed stream data, charged against the document's content budget.
    fn content_bytes(&mut self, stream: &lopdf::Stream) -> Option<Vec<u8>> {
        let data = stream.decompressed_content().ok()?;
        match self.content_bytes_left.checked_sub(data.len()) {
            Some(left) => {
                self.content_bytes_left = left;
                Some(data)
            }
            None => {
                self.content_bytes_left = 0;
                self.stats.truncated = true;
                None
            }
        }
    }

    fn font(&mut self, resources: &[&'a Dictionary], name: &[u8]) -> Option<Rc<Font>> {
        let obj = self.lookup(resources, b"Font", name)?;
        let key = match obj {
            Object::Reference(id) => FontKey::Id(*id),
            other => FontKey::Direct(other as *const Object as usize),
        };
        if let Some(f) = self.fonts.get(&key) {
            return Some(f.clone());
        }
        let dict = self.dict(obj)?;
        let font = Rc::new(self.build_font(dict));
        self.fonts.insert(key, font.clone());
        Some(font)
    }

    fn stream_data(&self, o: &'a Object) -> Option<Vec<u8>> {
        match self.resolve(o)? {
            Object::Stream(s) => s.decompressed_content().ok(),
            _ => None,
        }
    }

    fn build_font(&self, fd: &'a Dictionary) -> Font {
        let to_unicode = match self.get(fd, b"ToUnicode") {
            Some(Object::Stream(_)) => fd
                .get(b"ToUnicode")
                .ok()
                .and_then(|o| self.stream_data(o))
                .map(|data| ToUni::Map(CMap::parse(&data)))
                .unwrap_or(ToUni::None),
            Some(Object::Name(n)) if n.starts_with(b"Identity") => ToUni::Identity,
            _ => ToUni::None,
        };
        if self.get_name(fd, b"Subtype") == Some(b"Type0".as_slice()) {
            self.build_type0(fd, to_unicode)
        } else {
            self.build_simple(fd, to_unicode)
        }
    }

    fn build_type0(&self, fd: &'a Dictionary, to_unicode: ToUni) -> Font {
        let mut split = Split::Two;
        let mut direct = Direct::None;
        let mut cid_map = None;
        let mut identity_cid = false;
        let mut vertical = false;
        let mut legacy = false;
        match self.get(fd, b"Encoding") {
            Some(Object::Name(n)) => {
                let n = n.as_slice();
                vertical = n.ends_with(b"-V");
                let base = n.strip_suffix(b"-H").or_else(|| n.strip_suffix(b"-V")).unwrap_or(n);
                if base == b"Identity" {
                    identity_cid = true;
                } else if base.ends_with(b"UCS2") {
                    direct = Direct::Ucs2;
                } else if base.ends_with(b"UTF16") {
                    split = Split::Utf16;
                    direct = Direct::Utf16;
                } else if base.ends_with(b"UTF8") {
                    split = Split::Utf8;
                    direct = Direct::Utf8;
                } else if base.ends_with(b"UTF32") {
                    split = Split::Four;
                    direct = Direct::Utf32;
                } else {
                    split = Split::Mixed;
                    legacy = true;
                }
            }
            Some(Object::Stream(s)) => {
                vertical = self.get_num(&s.dict, b"WMode") == Some(1.0);
                if let Ok(data) = s.decompressed_content() {
                    let cmap = CMap::parse(&data);
                    if !cmap.codespace.is_empty() {
                        split = Split::Codespace(cmap.codespace.clone());
                    }
                    cid_map = Some(cmap);
                }
            }
            _ => identity_cid = true,
        }
        if legacy {
            if let ToUni::Map(cm) = &to_unicode {
                if !cm.codespace.is_empty() {
                    split = Split::Codespace(cm.codespace.clone());
                }
            }
        }
        let descendant =
            self.get(fd, b"DescendantFonts").and_then(|o| o.as_array().ok()).and_then(|a| a.first()).and_then(|o| self.dict(o));
        let exact = identity_cid || cid_map.is_some();
        let widths = match descendant {
            Some(d) => Widths::Cid {
                map: self.get(d, b"W").and_then(|o| o.as_array().ok()).map(|a| self.cid_widths(a)).unwrap_or_default(),
                default: self.get_num(d, b"DW").unwrap_or(1000.0),
            },
            None => Widths::Cid { map: HashMap::new(), default: 1000.0 },
        };
        Font { table: None, split, direct, to_unicode, cid_map, identity_cid, widths, scale: 0.001, exact, vertical }
    }

    fn cid_widths(&self, w: &'a [Object]) -> HashMap<u32, f32> {
        let mut map = HashMap::new();
        let mut budget: usize = 1 << 18;
        let mut i = 0usize;
        let as_cid = |o: Option<&'a Object>| -> Option<u32> {
            let v = self.resolve(o?)?.as_i64().ok()?;
            u32::try_from(v).ok().filter(|v| *v <= 0xFFFF)
        };
        while let Some(first) = as_cid(w.get(i)) {
            match w.get(i + 1).and_then(|o| self.resolve(o)) {
                Some(Object::Array(list)) => {
                    for (cid, v) in (first..=0xFFFF).zip(list.iter()) {
                        if budget == 0 {
                            return map;
                        }
                        budget -= 1;
                        if let Some(v) = self.resolve(v).and_then(num) {
                            map.insert(cid, v);
                        }
                    }
                    i += 2;
                }
                Some(_) => {
                    let (Some(last), Some(v)) = (as_cid(w.get(i + 1)), w.get(i + 2).and_then(|o| self.resolve(o)).and_then(num)) else {
                        break;
                    };
                    for cid in first..=last {
                        if budget == 0 {
                            return map;
                        }
                        budget -= 1;
                        map.insert(cid, v);
                    }
                    i += 3;
                }
                None => break,
            }
        }
        map
    }

    fn build_simple(&self, fd: &'a Dictionary, to_unicode: ToUni) -> Font {
        let type3 = self.get_name(fd, b"Subtype") == Some(b"Type3".as_slice());
        let mut table = base_table(BaseEncoding::Default);
        match self.get(fd, b"Encoding") {
            Some(Object::Name(n)) => {
                if let Some(enc) = base_encoding(n) {
                    table = base_table(enc);
                }
            }
            Some(Object::Dictionary(enc)) => {
                if let Some(base) = self.get_name(enc, b"BaseEncoding").and_then(base_encoding) {
                    table = base_table(base);
                }
                if let Some(diffs) = self.get(enc, b"Differences").and_then(|o| o.as_array().ok()) {
                    let mut code: Option<usize> = None;
                    for item in diffs {
                        match self.resolve(item) {
                            Some(Object::Integer(n)) => code = usize::try_from(*n).ok(),
                            Some(Object::Name(name)) => {
                                if let Some(c) = code {
                                    if let Some(slot) = table.get_mut(c) {
                                        *slot = glyph_text(name).map(String::into_boxed_str);
                                    }
                                    code = c.checked_add(1);
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
        let scale = if type3 {
            self.get(fd, b"FontMatrix").and_then(|o| o.as_array().ok()).and_then(|a| a.first()).and_then(num).map(f32::abs).unwrap_or(0.001)
        } else {
            0.001
        };
        let widths_arr = self.get(fd, b"Widths").and_then(|o| o.as_array().ok());
        let (widths, exact) = match widths_arr {
            Some(arr) => {
                let first = self.get(fd, b"FirstChar").and_then(|o| o.as_i64().ok()).unwrap_or(0);
                let missing = self
                    .get(fd, b"FontDescriptor")
                    .and_then(|o| o.as_dict().ok())
                    .and_then(|d| self.get_num(d, b"MissingWidth"))
                    .unwrap_or(0.0);
                let list = arr.iter().take(256).map(|o| self.resolve(o).and_then(num).unwrap_or(missing)).collect();
                (Widths::Simple { first, widths: list, missing }, true)
            }
            None => (Widths::Guess, false),
        };
        Font {
            table: Some(table),
            split: Split::One,
            direct: Direct::None,
            to_unicode,
            cid_map: None,
            identity_cid: false,
            widths,
            scale,
            exact,
            vertical: false,
        }
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
        let (x1, _) = st.tm.mul(&st.gs.ctm).apply(0.0, st.gs.rise);
        self.place(st, text, x0, y0, x1, size, font.exact);
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

    #[allow(clippy::too_many_arguments)]
    fn place(&mut self, st: &mut PageState, text: String, x0: f32, y0: f32, x1: f32, size: f32, exact: bool) {
        if text.is_empty() {
            return;
        }
        let force_space = std::mem::take(&mut st.pending_space);
        if self.text_bytes.saturating_add(text.len()) > MAX_TEXT_BYTES {
            self.stats.truncated = true;
            return;
        }
        let size = if size.is_finite() && size > 0.0 { size } else { 1.0 };
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

// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests;
