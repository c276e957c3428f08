//! Fonts: cutting strings into codes, mapping codes to text and widths, and building a `Font` from a font dictionary.

use super::*;

// ---------------------------------------------------------------------------
// Fonts

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CodeRange {
    pub(super) len: usize,
    pub(super) lo: [u8; 4],
    pub(super) hi: [u8; 4],
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
pub(super) struct Font {
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
    pub(super) exact: bool,
    pub(super) vertical: bool,
}

impl Font {
    /// Unknown font (no `Tf`, or a name missing from the resources).
    pub(super) fn fallback() -> Font {
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
    pub(super) fn next_code(&self, bytes: &[u8]) -> (u32, usize) {
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
    pub(super) fn decode(&self, code: u32, len: usize, chunk: &[u8], out: &mut String) -> bool {
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
    pub(super) fn width(&self, code: u32, decoded: &str) -> f32 {
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

pub(super) fn be_value(bytes: &[u8]) -> u32 {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum FontKey {
    Id(ObjectId),
    Direct(usize),
}

// ---------------------------------------------------------------------------
// Building fonts from font dictionaries

impl<'a> Extractor<'a> {
    pub(super) fn font(&mut self, resources: &[&'a Dictionary], name: &[u8]) -> Option<Rc<Font>> {
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
}
