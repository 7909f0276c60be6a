//! Domain types of households: the `CodiceFiscale` newtype, parsed at the edge.

use std::fmt;

use chrono::{Datelike, NaiveDate};

/// Month letters of the codice fiscale, January to December.
const MONTHS: &[u8; 12] = b"ABCDEHLMPRST";
/// Letters that replace digits 0-9 in an omocodia code.
const OMOCODIA: &[u8; 10] = b"LMNPQRSTUV";
/// Positions that hold digits (or their omocodia letters).
const DIGIT_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];
/// Value of a character in an odd (1-based) position, for the check character.
const ODD: [u32; 36] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, // 0-9
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23, // A-Z
];

/// A syntactically valid Italian codice fiscale of a natural person (16 characters,
/// omocodia substitutions allowed), stored upper case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodiceFiscale(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodiceFiscaleError {
    #[error("a codice fiscale has 16 characters, this one has {0}")]
    Length(usize),
    #[error("character {position} of the codice fiscale must be {expected}")]
    Character { position: usize, expected: &'static str },
    #[error("`{0}` is not a month letter of the codice fiscale (A B C D E H L M P R S T)")]
    Month(char),
    #[error("day {0} is not a valid day of birth (01-31, or 41-71 for women)")]
    Day(u32),
    #[error("the check character is wrong: expected {expected}, found {found}")]
    CheckCharacter { expected: char, found: char },
}

fn value_index(c: u8) -> usize {
    if c.is_ascii_digit() {
        (c - b'0') as usize
    } else {
        (c - b'A') as usize + 10
    }
}

/// The check character of the first 15 characters.
fn check_character(first15: &[u8]) -> char {
    let sum: u32 = first15
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if i % 2 == 0 {
                ODD[value_index(c)]
            } else if c.is_ascii_digit() {
                (c - b'0') as u32
            } else {
                (c - b'A') as u32
            }
        })
        .sum();
    (b'A' + (sum % 26) as u8) as char
}

/// The digit a character stands for at a digit position (omocodia letters map back).
fn digit_value(c: u8) -> Option<u32> {
    if c.is_ascii_digit() {
        Some((c - b'0') as u32)
    } else {
        OMOCODIA.iter().position(|&l| l == c).map(|p| p as u32)
    }
}

impl CodiceFiscale {
    /// Parses and validates: length, character classes per position, month letter,
    /// day, omocodia letters, check character. Spaces around and lower case are accepted.
    pub fn parse(input: &str) -> Result<Self, CodiceFiscaleError> {
        let s = input.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        if b.len() != 16 {
            return Err(CodiceFiscaleError::Length(s.chars().count()));
        }
        for (i, &c) in b.iter().enumerate() {
            let ok = if DIGIT_POSITIONS.contains(&i) {
                digit_value(c).is_some()
            } else if i == 15 || i < 6 || i == 8 || i == 11 {
                c.is_ascii_uppercase()
            } else {
                true
            };
            if !ok {
                let expected =
                    if DIGIT_POSITIONS.contains(&i) { "a digit (or its omocodia letter L-V)" } else { "a letter" };
                return Err(CodiceFiscaleError::Character { position: i + 1, expected });
            }
        }
        if !MONTHS.contains(&b[8]) {
            return Err(CodiceFiscaleError::Month(b[8] as char));
        }
        let day = digit_value(b[9]).unwrap() * 10 + digit_value(b[10]).unwrap();
        if !((1..=31).contains(&day) || (41..=71).contains(&day)) {
            return Err(CodiceFiscaleError::Day(day));
        }
        let expected = check_character(&b[..15]);
        if b[15] as char != expected {
            return Err(CodiceFiscaleError::CheckCharacter { expected, found: b[15] as char });
        }
        Ok(CodiceFiscale(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Computes the codice fiscale of a person (no omocodia), as the Agenzia delle
    /// Entrate does. `birth_place` is the Belfiore code of the Comune or foreign state.
    pub fn compute(last_name: &str, first_name: &str, birth: NaiveDate, female: bool, birth_place: &str) -> Self {
        fn letters(s: &str) -> (Vec<u8>, Vec<u8>) {
            let up: Vec<u8> = s
                .to_ascii_uppercase()
                .bytes()
                .map(|c| match c {
                    // Names arrive ASCII-folded by callers; keep plain letters only.
                    c if c.is_ascii_uppercase() => c,
                    _ => b' ',
                })
                .filter(|c| *c != b' ')
                .collect();
            let (v, c): (Vec<u8>, Vec<u8>) = up.into_iter().partition(|c| b"AEIOU".contains(c));
            (c, v)
        }
        fn code(cons: Vec<u8>, vow: Vec<u8>) -> Vec<u8> {
            let mut out: Vec<u8> = cons.into_iter().chain(vow).take(3).collect();
            while out.len() < 3 {
                out.push(b'X');
            }
            out
        }
        let (lc, lv) = letters(last_name);
        let (mut fc, fv) = letters(first_name);
        if fc.len() >= 4 {
            fc = vec![fc[0], fc[2], fc[3]];
        }
        let mut s = Vec::with_capacity(16);
        s.extend(code(lc, lv));
        s.extend(code(fc, fv));
        s.extend(format!("{:02}", birth.year() % 100).bytes());
        s.push(MONTHS[birth.month0() as usize]);
        s.extend(format!("{:02}", birth.day() + if female { 40 } else { 0 }).bytes());
        s.extend(birth_place.to_ascii_uppercase().bytes().take(4));
        let check = check_character(&s);
        s.push(check as u8);
        CodiceFiscale(String::from_utf8(s).expect("ASCII"))
    }
}

impl fmt::Display for CodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Never print a whole codice fiscale in debug output (it ends up in logs).
impl fmt::Debug for CodiceFiscale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodiceFiscale({}…)", &self.0[..3])
    }
}

impl std::str::FromStr for CodiceFiscale {
    type Err = CodiceFiscaleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn computes_the_textbook_example() {
        // The example of the Agenzia delle Entrate's documentation: Mario Rossi,
        // born in Rome on 1 January 1980.
        let cf = CodiceFiscale::compute("Rossi", "Mario", d(1980, 1, 1), false, "H501");
        assert_eq!(cf.as_str(), "RSSMRA80A01H501U");
        assert!(CodiceFiscale::parse("rssmra80a01h501u").is_ok());
    }

