//! Domain rules of accreditation (`spec/domain.md` §1.4, §2.1): who may grant
//! which role, which roles work for a Comune's own data (and so need the
//! Comune's convention for GePI), validity periods, funding sources, and the
//! checks on the personal details an administrator records.

use chrono::NaiveDate;
use entity::enums::{FundingSource, Role};
use sea_orm::{ActiveEnum, Iterable};

use crate::error::AppError;

/// The roles `by` may accredit. The Ministry accredits the Ambito
/// administrators; the administrator accredits every operational role of its
/// Ambito (and the Ambito's analysts), never an administrator. Nobody grants
/// `ministry_admin` through the API: the first one is created with
/// `gepi operators accredit`, the command line of the installation.
pub fn grantable(by: Role) -> &'static [Role] {
    match by {
        Role::MinistryAdmin => &[Role::AmbitoAdmin],
        Role::AmbitoAdmin => &[
            Role::PaisCoordinator,
            Role::CaseManager,
            Role::RegistryCheckCoordinator,
            Role::RegistryCheckOfficer,
            Role::PucManager,
            Role::SupportActivationOfficer,
            Role::MeetingRegistrar,
            Role::DisadvantageValidator,
            Role::Analyst,
        ],
        _ => &[],
    }
}

pub fn may_grant(by: Role, role: Role) -> bool {
    grantable(by).contains(&role)
}

/// Roles that work on the data a Comune controls (residency checks, its
/// disadvantage certifications, its PUC, its front office): a profile of one of
/// them covers only Comuni with a convention for GePI in force, because the
/// Comune is the controller of those data on the basis of that convention
/// (domain spec §1.3).
pub const COMUNE_LEVEL_ROLES: [Role; 5] = [
    Role::RegistryCheckCoordinator,
    Role::RegistryCheckOfficer,
    Role::PucManager,
    Role::MeetingRegistrar,
    Role::DisadvantageValidator,
];

pub fn comune_level(role: Role) -> bool {
    COMUNE_LEVEL_ROLES.contains(&role)
}

/// Roles whose professionals are paid from a fund the administrator records.
pub fn needs_funding(role: Role) -> bool {
    !matches!(role, Role::MinistryAdmin | Role::AmbitoAdmin | Role::Analyst | Role::InpsFeed | Role::CpiPartner)
}

/// The stored form of a set of funding sources: codes in code order, comma-separated.
pub fn funding_codes(list: &[FundingSource]) -> String {
    let mut v: Vec<FundingSource> = list.to_vec();
    v.sort();
    v.dedup();
    v.iter().map(|f| f.to_value()).collect::<Vec<_>>().join(",")
}

/// Profiles paid (among others) by `fund`: its code is one element of the
/// comma-joined column (codes hold `_`, a LIKE wildcard, hence the escape).
pub fn paid_by(fund: FundingSource) -> sea_orm::Condition {
    use sea_orm::{sea_query::LikeExpr, ColumnTrait};
    let col = entity::profile::Column::FundingSources;
    let code = fund.to_value();
    let esc = code.replace('_', "\\_");
    let like = |p: String| col.like(LikeExpr::new(p).escape('\\'));
    sea_orm::Condition::any()
        .add(col.eq(code))
        .add(like(format!("{esc},%")))
        .add(like(format!("%,{esc}")))
        .add(like(format!("%,{esc},%")))
}

/// The funding sources of a stored profile (unknown codes are skipped: the
/// column is written only through [`funding_codes`]).
pub fn funding_of(stored: Option<&str>) -> Vec<FundingSource> {
    stored
        .map(|s| s.split(',').filter_map(|c| FundingSource::try_from_value(&c.to_string()).ok()).collect())
        .unwrap_or_default()
}

