//! Domain types of the territory: the `IstatCode` newtype.

use std::fmt;

/// ISTAT code of a Comune: six digits, the first three the province.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IstatCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IstatCodeError {
    #[error("an ISTAT code of a Comune has exactly 6 digits, got `{0}`")]
    Shape(String),
    #[error("`{0}` has no valid province part (001-111)")]
    Province(String),
}

impl IstatCode {
    pub fn parse(input: &str) -> Result<Self, IstatCodeError> {
        let s = input.trim();
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IstatCodeError::Shape(s.chars().take(20).collect()));
        }
        let province: u32 = s[..3].parse().expect("digits");
        if !(1..=111).contains(&province) || &s[3..] == "000" {
            return Err(IstatCodeError::Province(s.to_string()));
        }
        Ok(IstatCode(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code given as input `field`, or a validation error on that field.
    pub fn parse_at(field: &str, input: &str) -> Result<String, crate::error::AppError> {
        IstatCode::parse(input).map(|c| c.0).map_err(|e| crate::error::AppError::validation(field, e.to_string()))
    }
}

impl fmt::Display for IstatCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IstatCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IstatCode({})", self.0)
    }
}

/// A document size as GraphQL's `Int` carries it (documents are far below 2 GiB).
pub fn size_as_int(bytes: i64) -> Option<i32> {
    i32::try_from(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_codes_and_rejects_malformed_ones() {
        assert_eq!(IstatCode::parse("108023").unwrap().as_str(), "108023");
        assert_eq!(IstatCode::parse(" 058091 ").unwrap().as_str(), "058091");
        assert!(matches!(IstatCode::parse("58091"), Err(IstatCodeError::Shape(_))));
        assert!(matches!(IstatCode::parse("10802A"), Err(IstatCodeError::Shape(_))));
        assert!(matches!(IstatCode::parse("000123"), Err(IstatCodeError::Province(_))));
        assert!(matches!(IstatCode::parse("999001"), Err(IstatCodeError::Province(_))));
    }
}
