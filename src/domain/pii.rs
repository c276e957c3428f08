//! Masking of personal data for listings and logs: what identifies a person is shown only where the
//! viewer needs it in full (the case itself), never in a queue or a log line.

/// `320214********1239`: the region and the last four, enough to tell two cases apart.
pub fn mask_id_number(id: &str) -> String {
    let chars: Vec<char> = id.trim().chars().collect();
    if chars.len() < 12 {
        return "*".repeat(chars.len().max(1));
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 10))
}

/// `138****5678`; a landline keeps its area code and last four: `0510-****6718`.
pub fn mask_phone(phone: &str) -> String {
    let phone = phone.trim();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    if digits < 7 {
        return "*".repeat(phone.chars().count().max(1));
    }
    let (area, rest) = match phone.split_once('-') {
        Some((area, rest)) if area.starts_with('0') => (format!("{area}-"), rest),
        _ => (String::new(), phone),
    };
    let rest: Vec<char> = rest.chars().collect();
    let keep_head = if area.is_empty() { 3.min(rest.len()) } else { 0 };
    let keep_tail = 4.min(rest.len() - keep_head);
    let head: String = rest[..keep_head].iter().collect();
    let tail: String = rest[rest.len() - keep_tail..].iter().collect();
    format!("{area}{head}{}{tail}", "*".repeat(rest.len() - keep_head - keep_tail))
}

/// `陈**`: a person's family name only.
pub fn mask_person_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count())),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_phones_and_names_keep_only_what_tells_cases_apart() {
        assert_eq!(mask_id_number("320214199506011239"), "320214********1239");
        assert_eq!(mask_id_number("32021419660210022X"), "320214********022X");
        assert_eq!(mask_id_number("12345"), "*****");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("0510-85226718"), "0510-****6718");
        assert_eq!(mask_phone("110"), "***");
        assert_eq!(mask_person_name("陈晓雨"), "陈**");
        for masked in [mask_id_number("320214199506011239"), mask_phone("13812345678")] {
            assert!(!masked.contains("19950601") && !masked.contains("1234"), "{masked}");
        }
    }
}
