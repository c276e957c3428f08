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
//!   Every shown string goes with its position, baseline direction and size to
//!   [`crate::reading::layout`], which lays the page out by position (vertical
//!   and rotated text in frames of their own); a `TJ` adjustment below −200 is
//!   a word space there whatever the estimated gap. A page of more than
//!   `MAX_PLACED` strings keeps the content-order lines instead: a fragment
//!   whose baseline is within half a font size of an existing line is appended
//!   to it, with a space after a forward jump wider than ~0.3 em (1 em when
//!   widths are only estimated) or such an adjustment.
//!
//! Hostile input: no `unwrap`, no unchecked indexing or integer arithmetic on
//! file data; Form XObject nesting, operator count, CMap sizes and the total
//! output (2 MiB of text per document) are bounded.
//!
//! Not handled: Type3 glyphs without
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

use lopdf::content::Operation;
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
/// Shown strings kept per page for its layout; a page with more keeps its content-order lines.
const MAX_PLACED: usize = 100_000;
/// Decompressed content-stream bytes parsed per document.
const MAX_CONTENT_BYTES: usize = 256 * 1024 * 1024;

// ---------------------------------------------------------------------------
// Operands

fn num(o: &Object) -> Option<f32> {
    let v = match o {
        Object::Integer(i) => *i as f32,
        Object::Real(r) => *r,
        _ => return None,
    };
    v.is_finite().then_some(v)
}

mod cmap;
mod encoding;
mod font;
mod interpreter;

use cmap::*;
use encoding::*;
use font::*;

// ---------------------------------------------------------------------------
// Document access

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
}

// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests;
