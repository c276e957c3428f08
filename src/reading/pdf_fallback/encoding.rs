//! Simple-font encodings (WinAnsi, MacRoman, Standard) and glyph names.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BaseEncoding {
    /// No /Encoding: printable ASCII only.
    Default,
    Standard,
    WinAnsi,
    MacRoman,
}

pub(super) const WIN_ANSI_80: &str = "€\0‚ƒ„…†‡ˆ‰Š‹Œ\0Ž\0\0‘’“”•–—˜™š›œ\0žŸ";

pub(super) const MAC_ROMAN_80: &str = concat!(
    "ÄÅÇÉÑÖÜáàâäãåçéè",
    "êëíìîïñóòôöõúùûü",
    "†°¢£§•¶ß®©™´¨≠ÆØ",
    "∞±≤≥¥µ∂∑∏π∫ªºΩæø",
    "¿¡¬√ƒ≈∆«»… ÀÃÕŒœ",
    "–—“”‘’÷◊ÿŸ⁄¤‹›ﬁﬂ",
    "‡·‚„‰ÂÊÁËÈÍÎÏÌÓÔ",
    "\0ÒÚÛÙıˆ˜¯˘˙˚¸˝˛ˇ",
);

pub(super) const STANDARD_HIGH: &[(u8, char)] = &[
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

pub(super) fn base_table(enc: BaseEncoding) -> Vec<Option<Box<str>>> {
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

pub(super) fn base_encoding(name: &[u8]) -> Option<BaseEncoding> {
    match name {
        b"WinAnsiEncoding" => Some(BaseEncoding::WinAnsi),
        b"MacRomanEncoding" => Some(BaseEncoding::MacRoman),
        b"StandardEncoding" => Some(BaseEncoding::Standard),
        b"PDFDocEncoding" => Some(BaseEncoding::WinAnsi),
        _ => None,
    }
}

pub(super) const GLYPH_NAMES: &[(&str, &str)] = &[
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
pub(super) const ACCENTS: &[(&str, &str, &str)] = &[
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
pub(super) fn glyph_text(name: &[u8]) -> Option<String> {
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
