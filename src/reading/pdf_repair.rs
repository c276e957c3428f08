//! A PDF whose cross-reference table or trailer is broken, rebuilt as viewers rebuild it.
//!
//! poppler (`XRef::constructXRef`) and pdf.js (`XRef.indexObjects`) do not give up on a file whose
//! `startxref` points nowhere, whose table's offsets are wrong or whose trailer is cut off: they scan
//! the whole file for `N G obj` headers and take the catalog from the last trailer (or cross-reference
//! stream) that names one, or else from the last object that is a `/Catalog`. Scanners and mail
//! gateways that truncate or re-save files produce exactly these, and applicants cannot tell them from
//! good ones because their viewer opens them.
//!
//! This module does the same scan and appends a fresh table and trailer to the original bytes, so the
//! offsets of the objects stay what they are and lopdf (and pdf-extract over it) read the repaired
//! file with their ordinary loader; lopdf expands an object stream it finds through the table, so
//! objects compressed inside one are read too, but a catalog or page tree that lives only inside an
//! object stream is not found by the scan, and such a file stays unreadable. Later headers of the
//! same object number win, as an incremental update's objects replace the originals.
//!
//! Hostile input: each object's bytes are looked at up to the next object's header (so the whole
//! scan reads the file about once over), object numbers above [`MAX_OBJECT_NUMBER`] are ignored,
//! and nothing here indexes past the buffer.

use std::collections::BTreeMap;

/// Object numbers above this are not taken from a scan (a real file has a few thousand).
const MAX_OBJECT_NUMBER: u32 = 8_000_000;

/// The original bytes with a rebuilt cross-reference table and trailer appended, or `None` when
/// the scan finds no object or no catalog to make a document of.
pub fn rebuild(bytes: &[u8]) -> Option<Vec<u8>> {
    let objects = object_offsets(bytes);
    if objects.is_empty() {
        return None;
    }
    let ends = object_ends(&objects, bytes.len());
    // A trailer naming a catalog the file lost is no better than none.
    let trailer = last_trailer(bytes).filter(|t| objects.contains_key(&t.root.0)).or_else(|| catalog_object(bytes, &objects, &ends))?;
    let mut root = trailer.root;
    let mut size = objects.keys().next_back().map_or(1, |n| n + 1);
    let mut out = Vec::with_capacity(bytes.len() + objects.len() * 20 + 256);
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\n");
    let mut entries: BTreeMap<u32, (u16, usize)> = objects.clone();
    // The catalog's page tree lost (its root object is not in the file): a new tree of the page
    // objects in file order, under a new catalog, as pdf.js falls back to the pages it can find.
    if !pages_root_present(bytes, &objects, &ends, root) {
        let pages = page_objects(bytes, &objects, &ends);
        if pages.is_empty() {
            return None;
        }
        let (tree, catalog) = (size, size + 1);
        size += 2;
        let kids: Vec<String> = pages.iter().map(|(n, g)| format!("{n} {g} R")).collect();
        entries.insert(tree, (0, out.len()));
        out.extend_from_slice(
            format!("{tree} 0 obj\n<< /Type /Pages /Kids [{}] /Count {} >>\nendobj\n", kids.join(" "), pages.len()).as_bytes(),
        );
        entries.insert(catalog, (0, out.len()));
        out.extend_from_slice(format!("{catalog} 0 obj\n<< /Type /Catalog /Pages {tree} 0 R >>\nendobj\n").as_bytes());
        root = (catalog, 0);
    }
    let xref_at = out.len();
    out.extend_from_slice(b"xref\n0 1\n0000000000 65535 f\r\n");
    // Subsections of consecutive object numbers, as the format allows.
    let numbers: Vec<u32> = entries.keys().copied().filter(|n| *n > 0).collect();
    let mut start = 0;
    while start < numbers.len() {
        let mut end = start + 1;
        while end < numbers.len() && numbers[end] == numbers[end - 1] + 1 {
            end += 1;
        }
        out.extend_from_slice(format!("{} {}\n", numbers[start], end - start).as_bytes());
        for number in &numbers[start..end] {
            let (generation, offset) = entries[number];
            out.extend_from_slice(format!("{offset:010} {generation:05} n\r\n").as_bytes());
        }
        start = end;
    }
    let mut dictionary = format!("<< /Size {size} /Root {} {} R", root.0, root.1);
    // An entry naming an object the file does not hold (a lost /Info) would break the repair too.
    for (extra, object) in &trailer.extra {
        if object.is_none_or(|n| objects.contains_key(&n)) {
            dictionary.push(' ');
            dictionary.push_str(extra);
        }
    }
    dictionary.push_str(" >>");
    out.extend_from_slice(format!("trailer\n{dictionary}\nstartxref\n{xref_at}\n%%EOF\n").as_bytes());
    Some(out)
}

