//! The format of the INPS feed, version 1 (`feeds/inps/v1/`): JSON Lines, a
//! header line, then one record a line. Each record carries INPS's own
//! identifiers: the application's protocol, and `seq`, the feed sequence
//! number INPS gives every record it sends (unique across feeds, never
//! reused for other content). Parsing checks every field and names the first
//! wrong one by its path (`household.members[1].fiscalCode`); references to
//! GePI's data (the Comuni) are checked when the record is applied.

use chrono::NaiveDate;
use entity::enums::{ApplicationStatus, DisadvantageCategory, FamilyRelation, Measure, ResidencyCheckKind, Sex};
use serde::{de::DeserializeOwned, Deserialize};

use crate::{error::AppError, households::model::CodiceFiscale};

/// The `feed` of the header line.
pub const FEED: &str = "gepi.inps";
/// The version of the format this build reads.
pub const VERSION: u32 = 1;
/// The longest line read (a household of a dozen members is under 8 KiB).
pub const MAX_LINE_BYTES: usize = 256 * 1024;

/// The first line of a feed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Header {
    /// Always `gepi.inps`.
    pub feed: String,
    /// The format's version: `1`.
    pub version: u32,
    /// INPS's id of this transmission, named in the audit trail of every change it makes.
    pub feed_id: String,
    /// When INPS produced it (RFC 3339).
    pub produced_at: chrono::DateTime<chrono::FixedOffset>,
}

/// Reads the header line: a file whose first line is not one is refused whole.
pub fn header(line: &str) -> Result<Header, AppError> {
    let h: Header = parse(line.trim()).map_err(|e| match e {
        AppError::Validation { field, message } => AppError::Validation {
            field,
            message: format!("the first line of a feed is its header ({{\"feed\":\"{FEED}\",\"version\":{VERSION},\"feedId\":…,\"producedAt\":…}}): {message}"),
        },
        other => other,
    })?;
    if h.feed != FEED {
        return Err(AppError::validation("feed", format!("not an INPS feed: `feed` is `{FEED}`")));
    }
    if h.version != VERSION {
        return Err(AppError::validation(
            "version",
            format!("version {} of the feed is not read by this GePI, which reads version {VERSION}", h.version),
        ));
    }
    text("feedId", &h.feed_id, 100)?;
    Ok(h)
}

/// One record: its sequence number and what it says.
#[derive(Debug, Clone)]
pub struct Record {
    pub seq: i64,
    pub body: Body,
    /// SHA-256 of the record as read (its fields after defaults, in a fixed
    /// order: the same record however it is spaced, ordered, or whether it
    /// spells out a default or a null), lower-case hex.
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub enum Body {
    Application(Application),
    Status(Status),
    ResidencyCheck(ResidencyCheckRequest),
    Disadvantage(DisadvantageRequest),
}

impl Body {
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Application(_) => "application",
            Body::Status(_) => "status",
            Body::ResidencyCheck(_) => "residencyCheck",
            Body::Disadvantage(_) => "disadvantage",
        }
    }

    /// The application the record is about: records of one application are
    /// applied in the order of the feed.
    pub fn protocol(&self) -> &str {
        match self {
            Body::Application(a) => &a.protocol,
            Body::Status(s) => &s.protocol,
            Body::ResidencyCheck(r) => &r.protocol,
            Body::Disadvantage(d) => &d.protocol,
        }
    }
}

/// `kind: "residencyCheck"`: INPS asks the Comune of residence of a member of
/// an application's household to check a requirement (residence, permit of
/// stay, composition of the household).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResidencyCheckRequest {
    pub protocol: String,
    /// The member whose requirement is checked.
    pub fiscal_code: String,
    pub check_kind: ResidencyCheckKind,
    /// When INPS asked: the Comune's 30 days run from here.
    pub requested_on: NaiveDate,
}

