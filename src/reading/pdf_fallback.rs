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

// ---------------------------------------------------------------------------
// CMaps (ToUnicode and embedded encodings)

#[derive(Debug, Default)]
struct CMap {
    codespace: Vec<CodeRange>,
    uni: HashMap<u64, Box<str>>,
    cids: HashMap<u64, u32>,
}

fn cmap_key(len: usize, code: u32) -> u64 {
    ((len as u64) << 32) | u64::from(code)
}

impl CMap {
    fn lookup(&self, len: usize, code: u32) -> Option<&str> {
        if let Some(s) = self.uni.get(&cmap_key(len, code)) {
            return Some(s);
        }
        // Sloppy CMaps key codes with another width than the font uses.
        (1..=4usize).filter(|l| *l != len).find_map(|l| self.uni.get(&cmap_key(l, code))).map(|s| &**s)
    }

    fn cid(&self, code: u32) -> Option<u32> {
        (1..=4usize).find_map(|l| self.cids.get(&cmap_key(l, code)).copied())
    }

    fn entries(&self) -> usize {
        self.uni.len() + self.cids.len()
    }

    fn parse(data: &[u8]) -> CMap {
        let mut cmap = CMap::default();
        let mut lx = Lexer { s: data, i: 0 };
        while let Some(tok) = lx.token() {
            let Tok::Kw(kw) = tok else { continue };
            match kw.as_slice() {
                b"begincodespacerange" => {
                    let items = lx.section(b"endcodespacerange");
                    for pair in items.chunks(2) {
                        if let [Item::Tok(Tok::Hex(lo)), Item::Tok(Tok::Hex(hi))] = pair {
                            if lo.len() == hi.len() && (1..=4).contains(&lo.len()) {
                                let mut r = CodeRange { len: lo.len(), lo: [0; 4], hi: [0; 4] };
                                for (dst, src) in r.lo.iter_mut().zip(lo.iter()) {
                                    *dst = *src;
                                }
                                for (dst, src) in r.hi.iter_mut().zip(hi.iter()) {
                                    *dst = *src;
                                }
                                if cmap.codespace.len() < 256 {
                                    cmap.codespace.push(r);
                                }
                            }
                        }
                    }
                }
                b"beginbfchar" => {
                    let items = lx.section(b"endbfchar");
                    let mut i = 0;
                    while let (Some(src), Some(dst)) = (items.get(i), items.get(i + 1)) {
                        match (src, dst) {
                            (Item::Tok(Tok::Hex(src)), dst) => {
                                if let (Some(code), Some(text)) = (code_of(src), dst_text(dst)) {
                                    cmap.insert_uni(src.len(), code, text);
                                }
                                i += 2;
                            }
                            _ => i += 1,
                        }
                    }
                }
                b"beginbfrange" => {
                    let items = lx.section(b"endbfrange");
                    let mut i = 0;
                    while let (Some(lo), Some(hi), Some(dst)) = (items.get(i), items.get(i + 1), items.get(i + 2)) {
                        let (Item::Tok(Tok::Hex(lo)), Item::Tok(Tok::Hex(hi))) = (lo, hi) else {
                            i += 1;
                            continue;
                        };
                        i += 3;
                        let (Some(lo_code), Some(hi_code)) = (code_of(lo), code_of(hi)) else { continue };
                        if hi_code < lo_code {
                            continue;
                        }
                        let count = (hi_code - lo_code).saturating_add(1).min(MAX_RANGE_LEN);
                        match dst {
                            Item::Tok(Tok::Hex(dst)) => {
                                let base = utf16_units(dst);
                                for off in 0..count {
                                    if cmap.entries() >= MAX_CMAP_ENTRIES {
                                        break;
                                    }
                                    let mut units = base.clone();
                                    if let Some(last) = units.last_mut() {
                                        *last = last.wrapping_add(off as u16);
                                    }
                                    let text: String = char::decode_utf16(units).filter_map(Result::ok).collect();
                                    cmap.insert_uni(lo.len(), lo_code.wrapping_add(off), text);
                                }
                            }
                            Item::Array(list) => {
                                for (off, d) in (0..count).zip(list.iter()) {
                                    if let Some(text) = dst_text(&Item::Tok(d.clone())) {
                                        cmap.insert_uni(lo.len(), lo_code.wrapping_add(off), text);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                b"begincidchar" => {
                    let items = lx.section(b"endcidchar");
                    let mut i = 0;
                    while let (Some(src), Some(dst)) = (items.get(i), items.get(i + 1)) {
                        match (src, dst) {
                            (Item::Tok(Tok::Hex(src)), Item::Tok(Tok::Num(cid))) => {
                                if let (Some(code), Ok(cid)) = (code_of(src), u32::try_from(*cid)) {
                                    cmap.insert_cid(src.len(), code, cid);
                                }
                                i += 2;
                            }
                            _ => i += 1,
                        }
                    }
                }
                b"begincidrange" => {
                    let items = lx.section(b"endcidrange");
                    let mut i = 0;
                    while let (Some(lo), Some(hi), Some(dst)) = (items.get(i), items.get(i + 1), items.get(i + 2)) {
                        let (Item::Tok(Tok::Hex(lo)), Item::Tok(Tok::Hex(hi)), Item::Tok(Tok::Num(cid))) = (lo, hi, dst) else {
                            i += 1;
                            continue;
                        };
                        i += 3;
                        let (Some(lo_code), Some(hi_code), Ok(cid)) = (code_of(lo), code_of(hi), u32::try_from(*cid)) else {
                            continue;
                        };
                        if hi_code < lo_code {
                            continue;
                        }
                        let count = (hi_code - lo_code).saturating_add(1).min(MAX_RANGE_LEN);
                        for off in 0..count {
                            if cmap.entries() >= MAX_CMAP_ENTRIES {
                                break;
                            }
                            cmap.insert_cid(lo.len(), lo_code.wrapping_add(off), cid.saturating_add(off));
                        }
                    }
                }
                _ => {}
            }
        }
        cmap
    }

    fn insert_uni(&mut self, len: usize, code: u32, text: String) {
        if self.entries() < MAX_CMAP_ENTRIES {
            self.uni.insert(cmap_key(len, code), text.into_boxed_str());
        }
    }

    fn insert_cid(&mut self, len: usize, code: u32, cid: u32) {
        if self.entries() < MAX_CMAP_ENTRIES {
            self.cids.insert(cmap_key(len, code), cid);
        }
    }
}

fn code_of(bytes: &[u8]) -> Option<u32> {
    (1..=4).contains(&bytes.len()).then(|| be_value(bytes))
}

fn utf16_units(bytes: &[u8]) -> Vec<u16> {
    if bytes.len() == 1 {
        return bytes.iter().map(|b| u16::from(*b)).collect();
    }
    bytes.chunks_exact(2).map(|p| be_value(p) as u16).collect()
}

fn dst_text(item: &Item) -> Option<String> {
    match item {
        Item::Tok(Tok::Hex(bytes)) => Some(char::decode_utf16(utf16_units(bytes)).filter_map(Result::ok).collect()),
        Item::Tok(Tok::Name(name)) => glyph_text(name),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Hex(Vec<u8>),
    Str(Vec<u8>),
    Name(Vec<u8>),
    Num(i64),
    Kw(Vec<u8>),
    Open,
    Close,
    Other,
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Tok(Tok),
    Array(Vec<Tok>),
}

/// Just enough PostScript tokenizing for CMap files.
struct Lexer<'s> {
    s: &'s [u8],
    i: usize,
}

fn is_delim(b: u8) -> bool {
    matches!(b, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i = self.i.saturating_add(1);
        Some(b)
    }

    fn regular(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            if is_space(b) || is_delim(b) {
                break;
            }
            out.push(b);
            self.i = self.i.saturating_add(1);
        }
        out
    }

    fn token(&mut self) -> Option<Tok> {
        loop {
            let b = self.peek()?;
            if is_space(b) {
                self.i = self.i.saturating_add(1);
            } else if b == b'%' {
                while let Some(c) = self.bump() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
        let b = self.bump()?;
        Some(match b {
            b'<' => {
                if self.peek() == Some(b'<') {
                    self.i = self.i.saturating_add(1);
                    return Some(Tok::Other);
                }
                let mut digits = Vec::new();
                while let Some(c) = self.bump() {
                    if c == b'>' {
                        break;
                    }
                    if let Some(v) = (c as char).to_digit(16) {
                        digits.push(v as u8);
                    }
                }
                if digits.len() % 2 == 1 {
                    digits.push(0);
                }
                Tok::Hex(
                    digits
                        .chunks_exact(2)
                        .map(|p| match p {
                            [h, l] => (h << 4) | l,
                            _ => 0,
                        })
                        .collect(),
                )
            }
            b'>' => {
                if self.peek() == Some(b'>') {
                    self.i = self.i.saturating_add(1);
                }
                Tok::Other
            }
            b'(' => {
                let mut depth = 1usize;
                let mut out = Vec::new();
                while let Some(c) = self.bump() {
                    match c {
                        b'\\' => {
                            if let Some(e) = self.bump() {
                                out.push(e);
                            }
                        }
                        b'(' => {
                            depth += 1;
                            out.push(c);
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            out.push(c);
                        }
                        _ => out.push(c),
                    }
                }
                Tok::Str(out)
            }
            b'[' => Tok::Open,
            b']' => Tok::Close,
            b'/' => Tok::Name(self.regular()),
            b'{' | b'}' | b')' => Tok::Other,
            _ => {
                self.i = self.i.saturating_sub(1);
                let word = self.regular();
                if word.is_empty() {
                    // A delimiter we do not care about: skip it.
                    self.i = self.i.saturating_add(1);
                    return Some(Tok::Other);
                }
                match std::str::from_utf8(&word).ok().and_then(|w| w.parse::<i64>().ok()) {
                    Some(n) => Tok::Num(n),
                    None => Tok::Kw(word),
                }
            }
        })
    }

    /// Items up to (not including) the keyword `end`; arrays one level deep.
    fn section(&mut self, end: &[u8]) -> Vec<Item> {
        let mut items = Vec::new();
        while let Some(tok) = self.token() {
            match tok {
                Tok::Kw(ref k) if k.as_slice() == end => break,
                Tok::Open => {
                    let mut arr = Vec::new();
                    while let Some(t) = self.token() {
                        match t {
                            Tok::Close => break,
                            Tok::Kw(ref k) if k.as_slice() == end => return items,
                            t => arr.push(t),
                        }
                    }
                    items.push(Item::Array(arr));
                }
                tok => items.push(Item::Tok(tok)),
            }
        }
        items
    }
}

// ---------------------------------------------------------------------------
// Simple-font encodings and glyph names

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BaseEncoding {
    /// No /Encoding: printable ASCII only.
    Default,
    Standard,
    WinAnsi,
    MacRoman,
}

const WIN_ANSI_80: &str = "€\0‚ƒ„…†‡ˆ‰Š‹Œ\0Ž\0\0‘’“”•–—˜™š›œ\0žŸ";

const MAC_ROMAN_80: &str = concat!(
    "ÄÅÇÉÑÖÜáàâäãåçéè",
    "êëíìîïñóòôöõúùûü",
    "†°¢£§•¶ß®©™´¨≠ÆØ",
    "∞±≤≥¥µ∂∑∏π∫ªºΩæø",
    "¿¡¬√ƒ≈∆«»… ÀÃÕŒœ",
    "–—“”‘’÷◊ÿŸ⁄¤‹›ﬁﬂ",
    "‡·‚„‰ÂÊÁËÈÍÎÏÌÓÔ",
    "\0ÒÚÛÙıˆ˜¯˘˙˚¸˝˛ˇ",
);

const STANDARD_HIGH: &[(u8, char)] = &[
    (0xA1, '¡'),
    (0xA2, '¢'),
    (0xA3, '£'),
    (0xA4, '⁄'),
    (0xA5, '¥'),
    (0xA6, 'ƒ'),
    (0xA7, '§'),
    (0xA8, '¤'),
    (0xA9, '\''),
    (0xAA, '“'),
    (0xAB, '«'),
    (0xAC, '‹'),
    (0xAD, '›'),
    (0xAE, 'ﬁ'),
    (0xAF, 'ﬂ'),
    (0xB1, '–'),
    (0xB2, '†'),
    (0xB3, '‡'),
    (0xB4, '·'),
    (0xB6, '¶'),
    (0xB7, '•'),
    (0xB8, '‚'),
    (0xB9, '„'),
    (0xBA, '”'),
    (0xBB, '»'),
    (0xBC, '…'),
    (0xBD, '‰'),
    (0xBF, '¿'),
    (0xC1, '`'),
    (0xC2, '´'),
    (0xC3, 'ˆ'),
    (0xC4, '˜'),
    (0xC5, '¯'),
    (0xC6, '˘'),
    (0xC7, '˙'),
    (0xC8, '¨'),
    (0xCA, '˚'),
    (0xCB, '¸'),
    (0xCD, '˝'),
    (0xCE, '˛'),
    (0xCF, 'ˇ'),
    (0xD0, '—'),
    (0xE1, 'Æ'),
    (0xE3, 'ª'),
    (0xE8, 'Ł'),
    (0xE9, 'Ø'),
    (0xEA, 'Œ'),
    (0xEB, 'º'),
    (0xF1, 'æ'),
    (0xF5, 'ı'),
    (0xF8, 'ł'),
    (0xF9, 'ø'),
    (0xFA, 'œ'),
    (0xFB, 'ß'),
];

fn base_table(enc: BaseEncoding) -> Vec<Option<Box<str>>> {
    let mut t: Vec<Option<Box<str>>> = vec![None; 256];
    let mut set = |code: u32, c: char| {
        if let Some(slot) = usize::try_from(code).ok().and_then(|i| t.get_mut(i)) {
            if c != '\0' {
                *slot = Some(c.to_string().into_boxed_str());
            }
        }
    };
    for b in 0x20u8..=0x7E {
        set(u32::from(b), char::from(b));
    }
    match enc {
        BaseEncoding::Default => {}
        BaseEncoding::Standard => {
            set(0x27, '’');
            set(0x60, '‘');
            for (code, c) in STANDARD_HIGH {
                set(u32::from(*code), *c);
            }
        }
        BaseEncoding::WinAnsi => {
            for (code, c) in (0x80u32..).zip(WIN_ANSI_80.chars()) {
                set(code, c);
            }
            for b in 0xA0u8..=0xFF {
                set(u32::from(b), char::from(b));
            }
            set(0xA0, ' ');
            set(0xAD, '-');
        }
        BaseEncoding::MacRoman => {
            for (code, c) in (0x80u32..).zip(MAC_ROMAN_80.chars()) {
                set(code, c);
            }
        }
    }
    t
}

fn base_encoding(name: &[u8]) -> Option<BaseEncoding> {
    match name {
        b"WinAnsiEncoding" => Some(BaseEncoding::WinAnsi),
        b"MacRomanEncoding" => Some(BaseEncoding::MacRoman),
        b"StandardEncoding" => Some(BaseEncoding::Standard),
        b"PDFDocEncoding" => Some(BaseEncoding::WinAnsi),
        _ => None,
    }
}

const GLYPH_NAMES: &[(&str, &str)] = &[
    ("space", " "),
    ("exclam", "!"),
    ("quotedbl", "\""),
    ("numbersign", "#"),
    ("dollar", "$"),
    ("percent", "%"),
    ("ampersand", "&"),
    ("quotesingle", "'"),
    ("quoteright", "’"),
    ("parenleft", "("),
    ("parenright", ")"),
    ("asterisk", "*"),
    ("plus", "+"),
    ("comma", ","),
    ("hyphen", "-"),
    ("minus", "-"),
    ("period", "."),
    ("slash", "/"),
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("colon", ":"),
    ("semicolon", ";"),
    ("less", "<"),
    ("equal", "="),
    ("greater", ">"),
    ("question", "?"),
    ("at", "@"),
    ("bracketleft", "["),
    ("backslash", "\\"),
    ("bracketright", "]"),
    ("asciicircum", "^"),
    ("underscore", "_"),
    ("grave", "`"),
    ("quoteleft", "‘"),
    ("braceleft", "{"),
    ("bar", "|"),
    ("braceright", "}"),
    ("asciitilde", "~"),
    ("bullet", "•"),
    ("endash", "–"),
    ("emdash", "—"),
    ("quotedblleft", "“"),
    ("quotedblright", "”"),
    ("quotesinglbase", "‚"),
    ("quotedblbase", "„"),
    ("ellipsis", "…"),
    ("degree", "°"),
    ("copyright", "©"),
    ("registered", "®"),
    ("trademark", "™"),
    ("Euro", "€"),
    ("euro", "€"),
    ("sterling", "£"),
    ("yen", "¥"),
    ("cent", "¢"),
    ("section", "§"),
    ("paragraph", "¶"),
    ("periodcentered", "·"),
    ("middot", "·"),
    ("multiply", "×"),
    ("divide", "÷"),
    ("plusminus", "±"),
    ("mu", "µ"),
    ("dagger", "†"),
    ("daggerdbl", "‡"),
    ("guillemotleft", "«"),
    ("guillemotright", "»"),
    ("guilsinglleft", "‹"),
    ("guilsinglright", "›"),
    ("exclamdown", "¡"),
    ("questiondown", "¿"),
    ("perthousand", "‰"),
    ("fi", "fi"),
    ("fl", "fl"),
    ("ff", "ff"),
    ("ffi", "ffi"),
    ("ffl", "ffl"),
    ("nbspace", " "),
    ("nonbreakingspace", " "),
    ("germandbls", "ß"),
    ("dotlessi", "ı"),
    ("AE", "Æ"),
    ("ae", "æ"),
    ("OE", "Œ"),
    ("oe", "œ"),
    ("Oslash", "Ø"),
    ("oslash", "ø"),
];

/// Latin-1 letters named base letter + accent (`eacute`, `Udieresis`, …).
const ACCENTS: &[(&str, &str, &str)] = &[
    ("grave", "AEIOUaeiou", "ÀÈÌÒÙàèìòù"),
    ("acute", "AEIOUYaeiouy", "ÁÉÍÓÚÝáéíóúý"),
    ("circumflex", "AEIOUaeiou", "ÂÊÎÔÛâêîôû"),
    ("dieresis", "AEIOUaeiouy", "ÄËÏÖÜäëïöüÿ"),
    ("tilde", "ANOano", "ÃÑÕãñõ"),
    ("ring", "Aa", "Åå"),
    ("cedilla", "Cc", "Çç"),
    ("caron", "SZsz", "ŠŽšž"),
];

/// Text for a glyph name (Adobe glyph list subset, `uniXXXX`, `uXXXX[XX]`).
fn glyph_text(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    // Variants such as `one.oldstyle` or `a.sc` stand for the base glyph.
    let base = match name.find('.') {
        Some(0) | None => name,
        Some(i) => name.get(..i)?,
    };
    if base.contains('_') && base.len() > 1 {
        let parts: Option<Vec<String>> = base.split('_').map(|p| glyph_text(p.as_bytes())).collect();
        return parts.map(|p| p.concat());
    }
    let mut chars = base.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if c.is_ascii_alphabetic() {
            return Some(c.to_string());
        }
    }
    if let Some((_, s)) = GLYPH_NAMES.iter().find(|(n, _)| *n == base) {
        return Some((*s).to_string());
    }
    for (accent, letters, composed) in ACCENTS {
        if let Some(letter) = base.strip_suffix(accent) {
            let mut l = letter.chars();
            if let (Some(c), None) = (l.next(), l.next()) {
                if let Some(pos) = letters.chars().position(|x| x == c) {
                    return composed.chars().nth(pos).map(String::from);
                }
            }
        }
    }
    if let Some(hex) = base.strip_prefix("uni") {
        if hex.len() >= 4 && hex.len() % 4 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut out = String::new();
            for i in (0..hex.len()).step_by(4) {
                let unit = u32::from_str_radix(hex.get(i..i + 4)?, 16).ok()?;
                out.push(char::from_u32(unit)?);
            }
            return Some(out);
        }
    }
    if let Some(hex) = base.strip_prefix('u') {
        if (4..=6).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return char::from_u32(u32::from_str_radix(hex, 16).ok()?).map(String::from);
        }
    }
    None
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
mod tests {
    use super::*;

    /// Sample PDFs live in `<crate>/samples/` (made by `make_samples.py`).
    macro_rules! sample {
        ($name:literal) => {
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pdf-samples/", $name)).as_slice()
        };
    }

    const STSONG: &[u8] = sample!("stsong.pdf");
    const WQY: &[u8] = sample!("wqy.pdf");
    const LIBREOFFICE: &[u8] = sample!("libreoffice_noto.pdf");
    const CAIRO: &[u8] = sample!("cairo_noto.pdf");
    const HELVETICA: &[u8] = sample!("helvetica.pdf");
    const ENCRYPTED: &[u8] = sample!("encrypted.pdf");
    const ENCRYPTED_NO_USER: &[u8] = sample!("encrypted_nouser.pdf");

    fn lines(bytes: &[u8]) -> Vec<Vec<String>> {
        extract_pages(bytes).expect("sample must parse").into_iter().map(|p| p.lines).collect()
    }

    #[test]
    fn stsong_light_predefined_ucs2_cmap() {
        let pages = extract_pages(STSONG).unwrap();
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].page, 1);
        assert_eq!(
            pages[0].lines,
            ["营业执照", "统一社会信用代码：92320214MA1NB3C47B", "名称：无锡市新吴区张记餐饮店", "经营者： Zhang San",]
        );
        assert_eq!(pages[1].page, 2);
        assert_eq!(pages[1].lines, ["第二页：登记机关"]);
    }

    #[test]
    fn embedded_truetype_subset_with_tounicode() {
        assert_eq!(
            lines(WQY),
            [[
                "排污许可证申请表",
                "单位名称：无锡市某某化工有限公司",
                "污染物 单位 实测 限值",
                "化学需氧量 mg/L 236 500",
                "备注：以上数据由第三方检测机构提供。",
                "Remark: data (2024) provided by lab.",
            ]]
        );
    }

    #[test]
    fn libreoffice_noto_cjk() {
        assert_eq!(
            lines(LIBREOFFICE),
            [[
                "建设项目环境影响登记表",
                "项目名称：新吴区餐饮店油烟净化改造项目。建设单位承诺所填信息真实、准确、完整。",
                "序号 污染物 排放浓度",
                "1 油烟 1.5 mg/m3",
                "2 化学需氧量 236 mg/L",
            ]]
        );
    }

    #[test]
    fn cairo_noto_cjk_cidfonttype0c() {
        assert_eq!(
            lines(CAIRO),
            [[
                "建设项目环境影响登记表",
                "项目名称：新吴区餐饮店油烟净化改造项目。",
                "序号 污染物 排放浓度",
                "1 油烟 1.5 mg/m3",
                "2 化学需氧量 236 mg/L",
            ]]
        );
        let (_, stats) = extract_pages_with_stats(CAIRO).unwrap();
        assert_eq!(stats, ExtractStats::default());
    }

    #[test]
    fn helvetica_winansi_and_form_xobject() {
        assert_eq!(
            lines(HELVETICA),
            [["Hello, World! 1234567890", "The quick brown fox jumps over the lazy dog.", "Café – “quoted” €5", "FORM XOBJECT TEXT",]]
        );
    }

    #[test]
    fn encrypted_is_refused() {
        assert_eq!(extract_pages(ENCRYPTED), Err(FallbackError::Encrypted));
        // Empty user password (owner password only): lopdf decrypts it while
        // loading and drops /Encrypt from the trailer, so it is read like any PDF.
        assert_eq!(lines(ENCRYPTED_NO_USER), [["Owner password only"]]);
        assert_eq!(FallbackError::Encrypted.to_string(), "PDF is encrypted");
    }

    #[test]
    fn empty_garbage_and_truncated_input_are_errors() {
        assert!(matches!(extract_pages(b""), Err(FallbackError::Parse(_))));
        assert!(matches!(extract_pages(b"not a pdf at all"), Err(FallbackError::Parse(_))));
        assert!(matches!(extract_pages(b"%PDF-1.4\n"), Err(FallbackError::Parse(_))));
        assert!(extract_pages(&[0u8; 4096]).is_err());
        for sample in [STSONG, HELVETICA, CAIRO] {
            assert!(extract_pages(&sample[..sample.len() / 2]).is_err());
        }
    }

    fn no_panic(bytes: &[u8]) -> bool {
        std::panic::catch_unwind(|| {
            let _ = extract_pages(bytes);
        })
        .is_ok()
    }

    #[test]
    fn every_prefix_is_handled_without_panic() {
        for sample in [STSONG, WQY, HELVETICA] {
            let mut len = 0;
            while len <= sample.len() {
                let prefix = &sample[..len];
                assert!(no_panic(prefix), "panic on prefix of length {len}");
                len += 61;
            }
        }
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn flip_test(sample: &[u8], seed: u64, rounds: usize) -> usize {
        let mut rng = Rng(seed);
        let mut ok = 0;
        for round in 0..rounds {
            let mut bytes = sample.to_vec();
            let flips = 1 + rng.below(8);
            for _ in 0..flips {
                let i = rng.below(bytes.len());
                bytes[i] = match rng.below(4) {
                    0 => bytes[i] ^ (1 << rng.below(8)),
                    1 => rng.next() as u8,
                    2 => b"0123456789<>[]()/ \n"[rng.below(19)],
                    _ => 0xFF,
                };
            }
            assert!(no_panic(&bytes), "panic in round {round} (seed {seed})");
            if extract_pages(&bytes).is_ok() {
                ok += 1;
            }
        }
        ok
    }

    #[test]
    fn random_byte_flips_never_panic() {
        // Uncompressed synthetic documents: flips hit objects, CMaps and operators.
        let plain = synthetic_cmap_pdf();
        let parsed = flip_test(&plain, 0x9E37_79B9_7F4A_7C15, 2000);
        assert!(parsed > 100, "most flipped files should still load, got {parsed}");
        flip_test(STSONG, 42, 500);
        flip_test(HELVETICA, 7, 500);
    }

    // ---- synthetic PDFs -------------------------------------------------

    /// Minimal PDF writer for tests: objects are numbered from 1, object 1 is the catalog.
    fn build_pdf(objects: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
        for off in offsets {
            out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
        out
    }

    fn obj(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut v = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
        v.extend_from_slice(data);
        v.extend_from_slice(b"\nendstream");
        v
    }

    /// One page (object 3) whose content is object 4; fonts and extras follow.
    fn one_page(resources: &str, content: &[u8], extra: Vec<Vec<u8>>) -> Vec<u8> {
        let mut objects = vec![
            obj("<< /Type /Catalog /Pages 2 0 R >>"),
            obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
            obj(&format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 800] /Resources {resources} /Contents 4 0 R >>")),
            stream("", content),
        ];
        objects.extend(extra);
        build_pdf(&objects)
    }

    const TOUNICODE: &[u8] = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CMapName /Test-UCS def /CMapType 2 def
1 begincodespacerange <0000> <FFFF> endcodespacerange
3 beginbfchar
<0001> <8425>  % U+8425
<0002> <D840DC00>  % U+20000, surrogate pair
<0003> /hyphen
endbfchar
2 beginbfrange
<0010> <0012> <4E00>
<0020> <0022> [<0041> <0042> <00430044>]
endbfrange
endcmap CMapName currentdict /CMap defineresource pop end end";

    /// Type0 Identity-H font with a ToUnicode CMap (objects 5–7).
    fn synthetic_cmap_pdf() -> Vec<u8> {
        let content = b"BT /F1 12 Tf 72 700 Td <0001000200030010001100120099> Tj \
            0 -20 Td [<0020> -300 <0021> 50 <0022>] TJ ET";
        one_page(
            "<< /Font << /F1 5 0 R >> >>",
            content,
            vec![
                obj("<< /Type /Font /Subtype /Type0 /BaseFont /Test /Encoding /Identity-H \
                     /DescendantFonts [6 0 R] /ToUnicode 7 0 R >>"),
                obj("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Test \
                     /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
                     /DW 1000 /W [1 [500 500] 16 18 600] >>"),
                stream("", TOUNICODE),
            ],
        )
    }

    #[test]
    fn tounicode_bfchar_bfrange_surrogates_and_unmapped() {
        let (pages, stats) = extract_pages_with_stats(&synthetic_cmap_pdf()).unwrap();
        assert_eq!(pages[0].lines, ["营\u{20000}-一丁丂", "A BCD"]);
        assert_eq!(stats.unmapped_codes, 1);
    }

    #[test]
    fn cmap_parser_limits_huge_ranges() {
        let cmap = CMap::parse(
            b"1 beginbfrange <00000000> <FFFFFFFF> <0041> endbfrange \
            1 beginbfrange <0000> <FFFF> [<0041>] endbfrange 1 begincidrange <0000> <ffff> 4294967295 endcidrange",
        );
        assert!(cmap.entries() <= MAX_CMAP_ENTRIES);
        assert_eq!(cmap.lookup(4, 0), Some("A"));
        assert_eq!(cmap.lookup(4, 1), Some("B"));
        assert_eq!(cmap.lookup(4, 0x20000), None);
        // Unterminated sections and stray tokens do not matter.
        let cmap = CMap::parse(b"beginbfchar <01> <0041> <02 >> ( ) ] [ <03> <0043");
        assert_eq!(cmap.lookup(1, 1), Some("A"));
    }

    #[test]
    fn simple_font_differences_and_standard_encoding() {
        let content = b"BT /F1 10 Tf 50 700 Td (AB01) Tj T* (\x27x\x60) Tj ET \
            BT /F2 10 Tf 50 650 Td (Caf\x8e) Tj ET";
        let pdf = one_page(
            "<< /Font << /F1 5 0 R /F2 6 0 R >> >>",
            content,
            vec![
                obj("<< /Type /Font /Subtype /Type1 /BaseFont /Embedded \
                     /Encoding << /Type /Encoding /BaseEncoding /StandardEncoding \
                     /Differences [65 /uni4E2D /g123 48 /zero.oldstyle /f_i] >> >>"),
                obj("<< /Type /Font /Subtype /TrueType /BaseFont /Mac /Encoding /MacRomanEncoding >>"),
            ],
        );
        let (pages, stats) = extract_pages_with_stats(&pdf).unwrap();
        // T* with leading 0 stays on the same baseline.
        assert_eq!(pages[0].lines, ["中0fi ’x‘", "Café"]);
        assert_eq!(stats.unmapped_codes, 1); // /g123
    }

    #[test]
    fn utf16_predefined_cmap_and_inherited_resources() {
        // Resources only on the /Pages node, as a direct dictionary.
        let objects = vec![
            obj("<< /Type /Catalog /Pages 2 0 R >>"),
            obj("<< /Type /Pages /Kids [3 0 R] /Count 1 /Resources << /Font << /C 5 0 R >> >> >>"),
            obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 800] /Contents 4 0 R >>"),
            stream("", b"BT /C 12 Tf 1 0 0 1 72 700 Tm <5F205E02D840DC000041> Tj ET"),
            obj("<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UTF16-H \
                 /DescendantFonts [<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light \
                 /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> >>] >>"),
        ];
        assert_eq!(lines(&build_pdf(&objects)), [["张市\u{20000}A"]]);
    }

    #[test]
    fn layout_td_tstar_quote_and_same_baseline_merge() {
        // Labels drawn first, values later on the same baselines; `'` and `"` move down.
        let content = b"BT /F1 10 Tf 14 TL 50 700 Td (Name:) Tj T* (Code:) Tj ET \
            BT /F1 10 Tf 200 700 Td (ACME Ltd) Tj 0 -14 Td (9132) Tj (0214) Tj ET \
            BT /F1 10 Tf 50 650 Td 12 TL (first) Tj (second) ' 1 0 (third) \" ET \
            q 1 0 0 1 0 -100 cm BT /F1 10 Tf 50 700 Td (shifted by cm) Tj ET Q";
        let pdf = one_page(
            "<< /Font << /F1 5 0 R >> >>",
            content,
            vec![obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")],
        );
        assert_eq!(lines(&pdf), [["Name: ACME Ltd", "Code: 91320214", "first", "second", "third", "shifted by cm"]]);
    }

    #[test]
    fn nested_and_recursive_form_xobjects_terminate() {
        // Form 5 draws text and then itself and form 6; form 6 draws form 5.
        let content = b"q 1 0 0 1 100 100 cm /Fm1 Do Q";
        let pdf = one_page(
            "<< /Font << /F1 7 0 R >> /XObject << /Fm1 5 0 R /Fm2 6 0 R >> >>",
            content,
            vec![
                stream(
                    "/Type /XObject /Subtype /Form /BBox [0 0 500 500] /Matrix [1 0 0 1 0 500]",
                    b"BT /F1 9 Tf 0 0 Td (in form) Tj ET /Fm1 Do /Fm2 Do",
                ),
                stream(
                    "/Type /XObject /Subtype /Form /BBox [0 0 500 500] \
                     /Resources << /XObject << /Fm1 5 0 R >> /Font << /F1 7 0 R >> >>",
                    b"BT /F1 9 Tf 0 -50 Td (form two) Tj ET /Fm1 Do",
                ),
                obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
            ],
        );
        assert_eq!(lines(&pdf), [["in form", "form two"]]);
    }

    #[test]
    fn hostile_numbers_and_operands_are_ignored() {
        let content = b"BT /F1 1e40 Tf 1 2 3 Tm (x) Tj /Nope 12 Tf 1e39 1e39 Td (y) Tj ET \
            Q Q Q q q cm Tf Tj TJ Do ' \" /Missing Do [(a) -1e30 (b)] TJ \
            BT /F1 NaN Tf 0 0 0 0 0 0 Tm (z) Tj ET";
        let pdf = one_page(
            "<< /Font << /F1 5 0 R >> >>",
            content,
            vec![obj("<< /Type /Font /Subtype /TrueType /FirstChar -9223372036854775808 \
                 /Widths [1e38 -5 (x)] /Encoding /Bogus /ToUnicode 99 0 R >>")],
        );
        assert!(extract_pages(&pdf).is_ok());
    }

    #[test]
    fn output_is_bounded() {
        // One string of ~64 KiB shown 40 times per form, the form drawn 1000 times.
        let big = "A".repeat(64 * 1024);
        let form = format!("BT /F1 10 Tf 0 0 Td {} ET", format!("({big}) Tj ").repeat(40));
        let content = "/Fm Do ".repeat(1000);
        let pdf = one_page(
            "<< /Font << /F1 6 0 R >> /XObject << /Fm 5 0 R >> >>",
            content.as_bytes(),
            vec![
                stream("/Type /XObject /Subtype /Form /BBox [0 0 1 1]", form.as_bytes()),
                obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
            ],
        );
        let (pages, stats) = extract_pages_with_stats(&pdf).unwrap();
        let total: usize = pages.iter().flat_map(|p| &p.lines).map(String::len).sum();
        assert!(total <= MAX_TEXT_BYTES);
        assert!(stats.truncated);
    }

    #[test]
    fn no_pages() {
        let pdf = build_pdf(&[obj("<< /Type /Catalog /Pages 2 0 R >>"), obj("<< /Type /Pages /Kids [] /Count 0 >>")]);
        assert_eq!(extract_pages(&pdf), Err(FallbackError::NoPages));
    }

    #[test]
    fn glyph_names() {
        assert_eq!(glyph_text(b"eacute").as_deref(), Some("é"));
        assert_eq!(glyph_text(b"Udieresis").as_deref(), Some("Ü"));
        assert_eq!(glyph_text(b"uni4E2D4E2D").as_deref(), Some("中中"));
        assert_eq!(glyph_text(b"u1F600").as_deref(), Some("😀"));
        assert_eq!(glyph_text(b"uniD800"), None);
        assert_eq!(glyph_text(b"g42"), None);
        assert_eq!(glyph_text(b"_"), None);
        assert_eq!(glyph_text(b"..."), None);
    }
}
