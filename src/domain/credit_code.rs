//! The Unified Social Credit Code (统一社会信用代码, GB 32100-2015) as a parsed type.

use std::fmt;

/// The 31 symbols of GB 32100; a symbol's value is its index (no I, O, S, V, Z).
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1–17: 3^(i−1) mod 31.
const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// A code whose shape and check character have been verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CreditCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditCodeError {
    #[error("统一社会信用代码应为18位，实为{0}位")]
    Length(usize),
    #[error("统一社会信用代码第{position}位含非法字符“{found}”")]
    Symbol { position: usize, found: char },
    #[error("统一社会信用代码校验位应为{expected}，实为{found}")]
    CheckCharacter { expected: char, found: char },
}

fn value_of(symbol: u8) -> Option<u32> {
    ALPHABET.iter().position(|&s| s == symbol).map(|v| v as u32)
}

/// The check character (position 18) for the first 17 symbols.
fn check_character(first17: &[u8]) -> Option<char> {
    let mut sum = 0;
    for (symbol, weight) in first17.iter().zip(WEIGHTS) {
        sum += value_of(*symbol)? * weight;
    }
    let check = (31 - sum % 31) % 31;
    Some(ALPHABET[check as usize] as char)
}

impl CreditCode {
    /// Parses a code, accepting lower case and surrounding whitespace, as applicants type it.
    pub fn parse(input: &str) -> Result<Self, CreditCodeError> {
        let code: String = input.trim().to_ascii_uppercase();
        let n_chars = code.chars().count();
        if n_chars != 18 {
            return Err(CreditCodeError::Length(n_chars));
        }
        let bytes = code.as_bytes();
        for (idx, ch) in code.chars().enumerate() {
            if !ch.is_ascii() || value_of(ch as u8).is_none() {
                return Err(CreditCodeError::Symbol { position: idx + 1, found: ch });
            }
        }
        let expected = check_character(&bytes[..17]).expect("symbols checked above");
        let found = bytes[17] as char;
        if expected != found {
            return Err(CreditCodeError::CheckCharacter { expected, found });
        }
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Registered by market regulation (9) as an individual business (2): prefix `92`.
    pub fn is_individual_business(&self) -> bool {
        self.0.starts_with("92")
    }

    /// The administrative division code (GB/T 2260) at positions 3–8.
    pub fn division_code(&self) -> &str {
        &self.0[2..8]
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A credit code as lists and comparisons hold it: half-width, no whitespace, ASCII upper case
/// ("９１３２ 0214…" and "913202…" are one code).
pub fn code_key(code: &str) -> String {
    crate::understanding::normalize::halfwidth(code).chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_known_valid_codes() {
        for code in ["92320214MA1NB3C47B", "91320214MA20K7L53Q", "91310110666007217T", "91440300708461136T"] {
            assert!(CreditCode::parse(code).is_ok(), "{code}");
        }
        assert!(CreditCode::parse("92320214MA1NB3C47B").unwrap().is_individual_business());
        assert_eq!(CreditCode::parse(" 91320214ma20k7l53q ").unwrap().division_code(), "320214");
    }

    #[test]
    fn rejects_wrong_check_character_length_and_symbols() {
        assert_eq!(CreditCode::parse("92320214MA1NB3C47C"), Err(CreditCodeError::CheckCharacter { expected: 'B', found: 'C' }));
        assert_eq!(CreditCode::parse("9232021"), Err(CreditCodeError::Length(7)));
        assert!(matches!(CreditCode::parse("92320214MA1NB3C4IB"), Err(CreditCodeError::Symbol { position: 17, found: 'I' })));
        assert!(matches!(CreditCode::parse("92320214MA1NB3C4７B"), Err(CreditCodeError::Symbol { .. })));
    }
}