/// `kind: "disadvantage"`: INPS asks the certifying Comune to validate the
/// condizione di svantaggio a member declared.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisadvantageRequest {
    pub protocol: String,
    /// INPS's id of the request (unique).
    pub request_id: String,
    pub fiscal_code: String,
    pub category: DisadvantageCategory,
    /// ISTAT code of the Comune that issued the certification: it decides.
    pub certifying_comune_istat: String,
    #[serde(default)]
    pub certificate_protocol: Option<String>,
    #[serde(default)]
    pub certificate_from: Option<NaiveDate>,
    #[serde(default)]
    pub certificate_to: Option<NaiveDate>,
    /// When the request reached the Comune: its 60 days run from here.
    pub received_on: NaiveDate,
}

/// `kind: "application"`: an ADI application with its household, as INPS
/// knows it now (a first transmission, or a later one with changes).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Application {
    /// INPS protocol of the application; also names the household.
    pub protocol: String,
    pub measure: Measure,
    pub submitted_on: NaiveDate,
    /// `ONLINE`, `PATRONATO`, `CAF`, …
    pub channel: String,
    #[serde(default)]
    pub isee_protocol: Option<String>,
    /// When the household signed the PAD: the 120-day clock starts here.
    #[serde(default)]
    pub pad_signed_on: Option<NaiveDate>,
    pub status: ApplicationStatus,
    #[serde(default)]
    pub months_paid: i32,
    pub household: Household,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Household {
    /// ISTAT code of the Comune of residence: it decides the Ambito.
    pub comune_istat: String,
    /// Date of the composition (the DSU's).
    pub composition_date: NaiveDate,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Member {
    pub fiscal_code: String,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: NaiveDate,
    /// Belfiore code of the Comune (or foreign state) of birth.
    pub birth_place_code: String,
    pub sex: Sex,
    /// ISO 3166-1 alpha-3 code of the citizenship.
    pub citizenship: String,
    pub relation: FamilyRelation,
    pub residence_comune_istat: String,
    #[serde(default = "yes")]
    pub in_equivalence_scale: bool,
    #[serde(default)]
    pub obligated_activation: bool,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub permit_type: Option<String>,
    #[serde(default)]
    pub permit_expiry: Option<NaiveDate>,
    /// Months of benefit still to be paid.
    #[serde(default)]
    pub residual_benefit_months: i32,
}

fn yes() -> bool {
    true
}

/// `kind: "status"`: a change of the application's state at INPS
/// (suspension, decadenza, revoca, end of the period, …).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Status {
    pub protocol: String,
    pub status: ApplicationStatus,
    /// When it took effect.
    pub on: NaiveDate,
    #[serde(default)]
    pub months_paid: Option<i32>,
}

/// What every record has besides its body.
#[derive(Deserialize)]
struct Envelope {
    seq: serde_json::Value,
    kind: serde_json::Value,
}