    #[test]
    fn women_add_forty_to_the_day_and_long_first_names_skip_a_consonant() {
        let cf = CodiceFiscale::compute("Bianchi", "Francesca", d(1975, 12, 5), true, "F205");
        assert_eq!(&cf.as_str()[..11], "BNCFNC75T45");
        assert!(CodiceFiscale::parse(cf.as_str()).is_ok());
    }

    #[test]
    fn rejects_a_wrong_check_character() {
        assert_eq!(
            CodiceFiscale::parse("RSSMRA80A01H501A"),
            Err(CodiceFiscaleError::CheckCharacter { expected: 'U', found: 'A' })
        );
    }

    #[test]
    fn rejects_bad_shapes() {
        assert_eq!(CodiceFiscale::parse("RSSMRA80A01H501"), Err(CodiceFiscaleError::Length(15)));
        assert!(matches!(CodiceFiscale::parse("RSSMRA80Z01H501U"), Err(CodiceFiscaleError::Month('Z'))));
        assert!(matches!(CodiceFiscale::parse("RSSMRA80A35H501U"), Err(CodiceFiscaleError::Day(35))));
        assert!(matches!(
            CodiceFiscale::parse("RSS1RA80A01H501U"),
            Err(CodiceFiscaleError::Character { position: 4, .. })
        ));
        assert!(matches!(
            CodiceFiscale::parse("RSSMRA8AA01H501U"),
            Err(CodiceFiscaleError::Character { position: 8, .. })
        ));
    }

    #[test]
    fn accepts_omocodia_substitutions() {
        // Replace the last digit (position 15, `1`) with its letter `M`: the check
        // character is recomputed over the new string.
        let base = b"RSSMRA80A01H50M".to_vec();
        let check = check_character(&base);
        let code = format!("{}{}", String::from_utf8(base).unwrap(), check);
        assert!(CodiceFiscale::parse(&code).is_ok(), "{code}");
        // An omocodia letter outside L-V is refused.
        let bad = format!("RSSMRA80A01H50A{check}");
        assert!(matches!(CodiceFiscale::parse(&bad), Err(CodiceFiscaleError::Character { position: 15, .. })));
    }

    #[test]
    fn debug_does_not_print_the_code() {
        let cf = CodiceFiscale::parse("RSSMRA80A01H501U").unwrap();
        assert!(!format!("{cf:?}").contains("80A01"));
    }
}