/// A funding source from its code (the command line; GraphQL has the enum).
pub fn parse_funding(field: &str, code: &str) -> Result<FundingSource, AppError> {
    FundingSource::try_from_value(&code.trim().to_uppercase()).map_err(|_| {
        AppError::validation(
            field,
            format!(
                "unknown funding source `{}` (known: {})",
                code.chars().take(40).collect::<String>(),
                FundingSource::iter().map(|f| f.to_value()).collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

/// A validity period: first and (optional) last day, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

impl Validity {
    /// Refuses a period that ends before it starts, or that is over already.
    pub fn checked(from: NaiveDate, to: Option<NaiveDate>, today: NaiveDate, field: &str) -> Result<Self, AppError> {
        let last = NaiveDate::from_ymd_opt(2099, 12, 31).expect("valid date");
        if from > last {
            return Err(AppError::validation(format!("{field}.validFrom"), format!("is after {last}")));
        }
        if to.is_some_and(|t| t > last) {
            return Err(AppError::validation(
                format!("{field}.validTo"),
                format!("is after {last}: leave it out for an open-ended period"),
            ));
        }
        if let Some(t) = to {
            if t < from {
                return Err(AppError::validation(
                    format!("{field}.validTo"),
                    format!("ends ({t}) before it starts ({from})"),
                ));
            }
            if t < today {
                return Err(AppError::validation(
                    format!("{field}.validTo"),
                    format!("is in the past ({t}): the period would be over already"),
                ));
            }
        }
        Ok(Validity { from, to })
    }

    /// A period granted now starts today or later: authority is never granted
    /// in the past (what an operator did before was not under it).
    pub fn granted(from: NaiveDate, to: Option<NaiveDate>, today: NaiveDate, field: &str) -> Result<Self, AppError> {
        if from < today {
            return Err(AppError::validation(
                format!("{field}.validFrom"),
                format!("is in the past ({from}): a profile starts today or later"),
            ));
        }
        Self::checked(from, to, today, field)
    }

    pub fn overlaps(&self, from: NaiveDate, to: Option<NaiveDate>) -> bool {
        self.from <= to.unwrap_or(NaiveDate::MAX) && from <= self.to.unwrap_or(NaiveDate::MAX)
    }

    /// The day from which the period matters: its start, or today if it started already.
    pub fn effective(&self, today: NaiveDate) -> NaiveDate {
        self.from.max(today)
    }
}

/// A name as recorded: trimmed, 1 to 100 characters, letters and the marks
/// Italian names use.
pub fn person_name(field: &str, v: &str) -> Result<String, AppError> {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > 100 {
        return Err(AppError::validation(field, "must be 1 to 100 characters"));
    }
    if !t.chars().all(|c| c.is_alphabetic() || matches!(c, ' ' | '\'' | '-' | '.' | '’')) {
        return Err(AppError::validation(field, "may hold only letters, spaces, apostrophes, hyphens and dots"));
    }
    Ok(t.to_string())
}

/// An institutional e-mail address: one `@`, a domain with a dot, no spaces, at
/// most 254 characters. Stored lower-case.
pub fn email(field: &str, v: &str) -> Result<String, AppError> {
    let t = v.trim();
    let bad = || AppError::validation(field, "is not an e-mail address (name@domain.it)");
    if t.len() > 254 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = t.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(bad());
    }
    Ok(t.to_lowercase())
}

/// A phone number: digits, spaces and an optional leading `+`, 6 to 20 digits.
pub fn phone(field: &str, v: &str) -> Result<String, AppError> {
    let t = v.trim();
    let rest = t.strip_prefix('+').unwrap_or(t);
    let digits = rest.chars().filter(char::is_ascii_digit).count();
    if t.len() > 32 || !rest.chars().all(|c| c.is_ascii_digit() || c == ' ') || !(6..=20).contains(&digits) {
        return Err(AppError::validation(field, "is not a phone number (digits, spaces, an optional leading +)"));
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ministry_grants_administrators_and_administrators_the_rest() {
        assert!(may_grant(Role::MinistryAdmin, Role::AmbitoAdmin));
        assert!(!may_grant(Role::MinistryAdmin, Role::CaseManager));
        assert!(may_grant(Role::AmbitoAdmin, Role::CaseManager));
        for r in [Role::AmbitoAdmin, Role::MinistryAdmin, Role::InpsFeed, Role::CpiPartner] {
            assert!(!may_grant(Role::AmbitoAdmin, r), "{r:?}");
        }
        assert!(grantable(Role::PaisCoordinator).is_empty());
    }

    #[test]
    fn funding_sources_round_trip_in_code_order() {
        let s = funding_codes(&[FundingSource::PnInclusione, FundingSource::FondoPoverta, FundingSource::PnInclusione]);
        assert_eq!(s, "FONDO_POVERTA,PN_INCLUSIONE");
        assert_eq!(funding_of(Some(&s)), vec![FundingSource::FondoPoverta, FundingSource::PnInclusione]);
        assert_eq!(parse_funding("f", " bilancio_comunale ").unwrap(), FundingSource::BilancioComunale);
        assert!(parse_funding("f", "FONDO").is_err());
    }

    #[test]
    fn validity_and_contacts_are_checked() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let today = d("2026-12-02");
        assert!(Validity::checked(d("2027-01-01"), Some(d("2026-12-31")), today, "input").is_err());
        assert!(Validity::checked(d("2026-01-01"), Some(d("2026-06-30")), today, "input").is_err());
        assert!(Validity::checked(d("2026-01-01"), NaiveDate::from_ymd_opt(10000, 1, 1), today, "input").is_err());
        assert!(Validity::granted(d("2026-01-01"), None, today, "input").is_err());
        let v = Validity::checked(d("2026-01-01"), None, today, "input").unwrap();
        assert!(v.overlaps(d("2030-01-01"), None));
        assert_eq!(v.effective(today), today);
        assert_eq!(email("e", " Anna.Rossi@Comune.Desio.MB.it ").unwrap(), "anna.rossi@comune.desio.mb.it");
        for bad in ["anna", "anna@", "@comune.it", "a b@comune.it", "a@comune", "a@@comune.it", "a@comune..it"] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
        assert!(phone("p", "+39 0362 123456").is_ok());
        assert!(phone("p", "12-34").is_err());
        assert!(phone("p", "+1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0").is_err(), "longer than its column");
        assert!(person_name("n", "D'Angelo").is_ok());
        assert!(person_name("n", "<script>").is_err());
    }
}