/// Each object number's last header in the file: number → (generation, byte offset).
fn object_offsets(bytes: &[u8]) -> BTreeMap<u32, (u16, usize)> {
    let mut objects = BTreeMap::new();
    let mut at = 0;
    while let Some(found) = find(bytes, b"obj", at) {
        at = found + 3;
        // "obj" must end a token: not "objects", not "endobj".
        if bytes.get(found + 3).is_some_and(|b| b.is_ascii_alphanumeric()) || found >= 3 && &bytes[found - 3..found] == b"end" {
            continue;
        }
        if let Some((start, number, generation)) = header_before(bytes, found) {
            if number <= MAX_OBJECT_NUMBER {
                objects.insert(number, (generation, start));
            }
        }
    }
    objects
}

/// `N G ` ending at `obj_at` (the position of "obj"), starting a line or after white space or a
/// delimiter: its start, N and G.
fn header_before(bytes: &[u8], obj_at: usize) -> Option<(usize, u32, u16)> {
    let mut i = obj_at;
    let skip_space = |i: &mut usize, at_least_one: bool| -> Option<()> {
        let before = *i;
        while *i > 0 && is_space(bytes[*i - 1]) {
            *i -= 1;
        }
        (!at_least_one || *i < before).then_some(())
    };
    let digits = |i: &mut usize| -> Option<u64> {
        let end = *i;
        while *i > 0 && bytes[*i - 1].is_ascii_digit() && end - *i < 10 {
            *i -= 1;
        }
        (*i < end).then(|| std::str::from_utf8(&bytes[*i..end]).ok()?.parse().ok())?
    };
    skip_space(&mut i, false)?;
    let generation = digits(&mut i)?;
    skip_space(&mut i, true)?;
    let number = digits(&mut i)?;
    // The header begins a token: start of file, white space or a delimiter before it.
    if i > 0 && !(is_space(bytes[i - 1]) || b">)]}".contains(&bytes[i - 1])) {
        return None;
    }
    Some((i, u32::try_from(number).ok()?, u16::try_from(generation).ok()?))
}

/// Where each object's bytes end: at the next object's header (or the file's end), so that a scan
/// of every object reads each byte of the file about once.
fn object_ends(objects: &BTreeMap<u32, (u16, usize)>, len: usize) -> BTreeMap<usize, usize> {
    let mut starts: Vec<usize> = objects.values().map(|(_, offset)| *offset).collect();
    starts.sort_unstable();
    starts.iter().enumerate().map(|(i, start)| (*start, starts.get(i + 1).copied().unwrap_or(len))).collect()
}

/// An object's opening bytes (its dictionary, as far as a scan needs it): up to 4 KiB, and never
/// past the next object.
fn opening<'a>(bytes: &'a [u8], ends: &BTreeMap<usize, usize>, offset: usize) -> &'a [u8] {
    let end = ends.get(&offset).copied().unwrap_or(bytes.len()).min(offset + 4096).min(bytes.len());
    &bytes[offset..end.max(offset)]
}

/// Whether the catalog's `/Pages` names an object the file holds.
fn pages_root_present(bytes: &[u8], objects: &BTreeMap<u32, (u16, usize)>, ends: &BTreeMap<usize, usize>, root: (u32, u16)) -> bool {
    let pages = regex::bytes::Regex::new(r"/Pages\s+(\d{1,9})\s+\d{1,5}\s+R").expect("valid");
    let Some((_, offset)) = objects.get(&root.0) else { return false };
    let catalog = opening(bytes, ends, *offset);
    let catalog = &catalog[..catalog.windows(6).position(|w| w == b"endobj").unwrap_or(catalog.len())];
    pages.captures(catalog).and_then(|c| std::str::from_utf8(&c[1]).ok()?.parse::<u32>().ok()).is_some_and(|n| objects.contains_key(&n))
}

