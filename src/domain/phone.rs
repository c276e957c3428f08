//! Contact phone numbers: mainland mobiles and landlines with an area code.

use std::sync::LazyLock;

use regex::Regex;

/// `^1[3-9]\d{9}$` after an optional +86/0086 prefix (domain.md §3.3); landlines as 0AA(A)-NNNNNNN(N),
/// optionally with an extension. Operator prefixes are deliberately not hard-coded.
static MOBILE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?:\+86|0086)?1[3-9]\d{9}$").unwrap());
static LANDLINE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^0\d{2,3}-?[2-9]\d{6,7}(?:-\d{1,6})?$").unwrap());

/// True when `input` is a plausible mainland mobile or landline number.
pub fn is_valid_phone(input: &str) -> bool {
    let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    MOBILE.is_match(&compact) || LANDLINE.is_match(&compact)
}

/// True when `input` is a plausible mainland mobile number (what an applicant signs up with).
pub fn is_mobile(input: &str) -> bool {
    let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    MOBILE.is_match(&compact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mobile_is_not_a_landline() {
        assert!(is_mobile("139 1234 5678") && is_mobile("+8613912345678"));
        assert!(!is_mobile("0510-85226718") && !is_mobile("12912345678"));
    }

    #[test]
    fn mobiles_and_landlines() {
        for ok in ["13812345678", "+8613812345678", "0086 138 1234 5678", "0510-85212345", "051085212345", "010-62345678-123"] {
            assert!(is_valid_phone(ok), "{ok}");
        }
        for bad in ["12812345678", "1381234567", "138123456789", "0510-05212345", "phone", ""] {
            assert!(!is_valid_phone(bad), "{bad}");
        }
    }
}