/// Reads one record line: `VALIDATION` naming the first wrong field.
pub fn record(line: &str) -> Result<Record, AppError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(AppError::validation("", format!("a record is at most {MAX_LINE_BYTES} bytes")));
    }
    let mut value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
        AppError::validation("", format!("not a JSON object: {}", e.to_string().split(" at line").next().unwrap_or("")))
    })?;
    let Some(obj) = value.as_object_mut() else {
        return Err(AppError::validation("", "a record is a JSON object"));
    };
    let env: Envelope = serde_json::from_value(serde_json::json!({
        "seq": obj.remove("seq").unwrap_or(serde_json::Value::Null),
        "kind": obj.remove("kind").unwrap_or(serde_json::Value::Null),
    }))
    .map_err(|_| AppError::validation("", "a record has `seq` and `kind`"))?;
    let seq = env
        .seq
        .as_i64()
        .filter(|n| *n >= 1)
        .ok_or_else(|| AppError::validation("seq", "the feed sequence number is a positive integer"))?;
    let body = match env.kind.as_str() {
        Some("application") => Body::Application(application(from_value(value)?)?),
        Some("status") => {
            let s: Status = from_value(value)?;
            text("protocol", &s.protocol, 40)?;
            if s.months_paid.is_some_and(|m| !(0..=36).contains(&m)) {
                return Err(AppError::validation("monthsPaid", "between 0 and 36"));
            }
            Body::Status(s)
        }
        Some("residencyCheck") => {
            let r: ResidencyCheckRequest = from_value(value)?;
            text("protocol", &r.protocol, 40)?;
            let cf =
                CodiceFiscale::parse(&r.fiscal_code).map_err(|e| AppError::validation("fiscalCode", e.to_string()))?;
            Body::ResidencyCheck(ResidencyCheckRequest { fiscal_code: cf.as_str().to_string(), ..r })
        }
        Some("disadvantage") => {
            let d: DisadvantageRequest = from_value(value)?;
            text("protocol", &d.protocol, 40)?;
            text("requestId", &d.request_id, 40)?;
            let cf =
                CodiceFiscale::parse(&d.fiscal_code).map_err(|e| AppError::validation("fiscalCode", e.to_string()))?;
            if let Some(p) = &d.certificate_protocol {
                text("certificateProtocol", p, 60)?;
            }
            if let (Some(from), Some(to)) = (d.certificate_from, d.certificate_to) {
                if to < from {
                    return Err(AppError::validation("certificateTo", "before certificateFrom"));
                }
            }
            if d.certifying_comune_istat.len() != 6 || !d.certifying_comune_istat.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AppError::validation("certifyingComuneIstat", "an ISTAT code has six digits"));
            }
            Body::Disadvantage(DisadvantageRequest { fiscal_code: cf.as_str().to_string(), ..d })
        }
        _ => return Err(AppError::validation("kind", "`application`, `status`, `residencyCheck` or `disadvantage`")),
    };
    // The canonical form: the typed record, serialised.
    let canonical = match &body {
        Body::Application(a) => serde_json::to_string(&(seq, "application", a)),
        Body::Status(s) => serde_json::to_string(&(seq, "status", s)),
        Body::ResidencyCheck(r) => serde_json::to_string(&(seq, "residencyCheck", r)),
        Body::Disadvantage(d) => serde_json::to_string(&(seq, "disadvantage", d)),
    }
    .map_err(|e| AppError::internal(format!("serialising a record: {e}")))?;
    let sha256 = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(canonical.as_bytes()))
    };
    Ok(Record { seq, body, sha256 })
}

fn parse<T: DeserializeOwned>(line: &str) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_str(line);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        AppError::Validation { field: Some(field), message: describe(e.inner()) }
    })
}

fn from_value<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, AppError> {
    serde_path_to_error::deserialize(v).map_err(|e: serde_path_to_error::Error<serde_json::Error>| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        AppError::Validation { field: Some(field), message: describe(e.inner()) }
    })
}

/// serde's message without its position (a record is one line) and without
/// the value it quotes (which may be a name or a codice fiscale): only what was
/// expected.
fn describe(e: &serde_json::Error) -> String {
    let m = e.to_string();
    let m = m.split(" at line ").next().unwrap_or(&m);
    let expected = m.rsplit_once(", expected ").map(|(_, x)| x);
    if m.starts_with("invalid type") {
        format!("wrong type: expected {}", expected.unwrap_or("another type"))
    } else if m.starts_with("unknown variant") {
        format!("unknown value: expected {}", expected.unwrap_or("a known value"))
    } else if m.starts_with("invalid value") || m.starts_with("invalid length") {
        format!("invalid value: expected {}", expected.unwrap_or("another value"))
    } else if e.classify() == serde_json::error::Category::Syntax {
        "not valid JSON".to_string()
    } else {
        // Missing or unknown fields name a field, never a value; chrono's date
        // errors name no value either.
        m.to_string()
    }
}

fn text(field: &str, v: &str, max: usize) -> Result<(), AppError> {
    if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(AppError::validation(field, format!("between 1 and {max} characters, no control characters")));
    }
    Ok(())
}