/// Objects whose dictionary says `/Type /Page` (not `/Pages`), in file order.
fn page_objects(bytes: &[u8], objects: &BTreeMap<u32, (u16, usize)>, ends: &BTreeMap<usize, usize>) -> Vec<(u32, u16)> {
    let page = regex::bytes::Regex::new(r"(?s-u)^\d+\s+\d+\s+obj\s*<<.*?/Type\s*/Page(?:[^s\w]|$)").expect("valid");
    let mut pages: Vec<(usize, u32, u16)> = objects
        .iter()
        .filter(|(_, (_, offset))| {
            let head = opening(bytes, ends, *offset);
            let head = &head[..head.windows(6).position(|w| w == b"stream" || w == b"endobj").unwrap_or(head.len())];
            page.is_match(head)
        })
        .map(|(n, (g, offset))| (*offset, *n, *g))
        .collect();
    pages.sort();
    pages.into_iter().map(|(_, n, g)| (n, g)).collect()
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// What the rebuilt trailer carries: the catalog and the entries copied from the old trailer.
struct Trailer {
    root: (u32, u16),
    /// `/Info a b R`, `/Encrypt a b R`, `/ID [...]` as they stood, with the object each names.
    extra: Vec<(String, Option<u32>)>,
}

/// The last trailer dictionary (or cross-reference stream dictionary) that names a catalog.
fn last_trailer(bytes: &[u8]) -> Option<Trailer> {
    let text = String::from_utf8_lossy(bytes);
    let reference = regex::Regex::new(r"/(Root|Info|Encrypt)\s+(\d{1,9})\s+(\d{1,5})\s+R").expect("valid");
    let id = regex::Regex::new(r"/ID\s*\[\s*(<[0-9A-Fa-f\s]*>\s*<[0-9A-Fa-f\s]*>)\s*\]").expect("valid");
    let candidates = text.match_indices("trailer").map(|(at, _)| at).chain(text.match_indices("/XRef").map(|(at, _)| at));
    let mut best: Option<(usize, Trailer)> = None;
    for at in candidates {
        // The dictionary that follows (a trailer) or surrounds (a stream's) the keyword, to its end.
        let start = text[..at].rfind("<<").filter(|_| text[at..].starts_with("/XRef")).unwrap_or(at);
        let end = dictionary_end(&text, start).unwrap_or(text.len());
        let Some(window) = text.get(start..end.min(start + 4096).max(start)) else { continue };
        let mut root = None;
        let mut extra = Vec::new();
        for c in reference.captures_iter(window) {
            let (Ok(number), Ok(generation)) = (c[2].parse::<u32>(), c[3].parse::<u16>()) else { continue };
            match &c[1] {
                "Root" => root = root.or(Some((number, generation))),
                key => extra.push((format!("/{key} {number} {generation} R"), Some(number))),
            }
        }
        let Some(root) = root else { continue };
        if let Some(c) = id.captures(window) {
            extra.push((format!("/ID [{}]", &c[1]), None));
        }
        if best.as_ref().is_none_or(|(b, _)| start >= *b) {
            best = Some((start, Trailer { root, extra }));
        }
    }
    best.map(|(_, trailer)| trailer)
}

/// The end of the dictionary opening at or after `start`, nested dictionaries counted (an xref
/// stream's `/DecodeParms << … >>` may stand before its `/Root`).
fn dictionary_end(text: &str, start: usize) -> Option<usize> {
    let open = start + text.get(start..)?.find("<<")?;
    let mut depth = 0usize;
    let mut i = open;
    let bytes = text.as_bytes();
    while i + 1 < bytes.len().min(open + 16 * 1024) {
        match &bytes[i..i + 2] {
            b"<<" => {
                depth += 1;
                i += 2;
            }
            b">>" => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// With no trailer left: the last object whose dictionary says `/Type /Catalog`.
fn catalog_object(bytes: &[u8], objects: &BTreeMap<u32, (u16, usize)>, ends: &BTreeMap<usize, usize>) -> Option<Trailer> {
    let catalog = regex::bytes::Regex::new(r"(?-u)^\d+\s+\d+\s+obj\s*<<[^>]*?/Type\s*/Catalog\b").expect("valid");
    objects
        .iter()
        .filter(|(_, (_, offset))| catalog.is_match(opening(bytes, ends, *offset)))
        .max_by_key(|(_, (_, offset))| *offset)
        .map(|(number, (generation, _))| Trailer { root: (*number, *generation), extra: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-page PDF with a correct table, built here so its offsets are known.
    fn pdf(body_text: &str) -> Vec<u8> {
        let content = format!("BT /F1 12 Tf 72 720 Td ({body_text}) Tj ET");
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
            format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
        ];
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, object) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f\r\n", objects.len() + 1).as_bytes());
        for offset in offsets {
            out.extend_from_slice(format!("{offset:010} 00000 n\r\n").as_bytes());
        }
        out.extend_from_slice(format!("trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
        out
    }

    fn text_of(bytes: &[u8]) -> String {
        crate::reading::pdf_fallback::extract_pages(bytes).expect("readable").into_iter().flat_map(|p| p.lines).collect()
    }

    #[test]
    fn a_file_cut_before_its_table_is_read_after_the_rebuild() {
        let whole = pdf("Drainage permit");
        let cut = &whole[..whole.windows(4).position(|w| w == b"xref").unwrap()];
        assert!(lopdf::Document::load_mem(cut).is_err(), "the cut file must be broken for lopdf");
        let repaired = rebuild(cut).expect("a catalog object is there");
        assert_eq!(text_of(&repaired), "Drainage permit");
    }

    #[test]
    fn wrong_offsets_and_a_startxref_pointing_nowhere_are_rebuilt_from_the_trailer() {
        let whole = String::from_utf8(pdf("Report")).unwrap();
        // Every offset shifted by 7 and startxref pointing past the end.
        let broken = regex::Regex::new(r"(\d{10}) 00000 n")
            .unwrap()
            .replace_all(&whole, |c: &regex::Captures| format!("{:010} 00000 n", c[1].parse::<usize>().unwrap() + 7));
        let broken = regex::Regex::new(r"startxref\n\d+").unwrap().replace(&broken, "startxref\n999999");
        let repaired = rebuild(broken.as_bytes()).expect("rebuilt");
        assert_eq!(text_of(&repaired), "Report");
    }

    #[test]
    fn the_later_copy_of_an_object_wins_as_in_an_incremental_update() {
        let mut bytes = pdf("Old");
        let content = "BT /F1 12 Tf 72 720 Td (New) Tj ET";
        bytes.extend_from_slice(format!("4 0 obj\n<< /Length {} >>\nstream\n{content}\nendstream\nendobj\n", content.len()).as_bytes());
        let repaired = rebuild(&bytes).expect("rebuilt");
        assert_eq!(text_of(&repaired), "New");
    }

    #[test]
    fn a_trailer_entry_naming_a_lost_object_is_left_out() {
        let whole = String::from_utf8(pdf("Kept")).unwrap();
        let cut = &whole[..whole.find("xref").unwrap()];
        let broken = format!("{cut}trailer\n<< /Size 9 /Root 1 0 R /Info 8 0 R >>\nstartxref\n1\n%%EOF\n");
        let repaired = String::from_utf8(rebuild(broken.as_bytes()).unwrap()).unwrap();
        let trailer = &repaired[repaired.rfind("trailer").unwrap()..];
        assert!(trailer.contains("/Root 1 0 R") && !trailer.contains("/Info"), "{trailer}");
        assert_eq!(text_of(repaired.as_bytes()), "Kept");
    }

    #[test]
    fn a_lost_page_tree_is_rebuilt_from_the_page_objects() {
        let whole = String::from_utf8(pdf("Page found")).unwrap();
        // The /Pages object's header is gone (its bytes overwritten), the table cut off.
        let broken = whole.replace("2 0 obj", "% gone").replace("xref", "% cut");
        assert!(lopdf::Document::load_mem(broken.as_bytes()).is_err());
        let repaired = rebuild(broken.as_bytes()).expect("a page object is there");
        assert_eq!(text_of(&repaired), "Page found");
    }

    #[test]
    fn a_trailer_naming_a_lost_catalog_falls_back_to_the_catalog_object() {
        let whole = String::from_utf8(pdf("Catalog found")).unwrap();
        let cut = &whole[..whole.find("xref").unwrap()];
        let broken = format!("{cut}trailer\n<< /Size 9 /Root 7 0 R >>\n%%EOF\n");
        assert_eq!(text_of(&rebuild(broken.as_bytes()).expect("the /Catalog object is there")), "Catalog found");
    }

    #[test]
    fn a_nested_dictionary_before_root_keeps_the_root() {
        let text = "trailer << /Size 3 /DecodeParms << /Columns 5 >> /Root 1 0 R >> trailing /Encrypt 9 0 R";
        assert_eq!(dictionary_end(text, 0), Some(text.find(" trailing").unwrap()));
        let whole = String::from_utf8(pdf("Nested")).unwrap();
        let cut = &whole[..whole.find("xref").unwrap()];
        let broken = format!("{cut}trailer\n<< /Size 6 /X << /Y 1 >> /Root 1 0 R >>\nstartxref\n1\n%%EOF\n/Encrypt 4 0 R");
        let repaired = String::from_utf8(rebuild(broken.as_bytes()).unwrap()).unwrap();
        assert!(!repaired[repaired.rfind("trailer").unwrap()..].contains("Encrypt"), "nothing past the dictionary is taken");
        assert_eq!(text_of(repaired.as_bytes()), "Nested");
    }

    #[test]
    fn nothing_to_rebuild_from_gives_none() {
        assert!(rebuild(b"").is_none());
        assert!(rebuild(b"%PDF-1.4\n garbage without objects").is_none());
        // Objects but no catalog anywhere.
        assert!(rebuild(b"%PDF-1.4\n1 0 obj\n<< /Type /Pages >>\nendobj\n").is_none());
        // "endobj" and words ending in obj are not headers.
        assert!(object_offsets(b"endobj 12 0 robj 3 0 objects").is_empty());
    }
}
