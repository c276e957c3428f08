//! The resident ID number (公民身份号码, GB 11643-1999) as a parsed type: division code, birth date,
//! sex and the ISO 7064 MOD 11-2 check character.

use std::fmt;

use chrono::NaiveDate;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("公民身份号码应为18位，实为{0}位")]
    Length(usize),
    #[error("公民身份号码前17位应为数字")]
    NotDigits,
    #[error("公民身份号码的省级代码{0}不存在")]
    Province(String),
    #[error("公民身份号码中的出生日期{0}不是有效日期")]
    BirthDate(String),
    #[error("公民身份号码中的出生日期{0}晚于今天")]
    BornInFuture(NaiveDate),
    #[error("公民身份号码校验位应为{expected}，实为{found}")]
    CheckCharacter { expected: char, found: char },
}

/// Province-level codes: 11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71, 81, 82.
fn valid_province(code: u32) -> bool {
    matches!(code, 11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81 | 82)
}

impl IdNumber {
    /// Parses and checks a number as of `today` (a birth date after it is invalid).
    pub fn parse(input: &str, today: NaiveDate) -> Result<Self, IdNumberError> {
        let number = input.trim().to_ascii_uppercase();
        let chars: Vec<char> = number.chars().collect();
        if chars.len() != 18 {
            return Err(IdNumberError::Length(chars.len()));
        }
        if !chars[..17].iter().all(char::is_ascii_digit) {
            return Err(IdNumberError::NotDigits);
        }
        let province: u32 = number[..2].parse().map_err(|_| IdNumberError::NotDigits)?;
        if !valid_province(province) {
            return Err(IdNumberError::Province(number[..2].to_string()));
        }
        let birth = NaiveDate::parse_from_str(&number[6..14], "%Y%m%d").map_err(|_| IdNumberError::BirthDate(number[6..14].to_string()))?;
        if birth > today {
            return Err(IdNumberError::BornInFuture(birth));
        }
        let sum: u32 = chars[..17].iter().zip(WEIGHTS).map(|(c, w)| c.to_digit(10).unwrap_or(0) * w).sum();
        let expected = CHECK[(sum % 11) as usize];
        if chars[17] != expected {
            return Err(IdNumberError::CheckCharacter { expected, found: chars[17] });
        }
        Ok(Self(number))
    }

    pub fn birth_date(&self) -> NaiveDate {
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").expect("checked at parse")
    }

    /// The 17th digit: odd for men, even for women.
    pub fn sex(&self) -> Sex {
        let digit = self.0.as_bytes()[16] - b'0';
        if digit % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    pub fn division_code(&self) -> &str {
        &self.0[..6]
    }

    /// For logs and listings: `320211********1232`.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdNumber {
    /// Masked by default, so a number never lands in a log in full by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
    }

    #[test]
    fn the_reference_numbers_parse_with_birth_date_and_sex() {
        let man = IdNumber::parse("320211198503151232", today()).unwrap();
        assert_eq!(man.birth_date(), NaiveDate::from_ymd_opt(1985, 3, 15).unwrap());
        assert_eq!(man.sex(), Sex::Male);
        let woman = IdNumber::parse("320214199607082626", today()).unwrap();
        assert_eq!(woman.sex(), Sex::Female);
        assert!(IdNumber::parse("34052419800101001x", today()).is_ok(), "lower-case x");
        assert_eq!(man.to_string(), "320211********1232");
    }

    #[test]
    fn wrong_check_dates_provinces_and_lengths_are_named() {
        assert!(matches!(IdNumber::parse("320211198503151233", today()), Err(IdNumberError::CheckCharacter { expected: '2', .. })));
        assert!(matches!(IdNumber::parse("320211198502301232", today()), Err(IdNumberError::BirthDate(_))));
        assert!(matches!(IdNumber::parse("990211198503151232", today()), Err(IdNumberError::Province(_))));
        assert!(matches!(IdNumber::parse("32021119850315123", today()), Err(IdNumberError::Length(17))));
        assert!(matches!(
            IdNumber::parse("320211202712011235", today()),
            Err(IdNumberError::BornInFuture(_)) | Err(IdNumberError::CheckCharacter { .. })
        ));
    }
}
