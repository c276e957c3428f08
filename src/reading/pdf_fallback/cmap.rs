//! CMaps (ToUnicode and embedded encodings) and the PostScript-ish lexer that reads them.

use super::*;

#[derive(Debug, Default)]
pub(super) struct CMap {
    pub(super) codespace: Vec<CodeRange>,
    uni: HashMap<u64, Box<str>>,
    cids: HashMap<u64, u32>,
}

pub(super) fn cmap_key(len: usize, code: u32) -> u64 {
    ((len as u64) << 32) | u64::from(code)
}

impl CMap {
    pub(super) fn lookup(&self, len: usize, code: u32) -> Option<&str> {
        if let Some(s) = self.uni.get(&cmap_key(len, code)) {
            return Some(s);
        }
        // Sloppy CMaps key codes with another width than the font uses.
        (1..=4usize).filter(|l| *l != len).find_map(|l| self.uni.get(&cmap_key(l, code))).map(|s| &**s)
    }

    pub(super) fn cid(&self, code: u32) -> Option<u32> {
        (1..=4usize).find_map(|l| self.cids.get(&cmap_key(l, code)).copied())
    }

    pub(super) fn entries(&self) -> usize {
        self.uni.len() + self.cids.len()
    }

    pub(super) fn parse(data: &[u8]) -> CMap {
        let mut cmap = CMap::default();
        let mut lx = Lexer { s: data, i: 0 };
        while let Some(tok) = lx.token() {
            let Tok::Kw(kw) = tok else { continue };
            match kw.as_slice() {
                b"begincodespacerange" => cmap.add_codespace(&lx.section(b"endcodespacerange")),
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

    /// The code ranges of a `begincodespacerange` section (pairs of hex strings of 1 to 4 bytes).
    fn add_codespace(&mut self, items: &[Item]) {
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
                    if self.codespace.len() < 256 {
                        self.codespace.push(r);
                    }
                }
            }
        }
    }

    pub(super) fn insert_uni(&mut self, len: usize, code: u32, text: String) {
        if self.entries() < MAX_CMAP_ENTRIES {
            self.uni.insert(cmap_key(len, code), text.into_boxed_str());
        }
    }

    pub(super) fn insert_cid(&mut self, len: usize, code: u32, cid: u32) {
        if self.entries() < MAX_CMAP_ENTRIES {
            self.cids.insert(cmap_key(len, code), cid);
        }
    }
}

pub(super) fn code_of(bytes: &[u8]) -> Option<u32> {
    (1..=4).contains(&bytes.len()).then(|| be_value(bytes))
}

pub(super) fn utf16_units(bytes: &[u8]) -> Vec<u16> {
    if bytes.len() == 1 {
        return bytes.iter().map(|b| u16::from(*b)).collect();
    }
    bytes.chunks_exact(2).map(|p| be_value(p) as u16).collect()
}

pub(super) fn dst_text(item: &Item) -> Option<String> {
    match item {
        Item::Tok(Tok::Hex(bytes)) => Some(char::decode_utf16(utf16_units(bytes)).filter_map(Result::ok).collect()),
        Item::Tok(Tok::Name(name)) => glyph_text(name),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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
pub(super) enum Item {
    Tok(Tok),
    Array(Vec<Tok>),
}

/// Just enough PostScript tokenizing for CMap files.
pub(super) struct Lexer<'s> {
    s: &'s [u8],
    i: usize,
}

pub(super) fn is_delim(b: u8) -> bool {
    matches!(b, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

impl Lexer<'_> {
    pub(super) fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    pub(super) fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i = self.i.saturating_add(1);
        Some(b)
    }

    pub(super) fn regular(&mut self) -> Vec<u8> {
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

    pub(super) fn token(&mut self) -> Option<Tok> {
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
    pub(super) fn section(&mut self, end: &[u8]) -> Vec<Item> {
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