fn istat(field: &str, v: &str) -> Result<(), AppError> {
    crate::territory::model::IstatCode::parse_at(field, v).map(|_| ())
}

/// The checks of an application record that need nothing but the record.
fn application(a: Application) -> Result<Application, AppError> {
    text("protocol", &a.protocol, 40)?;
    text("channel", &a.channel, 40)?;
    if let Some(p) = &a.isee_protocol {
        text("iseeProtocol", p, 40)?;
    }
    if !(0..=36).contains(&a.months_paid) {
        return Err(AppError::validation("monthsPaid", "between 0 and 36"));
    }
    if a.pad_signed_on.is_some_and(|pad| pad < a.submitted_on) {
        return Err(AppError::validation("padSignedOn", "the PAD is signed after the application is submitted"));
    }
    if a.status == ApplicationStatus::Accolta && a.pad_signed_on.is_none() {
        return Err(AppError::validation("padSignedOn", "an accepted application (ACCOLTA) has the PAD's date"));
    }
    istat("household.comuneIstat", &a.household.comune_istat)?;
    let members = &a.household.members;
    if members.is_empty() || members.len() > 30 {
        return Err(AppError::validation("household.members", "between 1 and 30 members"));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, m) in members.iter().enumerate() {
        let f = |name: &str| format!("household.members[{i}].{name}");
        let cf =
            CodiceFiscale::parse(&m.fiscal_code).map_err(|e| AppError::validation(f("fiscalCode"), e.to_string()))?;
        if !seen.insert(cf.as_str().to_string()) {
            return Err(AppError::validation(f("fiscalCode"), "the same codice fiscale twice in one household"));
        }
        text(&f("firstName"), &m.first_name, 100)?;
        text(&f("lastName"), &m.last_name, 100)?;
        if m.birth_date > a.household.composition_date {
            return Err(AppError::validation(f("birthDate"), "after the date of the composition"));
        }
        if m.birth_place_code.len() != 4 || !m.birth_place_code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(AppError::validation(f("birthPlaceCode"), "a Belfiore code: four characters, e.g. F205"));
        }
        if m.citizenship.len() != 3 || !m.citizenship.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(AppError::validation(f("citizenship"), "an ISO 3166-1 alpha-3 code, e.g. ITA"));
        }
        istat(&f("residenceComuneIstat"), &m.residence_comune_istat)?;
        for (name, v, max) in [("email", &m.email, 200), ("phone", &m.phone, 32), ("permitType", &m.permit_type, 40)] {
            if let Some(v) = v {
                text(&f(name), v, max)?;
            }
        }
        if !(0..=36).contains(&m.residual_benefit_months) {
            return Err(AppError::validation(f("residualBenefitMonths"), "between 0 and 36"));
        }
    }
    let applicants: Vec<_> = members.iter().filter(|m| m.relation == FamilyRelation::Richiedente).collect();
    if applicants.len() != 1 {
        return Err(AppError::validation("household.members", "exactly one member is the applicant (RICHIEDENTE)"));
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMBER: &str = r#"{"fiscalCode":"RSSMRA80A01F205Z","firstName":"Mario","lastName":"Rossi","birthDate":"1980-01-01","birthPlaceCode":"F205","sex":"M","citizenship":"ITA","relation":"RICHIEDENTE","residenceComuneIstat":"015146"}"#;

    fn app(members: &str) -> String {
        format!(
            r#"{{"seq":7,"kind":"application","protocol":"INPS-ADI-2026-00000001","measure":"ADI","submittedOn":"2026-09-01","channel":"ONLINE","padSignedOn":"2026-09-20","status":"ACCOLTA","household":{{"comuneIstat":"015146","compositionDate":"2026-08-15","members":[{members}]}}}}"#
        )
    }

    fn field(r: Result<Record, AppError>) -> (String, String) {
        match r {
            Err(AppError::Validation { field, message }) => (field.unwrap_or_default(), message),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_record_reads_and_a_bad_one_names_its_field() {
        let cf = CodiceFiscale::compute("Rossi", "Mario", NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(), false, "F205");
        let member = MEMBER.replace("RSSMRA80A01F205Z", cf.as_str());
        let r = record(&app(&member)).unwrap();
        assert_eq!((r.seq, r.body.kind(), r.body.protocol()), (7, "application", "INPS-ADI-2026-00000001"));
        // A wrong check character, named by its path.
        let mut bad = cf.as_str().to_string();
        let last = bad.pop().unwrap();
        bad.push(if last == 'A' { 'B' } else { 'A' });
        let (f, m) = field(record(&app(&MEMBER.replace("RSSMRA80A01F205Z", &bad))));
        assert_eq!(f, "household.members[0].fiscalCode");
        assert!(m.contains("check character"), "{m}");
        // A wrong date and an unknown field, by path.
        let (f, _) = field(record(&app(&member.replace("1980-01-01", "1980-02-30"))));
        assert_eq!(f, "household.members[0].birthDate");
        let (f, m) = field(record(&app(&member.replace(r#""sex":"M""#, r#""sex":"M","shoeSize":44"#))));
        assert_eq!(f, "household.members[0].shoeSize", "{m}");
        assert!(m.contains("shoeSize"), "{m}");
        let (f, _) = field(record(&app(&member.replace("015146", "15146"))));
        assert_eq!(f, "household.members[0].residenceComuneIstat");
        let (f, _) = field(record(&app(&member.replace("RICHIEDENTE", "FIGLIO"))));
        assert_eq!(f, "household.members");
        let (f, _) = field(record(&app(&member).replace(r#""seq":7"#, r#""seq":-1"#)));
        assert_eq!(f, "seq");
        let (f, _) = field(record(&app(&member).replace(r#""kind":"application""#, r#""kind":"payment""#)));
        assert_eq!(f, "kind");
        let (f, _) = field(record("{not json"));
        assert_eq!(f, "");
        // The content's hash does not depend on spacing or on the order of the keys.
        let reordered =
            app(&member).replacen(r#"{"seq":7,"kind":"application","#, r#"{ "kind" : "application" , "seq":7,"#, 1);
        assert_ne!(reordered, app(&member));
        assert_eq!(record(&reordered).unwrap().sha256, r.sha256);
        assert_ne!(record(&app(&member).replace("ONLINE", "CAF")).unwrap().sha256, r.sha256);
        let spelt =
            app(&member).replace(r#""channel":"ONLINE","#, r#""channel":"ONLINE","monthsPaid":0,"iseeProtocol":null,"#);
        assert_eq!(record(&spelt).unwrap().sha256, r.sha256, "a default spelt out is the same record");
        // A wrong value is not quoted back (it may be personal data).
        let (f, m) = field(record(&app(&member.replace(r#""sex":"M""#, r#""sex":"Mario Rossi""#))));
        assert_eq!(f, "household.members[0].sex");
        assert!(!m.contains("Mario") && m.contains("expected"), "{m}");
        let (_, m) = field(record(&app(&member.replace(r#""firstName":"Mario""#, r#""firstName":7"#))));
        assert!(m.starts_with("wrong type"), "{m}");
    }

    #[test]
    fn the_header_names_feed_and_version() {
        let h = header(r#"{"feed":"gepi.inps","version":1,"feedId":"F-1","producedAt":"2026-12-06T08:00:00+01:00"}"#);
        assert_eq!(h.unwrap().feed_id, "F-1");
        let e = header(r#"{"feed":"gepi.inps","version":2,"feedId":"F-1","producedAt":"2026-12-06T08:00:00Z"}"#);
        assert!(matches!(e, Err(AppError::Validation { field: Some(f), .. }) if f == "version"));
        assert!(header("id;name").is_err());
    }
}
