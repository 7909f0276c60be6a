//! SPID login end to end against a fake IdP (feature `spid`): metadata, the
//! AuthnRequest, one case per kind of crafted Response of spid-sp-test's suite
//! (plus replay, expiry and unsolicited Responses), sessions with and without a
//! profile to choose, and IdP-initiated single logout.

mod fake_idp;
mod hardening;

use std::sync::Arc;

use axum::{
    body::Body,
    http::{header, HeaderMap, Method, Request as HttpRequest, StatusCode},
};
use entity::{enums::AuditAction, operator, profile};
use fake_idp::{element, evil_assertion, keys, Request, Spec, IDP_ENTITY_ID};
use gepi::{
    config::{SamlConfig, SamlProfile},
    spid::{xml, Keys, Sp},
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::helpers::TestApp;

const SP_ENTITY_ID: &str = "https://gepi.test";
const ACS: &str = "https://gepi.test/saml/acs";

fn saml_config(profile: SamlProfile) -> SamlConfig {
    SamlConfig {
        entity_id: SP_ENTITY_ID.into(),
        base_url: SP_ENTITY_ID.into(),
        key_file: String::new(),
        cert_file: String::new(),
        idp_metadata: vec!["fake-idp.xml".into()],
        organization_name: "Comune di Desio".into(),
        organization_display_name: "Comune di Desio".into(),
        organization_url: "https://www.comune.desio.mb.it".into(),
        ipa_code: "c_f257".into(),
        contact_email: "protocollo@comune.desio.mb.it".into(),
        contact_phone: Some("+390362392111".into()),
        profile,
    }
}

fn sp_keys() -> Keys {
    Keys::from_pem(&keys().sp.key_pem(), &keys().sp.cert_pem()).expect("SP keys")
}

fn service_provider() -> Arc<Sp> {
    let meta = vec![("fake-idp.xml".to_string(), fake_idp::idp_metadata(true))];
    Arc::new(Sp::new(saml_config(SamlProfile::Production), sp_keys(), &meta).expect("SP builds"))
}

/// A seeded app serving SPID, and the people the tests log in as.
struct World {
    app: TestApp,
    /// An operator with exactly one profile in force.
    cf: String,
    /// Another accredited operator (the victim of the wrapping attacks).
    other_cf: String,
    /// An operator with two profiles in force.
    multi_cf: String,
}

async fn world() -> World {
    let app = TestApp::seeded().await.with_spid(service_provider());
    let today = crate::helpers::seed_today();
    let profiles = profile::Entity::find().all(&app.db).await.unwrap();
    let mut by_op: std::collections::BTreeMap<uuid::Uuid, Vec<profile::Model>> = Default::default();
    for p in profiles.into_iter().filter(|p| p.valid_from <= today && p.valid_to.is_none_or(|t| t >= today)) {
        by_op.entry(p.operator_id).or_default().push(p);
    }
    let singles: Vec<uuid::Uuid> = by_op.iter().filter(|(_, v)| v.len() == 1).map(|(k, _)| *k).collect();
    let cf_of = |id: uuid::Uuid| {
        let db = app.db.clone();
        async move { operator::Entity::find_by_id(id).one(&db).await.unwrap().unwrap().fiscal_code }
    };
    let cf = cf_of(singles[0]).await;
    let other_cf = cf_of(singles[1]).await;
    // A second profile for a third operator: the login must ask which one.
    let multi = singles[2];
    let first = by_op[&multi][0].clone();
    profile::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        role: Set(if first.role == entity::enums::Role::Analyst {
            entity::enums::Role::CaseManager
        } else {
            entity::enums::Role::Analyst
        }),
        ..first.clone().into()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let multi_cf = cf_of(multi).await;
    World { app, cf, other_cf, multi_cf }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The AuthnRequest (id, instant) and RelayState carried by a signed redirect to the IdP.
fn request_from(location: &str) -> (Request, String) {
    let q = verified_redirect(location);
    let request_xml = xml::inflate_base64(&q["SAMLRequest"]).expect("DEFLATE + base64");
    let doc = roxmltree::Document::parse(&request_xml).unwrap();
    let root = doc.root_element();
    let req = Request {
        id: root.attribute("ID").unwrap().to_string(),
        issue_instant: chrono::DateTime::parse_from_rfc3339(root.attribute("IssueInstant").unwrap()).unwrap().into(),
        acs_url: ACS.into(),
        sp_entity_id: SP_ENTITY_ID.into(),
    };
    (req, q["RelayState"].clone())
}

/// `GET /saml/login`: the AuthnRequest sent to the IdP, the RelayState, the redirect.
async fn start_login(app: &TestApp, next: &str) -> (Request, String, String) {
    let uri = format!("/saml/login?idp={}&next={}", enc(IDP_ENTITY_ID), enc(next));
    let (status, headers, _) = app.request_text(HttpRequest::builder().uri(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = headers[header::LOCATION].to_str().unwrap().to_string();
    let (req, relay) = request_from(&location);
    (req, relay, location)
}

/// `POST /saml/acs` with a Response, from the browser that started the login
/// with `relay` (it carries the login's cookie, whose value is the RelayState).
async fn post_acs(app: &TestApp, response_xml: &str, relay: Option<&str>) -> (StatusCode, HeaderMap, String) {
    app.request_text(acs_request(response_xml, relay)).await
}

fn acs_request(response_xml: &str, relay: Option<&str>) -> HttpRequest<Body> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("SAMLResponse", &fake_idp::encode(response_xml));
    if let Some(r) = relay {
        form.append_pair("RelayState", r);
    }
    let mut req = HttpRequest::builder()
        .method(Method::POST)
        .uri("/saml/acs")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(r) = relay {
        req = req.header(header::COOKIE, format!("{BROWSER_COOKIE}={r}"));
    }
    req.body(Body::from(form.finish())).unwrap()
}

/// The cookie that binds a login to its browser (https: `__Host-`).
const BROWSER_COOKIE: &str = "__Host-gepi_saml";

fn session_token(headers: &HeaderMap) -> Option<String> {
    let c = headers.get(header::SET_COOKIE)?.to_str().ok()?;
    let v = c.strip_prefix("gepi_session=")?.split(';').next()?;
    Some(v.to_string())
}

/// Checks the query-string signature of an HTTP-Redirect `location` against the
/// SP certificate, and returns the decoded parameters.
fn verified_redirect(location: &str) -> std::collections::HashMap<String, String> {
    let query = location.split_once('?').expect("a query").1;
    let (signed, sig) = query.rsplit_once("&Signature=").expect("signed last");
    let sig = url::form_urlencoded::parse(format!("s={sig}").as_bytes()).next().unwrap().1.into_owned();
    let sig = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sig).unwrap();
    let pk = keys().sp.cert.public_key().unwrap();
    let mut v = openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &pk).unwrap();
    v.update(signed.as_bytes()).unwrap();
    assert!(v.verify(&sig).unwrap(), "the Redirect signature verifies with the metadata certificate");
    url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

type Mutate = fn(&mut Spec, &Request);
type Wrap = fn(String, &str, &str) -> String;

/// One crafted Response: spid-sp-test's case number, whether SPID accepts it,
/// how the Response is built, and what is done to it after signing.
struct Case {
    id: &'static str,
    ok: bool,
    mutate: Mutate,
    wrap: Option<Wrap>,
}

const fn case(id: &'static str, ok: bool, mutate: Mutate) -> Case {
    Case { id, ok, mutate, wrap: None }
}

const fn wrapped(id: &'static str, wrap: Wrap) -> Case {
    Case {
        id,
        ok: false,
        mutate: |s, _| {
            s.sign_response = false;
        },
        wrap: Some(wrap),
    }
}

fn nothing(_: &mut Spec, _: &Request) {}

fn sc(s: &mut Spec, method: &str, data: &str) {
    let m = if method.is_empty() { String::new() } else { format!(" {method}") };
    s.set("SUBJECT_CONFIRMATION", format!("<saml:SubjectConfirmation{m}>{data}</saml:SubjectConfirmation>"));
}

fn scd(r: &Request, irt: Option<&str>, until: Option<&str>, recipient: Option<&str>) -> String {
    let a = |n: &str, v: Option<&str>| v.map(|v| format!(r#" {n}="{v}""#)).unwrap_or_default();
    let default_until =
        (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let until = match until {
        Some("default") => Some(default_until.as_str()),
        other => other,
    };
    let irt = match irt {
        Some("default") => Some(r.id.as_str()),
        other => other,
    };
    let recipient = match recipient {
        Some("default") => Some(ACS),
        other => other,
    };
    format!(
        "<saml:SubjectConfirmationData{}{}{}/>",
        a("InResponseTo", irt),
        a("NotOnOrAfter", until),
        a("Recipient", recipient)
    )
}

const BEARER: &str = r#"Method="urn:oasis:names:tc:SAML:2.0:cm:bearer""#;
const ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";

fn name_id(s: &mut Spec, format: Option<&str>, qualifier: Option<&str>, value: &str) {
    let a = |n: &str, v: Option<&str>| v.map(|v| format!(r#" {n}="{v}""#)).unwrap_or_default();
    s.set(
        "NAME_ID",
        format!("<saml:NameID{}{}>{value}</saml:NameID>", a("Format", format), a("NameQualifier", qualifier)),
    );
}

fn conditions(s: &mut Spec, not_before: Option<&str>, not_after: Option<&str>) {
    let a = |n: &str, v: Option<&str>| v.map(|v| format!(r#" {n}="{v}""#)).unwrap_or_default();
    let now = chrono::Utc::now();
    let nb = not_before.map(|v| {
        if v == "default" {
            (now - chrono::Duration::seconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        } else {
            v.to_string()
        }
    });
    let na = not_after.map(|v| {
        if v == "default" {
            (now + chrono::Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        } else {
            v.to_string()
        }
    });
    s.set(
        "CONDITIONS",
        format!(
            "<saml:Conditions{}{}>{{AUDIENCE_RESTRICTION}}</saml:Conditions>",
            a("NotBefore", nb.as_deref()),
            a("NotOnOrAfter", na.as_deref())
        ),
    );
}

fn idp_error(s: &mut Spec, n: u8) {
    s.sign_response = false;
    s.sign_assertion = false;
    s.drop("ASSERTION");
    s.set("STATUS", format!(r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode><samlp:StatusMessage>ErrorCode nr{n}</samlp:StatusMessage></samlp:Status>"#));
}

fn level(s: &mut Spec, class_ref: &str) {
    s.set(
        "AUTHN_CONTEXT",
        format!(
            "<saml:AuthnContext><saml:AuthnContextClassRef>{class_ref}</saml:AuthnContextClassRef></saml:AuthnContext>"
        ),
    );
}

/// Replaces the signed Assertion in `xml` with `with` (which may contain it).
fn replace_assertion(xml: &str, with: &str) -> String {
    let (s, e, _) = element(xml, "saml:Assertion");
    format!("{}{}{}", &xml[..s], with, &xml[e..])
}

fn signed_assertion(xml: &str) -> String {
    element(xml, "saml:Assertion").2.to_string()
}

/// Every kind of crafted Response of spid-sp-test 1.2.18 (`spid_sp_test -prs`).
fn cases() -> Vec<Case> {
    vec![
        case("1", true, nothing),
        case("2", false, |s, _| {
            s.sign_response = false;
            s.sign_assertion = false;
        }),
        case("3", false, |s, _| {
            s.sign_assertion = false;
        }),
        case("4", false, |s, _| {
            s.foreign_assertion_key = true;
            s.foreign_response_key = true;
        }),
        case("5", false, |s, _| {
            s.foreign_assertion_key = true;
            s.foreign_response_key = true;
            s.claim_idp_certificate = true;
        }),
        // Wrapping: an unsigned Assertion about someone else next to, around or
        // inside the signed one.
        wrapped("xsw1", |x, cf, evil| {
            let e = evil_assertion(&x, cf, evil, true);
            replace_assertion(&x, &format!("{e}{}", signed_assertion(&x)))
        }),
        wrapped("xsw2", |x, cf, evil| {
            let e = evil_assertion(&x, cf, evil, true);
            replace_assertion(&x, &format!("{}{e}", signed_assertion(&x)))
        }),
        wrapped("xsw3", |x, cf, evil| {
            let e = evil_assertion(&x, cf, evil, true);
            let moved = replace_assertion(&x, &e);
            let at = moved.find("<samlp:Status").unwrap();
            format!("{}<samlp:Extensions>{}</samlp:Extensions>{}", &moved[..at], signed_assertion(&x), &moved[at..])
        }),
        wrapped("xsw4", |x, cf, evil| {
            let e = evil_assertion(&x, cf, evil, true);
            let at = e.rfind("</saml:Assertion>").unwrap();
            replace_assertion(&x, &format!("{}{}{}", &e[..at], signed_assertion(&x), &e[at..]))
        }),
        wrapped("xsw5", |x, cf, evil| {
            let e = evil_assertion(&x, cf, evil, false);
            let original = signed_assertion(&x);
            let swapped = replace_assertion(&x, &e);
            let at = swapped.rfind("</samlp:Response>").unwrap();
            format!("{}<samlp:Extensions>{original}</samlp:Extensions>{}", &swapped[..at], &swapped[at..])
        }),
        wrapped("xsw6", |x, cf, evil| {
            let original = signed_assertion(&x);
            let (_, _, sig) = element(&original, "ds:Signature");
            let e = evil_assertion(&x, cf, evil, true);
            let with_obj = sig.replace("</ds:Signature>", &format!("<ds:Object>{original}</ds:Object></ds:Signature>"));
            let at = e.find("<saml:Subject").unwrap();
            replace_assertion(&x, &format!("{}{with_obj}{}", &e[..at], &e[at..]))
        }),
        wrapped("xsw7", |x, cf, evil| {
            let e = evil_assertion(&x, cf, evil, false);
            replace_assertion(&x, &format!("{e}{}", signed_assertion(&x)))
        }),
        wrapped("xsw8", |x, cf, evil| {
            let e = evil_assertion(&x, cf, evil, true);
            let original = signed_assertion(&x);
            replace_assertion(
                &x,
                &original.replacen("</ds:Signature>", &format!("<ds:Object>{e}</ds:Object></ds:Signature>"), 1),
            )
        }),
        wrapped("xslt", |x, _, _| {
            let t = r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:template match="/"><xsl:value-of select="'pwned'"/></xsl:template></xsl:stylesheet></ds:Transform>"#;
            x.replacen("<ds:Transforms>", &format!("<ds:Transforms>{t}"), 1)
        }),
        // Response attributes.
        case("8", false, |s, _| {
            s.set("R_ID", r#"ID="""#);
        }),
        case("9", false, |s, _| {
            s.drop("R_ID");
        }),
        case("10", false, |s, _| {
            s.set("R_VERSION", r#"Version="1.0""#);
        }),
        case("11", false, |s, _| {
            s.set("R_ISSUE_INSTANT", r#"IssueInstant="""#);
        }),
        case("12", false, |s, _| {
            s.drop("R_ISSUE_INSTANT");
        }),
        case("13", false, |s, _| {
            s.set("R_ISSUE_INSTANT", r#"IssueInstant="2018-09-04""#);
        }),
        case("14", false, |s, _| {
            s.set("R_ISSUE_INSTANT", r#"IssueInstant="2018-01-01T00:00:00Z""#);
        }),
        case("15", false, |s, _| {
            s.set("R_ISSUE_INSTANT", r#"IssueInstant="2099-01-01T00:00:00Z""#);
        }),
        case("16", false, |s, r| {
            s.set("R_IN_RESPONSE_TO", r#"InResponseTo="""#);
            sc(s, BEARER, &scd(r, Some(""), Some("default"), Some("default")));
        }),
        case("17", false, |s, r| {
            s.drop("R_IN_RESPONSE_TO");
            sc(s, BEARER, &scd(r, None, Some("default"), Some("default")));
        }),
        case("18", false, |s, r| {
            s.set("R_IN_RESPONSE_TO", r#"InResponseTo="inresponsetodiversodaidrequest""#);
            sc(s, BEARER, &scd(r, Some("inresponsetodiversodaidrequest"), Some("default"), Some("default")));
        }),
        case("19", false, |s, _| {
            s.set("R_DESTINATION", r#"Destination="""#);
        }),
        case("20", false, |s, _| {
            s.drop("R_DESTINATION");
        }),
        case("21", false, |s, r| {
            s.set("R_DESTINATION", r#"Destination="diversodaassertionconsumerserviceurl""#);
            sc(s, BEARER, &scd(r, Some("default"), Some("default"), Some("diversodaassertionconsumerserviceurl")));
        }),
        // Status.
        case("22", false, |s, _| {
            s.set("STATUS", "<samlp:Status></samlp:Status>");
        }),
        case("23", false, |s, _| {
            s.drop("STATUS");
        }),
        case("24", false, |s, _| {
            s.set("STATUS", r#"<samlp:Status><samlp:StatusCode Value=""/></samlp:Status>"#);
        }),
        case("26", false, |s, _| {
            s.set("STATUS", r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:statuscodenonvalido"/></samlp:Status>"#);
        }),
        // Response Issuer.
        case("27", false, |s, _| {
            s.set("R_ISSUER", format!(r#"<saml:Issuer Format="{ENTITY}"></saml:Issuer>"#));
        }),
        case("28", false, |s, _| {
            s.drop("R_ISSUER");
        }),
        case("29", false, |s, _| {
            s.set("R_ISSUER", format!(r#"<saml:Issuer Format="{ENTITY}">diversodaentityididp</saml:Issuer>"#));
        }),
        case("30", false, |s, _| {
            s.set("R_ISSUER", format!(r#"<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:diversodaentity">{IDP_ENTITY_ID}</saml:Issuer>"#));
        }),
        case("31", true, |s, _| {
            s.set("R_ISSUER", format!("<saml:Issuer>{IDP_ENTITY_ID}</saml:Issuer>"));
        }),
        case("32", false, |s, _| {
            s.drop("ASSERTION");
        }),
        // Assertion attributes.
        case("33", false, |s, _| {
            s.set("A_ID", r#"ID="""#);
        }),
        case("34", false, |s, _| {
            s.drop("A_ID");
        }),
        case("35", false, |s, _| {
            s.set("A_VERSION", r#"Version="1.0""#);
        }),
        case("36", false, |s, _| {
            s.set("A_ISSUE_INSTANT", r#"IssueInstant="""#);
        }),
        case("37", false, |s, _| {
            s.drop("A_ISSUE_INSTANT");
        }),
        case("38", false, |s, _| {
            s.set("A_ISSUE_INSTANT", r#"IssueInstant="2018-09-06 16:00""#);
        }),
        case("39", false, |s, _| {
            s.set("A_ISSUE_INSTANT", r#"IssueInstant="2000-01-01T12:00:00Z""#);
        }),
        case("40", false, |s, _| {
            s.set("A_ISSUE_INSTANT", r#"IssueInstant="2099-01-01T00:00:00Z""#);
        }),
        // Subject and NameID.
        case("41", false, |s, _| {
            s.set("SUBJECT", "<saml:Subject></saml:Subject>");
        }),
        case("42", false, |s, _| {
            s.drop("SUBJECT");
        }),
        case("43", false, |s, _| {
            name_id(s, Some(fake_idp_transient()), Some(""), "");
        }),
        case("44", false, |s, _| {
            s.drop("NAME_ID");
        }),
        case("45", false, |s, _| {
            name_id(s, Some(""), Some(IDP_ENTITY_ID), "_n1");
        }),
        case("46", false, |s, _| {
            name_id(s, None, Some(IDP_ENTITY_ID), "_n1");
        }),
        case("47", false, |s, _| {
            name_id(
                s,
                Some("urn:oasis:names:tc:SAML:2.0:nameid-format:diversodatransient"),
                Some(IDP_ENTITY_ID),
                "_n1",
            );
        }),
        case("48", false, |s, _| {
            name_id(s, Some(fake_idp_transient()), Some(""), "_n1");
        }),
        case("49", false, |s, _| {
            name_id(s, Some(fake_idp_transient()), None, "_n1");
        }),
        // SubjectConfirmation.
        case("51", false, |s, _| {
            sc(s, BEARER, "");
        }),
        case("52", false, |s, _| {
            s.drop("SUBJECT_CONFIRMATION");
        }),
        case("53", false, |s, r| {
            sc(s, r#"Method="""#, &scd(r, Some("default"), Some("default"), Some("default")));
        }),
        case("54", false, |s, r| {
            sc(s, "", &scd(r, Some("default"), Some("default"), Some("default")));
        }),
        case("55", false, |s, r| {
            sc(
                s,
                r#"Method="urn:oasis:names:tc:SAML:2.0:cm:diversodabearer""#,
                &scd(r, Some("default"), Some("default"), Some("default")),
            );
        }),
        case("56", false, |s, _| {
            sc(s, BEARER, " ");
        }),
        case("57", false, |s, r| {
            sc(s, BEARER, &scd(r, Some("default"), Some("default"), Some("")));
        }),
        case("58", false, |s, r| {
            sc(s, BEARER, &scd(r, Some("default"), Some("default"), None));
        }),
        case("59", false, |s, r| {
            sc(s, BEARER, &scd(r, Some("default"), Some("default"), Some("diversodaassertionconsumerserviceurl")));
        }),
        case("60", false, |s, r| {
            sc(s, BEARER, &scd(r, Some(""), Some("default"), Some("default")));
        }),
        case("61", false, |s, r| {
            sc(s, BEARER, &scd(r, None, Some("default"), Some("default")));
        }),
        case("62", false, |s, r| {
            sc(s, BEARER, &scd(r, Some("diversodaauthnrequestid"), Some("default"), Some("default")));
        }),
        case("63", false, |s, r| {
            sc(s, BEARER, &scd(r, Some("default"), Some(""), Some("default")));
        }),
        case("64", false, |s, r| {
            sc(s, BEARER, &scd(r, Some("default"), None, Some("default")));
        }),
        case("65", false, |s, r| {
            sc(s, BEARER, &scd(r, Some("default"), Some("2018.09.18"), Some("default")));
        }),
        case("66", false, |s, r| {
            sc(s, BEARER, &scd(r, Some("default"), Some("2000-01-01T00:00:00Z"), Some("default")));
        }),
        // Assertion Issuer.
        case("68", false, |s, _| {
            s.drop("A_ISSUER");
        }),
        case("69", false, |s, _| {
            s.set("A_ISSUER", format!(r#"<saml:Issuer Format="{ENTITY}">diversodaentityididp</saml:Issuer>"#));
        }),
        case("70", false, |s, _| {
            s.set("A_ISSUER", format!(r#"<saml:Issuer Format="">{IDP_ENTITY_ID}</saml:Issuer>"#));
        }),
        case("71", false, |s, _| {
            s.set("A_ISSUER", format!("<saml:Issuer>{IDP_ENTITY_ID}</saml:Issuer>"));
        }),
        case("72", false, |s, _| {
            s.set("A_ISSUER", format!(r#"<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:diversodaentity">{IDP_ENTITY_ID}</saml:Issuer>"#));
        }),
        // Conditions.
        case("73", false, |s, _| {
            s.drop("AUDIENCE_RESTRICTION");
        }),
        case("74", false, |s, _| {
            s.drop("CONDITIONS");
        }),
        case("75", false, |s, _| {
            conditions(s, Some(""), Some("default"));
        }),
        case("76", false, |s, _| {
            conditions(s, None, Some("default"));
        }),
        case("77", false, |s, _| {
            conditions(s, Some("2018/09/10"), Some("default"));
        }),
        case("78", false, |s, _| {
            conditions(s, Some("2099-01-01T00:00:00Z"), Some("default"));
        }),
        case("79", false, |s, _| {
            conditions(s, Some("default"), Some(""));
        }),
        case("80", false, |s, _| {
            conditions(s, Some("default"), None);
        }),
        case("81", false, |s, _| {
            conditions(s, Some("default"), Some("10-09-2018"));
        }),
        case("82", false, |s, _| {
            conditions(s, Some("default"), Some("2000-01-01T00:00:00Z"));
        }),
        case("83", false, |s, _| {
            s.set("AUDIENCE_RESTRICTION", "<saml:AudienceRestriction></saml:AudienceRestriction>");
        }),
        case("85", false, |s, _| {
            s.set(
                "AUDIENCE_RESTRICTION",
                "<saml:AudienceRestriction><saml:Audience></saml:Audience></saml:AudienceRestriction>",
            );
        }),
        case("86", false, |s, _| {
            s.set("AUDIENCE_RESTRICTION", "<saml:AudienceRestriction> </saml:AudienceRestriction>");
        }),
        case("87", false, |s, _| {
            s.set("AUDIENCE_RESTRICTION", "<saml:AudienceRestriction><saml:Audience>diversodaentityidsp</saml:Audience></saml:AudienceRestriction>");
        }),
        // AuthnStatement and level (SpidL2 requested, minimum).
        case("88", false, |s, _| {
            s.drop("AUTHN_CONTEXT");
        }),
        case("89", false, |s, _| {
            s.drop("AUTHN_STATEMENT");
        }),
        case("90", false, |s, _| {
            s.set("AUTHN_CONTEXT", "<saml:AuthnContext></saml:AuthnContext>");
        }),
        case("92", false, |s, _| {
            level(s, "");
        }),
        case("93", false, |s, _| {
            s.set("AUTHN_CONTEXT", "<saml:AuthnContext> </saml:AuthnContext>");
        }),
        case("94", false, |s, _| {
            level(s, "https://www.spid.gov.it/SpidL1");
        }),
        case("95", true, |s, _| {
            level(s, "https://www.spid.gov.it/SpidL2");
        }),
        case("96", true, |s, _| {
            level(s, "https://www.spid.gov.it/SpidL3");
        }),
        case("97", false, |s, _| {
            level(s, "urn:oasis:names:tc:SAML:2.0:ac:classes:SpidL1");
        }),
        // Attributes.
        case("98", false, |s, _| {
            s.set("ATTRIBUTES", "");
        }),
        case("99", false, |s, _| {
            s.set("ATTRIBUTES", r#"<saml:Attribute Name="spidCode" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"></saml:Attribute>"#);
        }),
        case("100", false, |s, _| {
            s.foreign_assertion_key = true;
        }),
        // Not the attributes asked for: without fiscalNumber nobody can be identified.
        case("103", false, |s, _| {
            s.set("ATTRIBUTES", r#"<saml:Attribute Name="spidCode"><saml:AttributeValue xsi:type="xs:string">AGID-001</saml:AttributeValue></saml:Attribute><saml:Attribute Name="address"><saml:AttributeValue xsi:type="xs:string">via Test</saml:AttributeValue></saml:Attribute>"#);
        }),
        // User-side failures at the IdP: a courtesy page.
        case("104", false, |s, _| idp_error(s, 19)),
        case("105", false, |s, _| idp_error(s, 20)),
        case("106", false, |s, _| idp_error(s, 21)),
        case("107", false, |s, _| idp_error(s, 22)),
        case("108", false, |s, _| idp_error(s, 23)),
        case("109", true, |s, _| {
            s.set("PRE", r#"<?xml version="1.0" encoding="UTF-8" ?>"#);
        }),
        case("110", true, |s, r| {
            let t = r.issue_instant + chrono::Duration::milliseconds(123);
            s.set(
                "R_ISSUE_INSTANT",
                format!(r#"IssueInstant="{}""#, t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            );
        }),
        case("111", false, |s, _| idp_error(s, 25)),
    ]
}

/// Issue 12's walk with SPID: a case manager that exists only because the
/// Ministry and the Ambito administrator accredited it through the API logs in
/// with SPID (level 2) and works its case.
#[tokio::test]
async fn a_case_manager_accredited_through_the_api_logs_in_with_spid_and_works_its_case() {
    let app = TestApp::new().await.with_spid(service_provider());
    let walk = crate::accreditation::walk_to_an_assigned_case(&app).await;
    let (req, relay, _) = start_login(&app, "/").await;
    let resp = Spec::valid(&req, &walk.cm_cf, 2).build();
    let (status, headers, body) = post_acs(&app, &resp, Some(&relay)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let token = session_token(&headers).expect("a session bound to its one profile");
    let r = app.gql(Some(&token), "{ me { profile { id role } } }", json!({})).await;
    assert_eq!(r["data"]["me"]["profile"]["id"], walk.cm_profile["id"], "{r}");
    crate::accreditation::first_meeting(&app, &token, &walk.assigned).await;
}

/// `w.cf` logs in through SPID: the session token and the Response's NameID.
async fn logged_in(w: &World) -> (String, String) {
    let (req, relay, _) = start_login(&w.app, "/").await;
    let resp = Spec::valid(&req, &w.cf, 2).build();
    let (_, headers, _) = post_acs(&w.app, &resp, Some(&relay)).await;
    (session_token(&headers).expect("logged in"), fake_idp::name_id_of(&resp))
}

/// Every SAML refusal counted at `/metrics`, all outcomes together.
async fn refusals_counted(app: &TestApp) -> u64 {
    let (_, _, text) = app.request_text(HttpRequest::builder().uri("/metrics").body(Body::empty()).unwrap()).await;
    text.lines()
        .filter(|l| l.starts_with("gepi_saml_refused_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn fake_idp_transient() -> &'static str {
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
}

#[tokio::test]
async fn every_kind_of_crafted_response_is_refused_or_accepted_as_spid_requires() {
    let w = world().await;
    let cases = cases();
    assert_eq!(cases.len(), 111, "one case per kind of spid-sp-test Response");
    let mut wrong = Vec::new();
    for c in &cases {
        let (req, relay, _) = start_login(&w.app, "/").await;
        let mut spec = Spec::valid(&req, &w.cf, 2);
        (c.mutate)(&mut spec, &req);
        let mut xml = spec.build();
        if let Some(wrap) = c.wrap {
            xml = wrap(xml, &w.cf, &w.other_cf);
        }
        let audits_before = w.app.count("audit_event").await;
        let counted_before = refusals_counted(&w.app).await;
        let (status, headers, body) = post_acs(&w.app, &xml, Some(&relay)).await;
        let accepted = status == StatusCode::SEE_OTHER && session_token(&headers).is_some();
        if accepted != c.ok {
            wrong.push(format!("case {}: expected {}, got {status}", c.id, if c.ok { "OK" } else { "KO" }));
            continue;
        }
        if !c.ok {
            assert_eq!(status, StatusCode::FORBIDDEN, "case {}: refusals are 403", c.id);
            assert!(headers.get(header::SET_COOKIE).is_none(), "case {}: a refusal sets no cookie", c.id);
            assert!(body.contains("Accesso non riuscito"), "case {}: courtesy page", c.id);
            // Counted always; audited at most once (when the IdP's signature
            // verified: see hardening::refusals_are_audited_only_when_the_idp_signature_verified).
            let audits = w.app.count("audit_event").await - audits_before;
            assert!(audits == 0 || audits == 1, "case {}: {audits} audit rows", c.id);
            assert_eq!(refusals_counted(&w.app).await, counted_before + 1, "case {}: counted", c.id);
        }
    }
    assert!(wrong.is_empty(), "{} wrong verdicts:\n{}", wrong.len(), wrong.join("\n"));
}

#[tokio::test]
async fn user_side_idp_errors_show_the_spid_message_and_audit_no_personal_data() {
    let w = world().await;
    let (req, relay, _) = start_login(&w.app, "/").await;
    let mut spec = Spec::valid(&req, &w.cf, 2);
    idp_error(&mut spec, 22);
    spec.sign_response = true; // a real IdP signs its error Responses too
    let (status, _, body) = post_acs(&w.app, &spec.build(), Some(&relay)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("negato il consenso"), "{body}");
    // A refused, unknown person: audited with a digest, never the code itself.
    let (req, relay, _) = start_login(&w.app, "/").await;
    let stranger = "RSSMRA80A01F205X";
    let (status, _, body) = post_acs(&w.app, &Spec::valid(&req, stranger, 2).build(), Some(&relay)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("Accesso non riuscito"));
    let events = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Action.eq(AuditAction::LoginFailed))
        .all(&w.app.db)
        .await
        .unwrap();
    assert!(events.len() >= 2);
    for e in &events {
        let changes = e.changes.clone().unwrap_or_default();
        assert!(!changes.contains(stranger) && !changes.contains(&w.cf), "no fiscal code in the audit: {changes}");
        assert_eq!(e.entity_id.as_deref().map(|s| s.starts_with('_')), Some(true), "the request id is recorded");
    }
    let digest = service_provider().keys.fiscal_code_digest(stranger);
    assert!(
        events.iter().any(|e| e.changes.as_deref().unwrap_or("").contains(&digest)),
        "the attempt is traceable by its keyed digest"
    );
}

/// A plain HTTP/1.1 client over a loopback socket (one request per connection).
struct Http(std::net::SocketAddr);

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl Http {
    /// Serves the app on 127.0.0.1 on a free port.
    async fn serve(app: &TestApp) -> Http {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Http(addr)
    }

    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.0).await.unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.0,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n").expect("headers end");
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
        let body = if chunked { dechunk(rest) } else { rest.to_string() };
        HttpResponse { status, headers, body }
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

#[tokio::test]
async fn login_acs_session_and_graphql_me_end_to_end_over_http() {
    let w = world().await;
    let http = Http::serve(&w.app).await;
    // The browser asks to log in and is sent to the IdP.
    let login = format!("/saml/login?idp={}&next={}", enc(IDP_ENTITY_ID), enc("/cases?tab=mine"));
    let r = http.send("GET", &login, &[], "").await;
    assert_eq!(r.status, 302);
    let location = r.header("location").unwrap().to_string();
    assert!(location.starts_with(fake_idp::IDP_SSO), "the browser goes to the IdP's SSO endpoint");
    let (req, relay) = request_from(&location);
    // The login is bound to this browser by a cookie it cannot be given by a
    // subdomain (`__Host-`), sent back on the IdP's cross-site POST.
    let binding = r.header("set-cookie").unwrap().to_string();
    for attr in ["__Host-gepi_saml=", "; Path=/", "; HttpOnly", "; Secure", "; SameSite=None", "; Max-Age=600"] {
        assert!(binding.contains(attr), "{binding} lacks {attr}");
    }
    let binding = binding.split(';').next().unwrap().to_string();
    // The IdP posts its signed Response back through the browser.
    let xml_resp = Spec::valid(&req, &w.cf, 2).build();
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("SAMLResponse", &fake_idp::encode(&xml_resp)).append_pair("RelayState", &relay);
    let form = form.finish();
    let form_type = [("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", binding.as_str())];
    let r = http.send("POST", "/saml/acs", &form_type, &form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/cases?tab=mine"));
    let cookie = r.header("set-cookie").unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Lax"), "{cookie}");
    let token = cookie.strip_prefix("gepi_session=").unwrap().split(';').next().unwrap().to_string();
    // The cookie authenticates GraphQL (a POST from GePI's own pages).
    let body = json!({ "query": "{ me { operator { fiscalCode } profile { role } } }" }).to_string();
    let cookie_header = format!("gepi_session={token}");
    let headers =
        [("Content-Type", "application/json"), ("Cookie", cookie_header.as_str()), ("Sec-Fetch-Site", "same-origin")];
    let r = http.send("POST", "/graphql", &headers, &body).await;
    assert_eq!(r.status, 200);
    let me: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(me["data"]["me"]["operator"]["fiscalCode"], w.cf, "{me}");
    // The session records the method, the level and the SPID identity.
    let s = entity::session::Entity::find().all(&w.app.db).await.unwrap();
    let s = s.iter().find(|s| s.idp_entity_id.is_some()).expect("a SPID session");
    assert_eq!(s.auth_method, entity::enums::AuthMethod::Spid);
    assert_eq!(s.auth_level, 2);
    assert_eq!(s.idp_entity_id.as_deref(), Some(IDP_ENTITY_ID));
    assert!(s.profile_id.is_some(), "one profile: straight in");
    // Replaying the same Response fails: the request was consumed.
    let r = http.send("POST", "/saml/acs", &form_type, &form).await;
    assert_eq!(r.status, 403);
    assert!(r.header("set-cookie").is_none());
    assert!(r.body.contains("già usato"), "{}", r.body);
    // Logging out ends the session.
    let r = http
        .send("POST", "/auth/logout", &[("Cookie", cookie_header.as_str()), ("Sec-Fetch-Site", "same-origin")], "")
        .await;
    assert_eq!(r.status, 204);
    let r = http.send("POST", "/graphql", &headers, &body).await;
    let me: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(me["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{me}");
}

/// Several instances behind a balancer: a login started on one completes on
/// another (the pending AuthnRequest is a row, not memory), its session works
/// on the first, and the Response cannot be used again on either.
#[tokio::test]
async fn a_login_started_on_one_instance_completes_on_another() {
    use tower::ServiceExt;
    let w = world().await;
    let state = gepi::AppState::new((*w.app.state.config).clone(), w.app.db.clone()).await.unwrap();
    let other = gepi::app(state.with_spid(service_provider()));
    let (req, relay, _) = start_login(&w.app, "/").await;
    let resp = Spec::valid(&req, &w.cf, 2).build();
    let answer = other.clone().oneshot(acs_request(&resp, Some(&relay))).await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let token = session_token(answer.headers()).expect("a session from the other instance");
    let me = w.app.gql(Some(&token), "{ me { operator { fiscalCode } } }", json!({})).await;
    assert_eq!(me["data"]["me"]["operator"]["fiscalCode"], w.cf, "{me}");
    // Consumed on the second instance: refused on the first too.
    let (status, headers, _) = post_acs(&w.app, &resp, Some(&relay)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(session_token(&headers).is_none());
}

#[tokio::test]
async fn an_operator_with_several_profiles_chooses_one_after_login() {
    let w = world().await;
    let (req, relay, _) = start_login(&w.app, "/").await;
    let (status, headers, _) = post_acs(&w.app, &Spec::valid(&req, &w.multi_cf, 3).build(), Some(&relay)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let token = session_token(&headers).unwrap();
    // Until a profile is chosen, nothing but the choice.
    let r = w.app.gql(Some(&token), "{ me { profile { role } } }", json!({})).await;
    assert_eq!(crate::helpers::error_code(&r), Some("PROFILE_REQUIRED"), "{r}");
    let r = w.app.gql(Some(&token), "{ cases(first: 1) { totalCount } }", json!({})).await;
    assert_eq!(crate::helpers::error_code(&r), Some("PROFILE_REQUIRED"), "{r}");
    let r = w.app.gql(Some(&token), "{ profileChoices { id role ambitoName active } }", json!({})).await;
    let choices = r["data"]["profileChoices"].as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(choices.len(), 2);
    assert!(choices.iter().all(|c| c["active"] == false));
    let chosen = choices[1]["id"].as_str().unwrap();
    let r = w
        .app
        .gql(
            Some(&token),
            "mutation($p: ID!) { switchProfile(profileId: $p) { profile { id role } } }",
            json!({ "p": chosen }),
        )
        .await;
    assert_eq!(r["data"]["switchProfile"]["profile"]["id"], chosen, "{r}");
    let r = w.app.gql(Some(&token), "{ me { profile { id } } profileChoices { id active } }", json!({})).await;
    assert_eq!(r["data"]["me"]["profile"]["id"], chosen, "{r}");
    assert_eq!(r["data"]["profileChoices"].as_array().unwrap().iter().filter(|c| c["active"] == true).count(), 1);
    // A session still without a profile can log out.
    let (req, relay, _) = start_login(&w.app, "/").await;
    let (_, headers, _) = post_acs(&w.app, &Spec::valid(&req, &w.multi_cf, 2).build(), Some(&relay)).await;
    let pending = session_token(&headers).unwrap();
    let r = w.app.gql(Some(&pending), "mutation { logout }", json!({})).await;
    assert_eq!(r["data"]["logout"], true, "{r}");
    let r = w.app.gql(Some(&pending), "{ profileChoices { id } }", json!({})).await;
    assert_eq!(crate::helpers::error_code(&r), Some("UNAUTHENTICATED"), "{r}");
    // A profile of someone else is refused.
    let foreign = profile::Entity::find().one(&w.app.db).await.unwrap().unwrap();
    let r = w
        .app
        .gql(
            Some(&token),
            "mutation($p: ID!) { switchProfile(profileId: $p) { profile { id } } }",
            json!({ "p": gepi::ids::encode("Profile", foreign.id) }),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&r), Some("FORBIDDEN"), "{r}");
}

#[tokio::test]
async fn unknown_operators_expired_and_unsolicited_responses_are_refused() {
    let w = world().await;
    // Not accredited: no automatic creation.
    let before = w.app.count("operator").await;
    let (req, relay, _) = start_login(&w.app, "/").await;
    let (status, _, body) = post_acs(&w.app, &Spec::valid(&req, "RSSMRA80A01F205X", 2).build(), Some(&relay)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("Non risulti abilitato"), "{body}");
    assert_eq!(w.app.count("operator").await, before);
    // An operator without a profile in force.
    let op = operator::Entity::find()
        .filter(operator::Column::FiscalCode.eq(w.other_cf.clone()))
        .one(&w.app.db)
        .await
        .unwrap()
        .unwrap();
    w.app
        .exec(&format!(
            "UPDATE profile SET valid_to = '2000-01-01' WHERE operator_id = {}",
            uuid_literal(&w.app, op.id)
        ))
        .await;
    let (req, relay, _) = start_login(&w.app, "/").await;
    let (status, _, body) = post_acs(&w.app, &Spec::valid(&req, &w.other_cf, 2).build(), Some(&relay)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("profilo attivo"), "{body}");
    // A request that expired.
    let (req, relay, _) = start_login(&w.app, "/").await;
    w.app.exec("UPDATE saml_request SET expires_at = '2000-01-01 00:00:00+00:00'").await;
    let (status, _, _) = post_acs(&w.app, &Spec::valid(&req, &w.cf, 2).build(), Some(&relay)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A Response nobody asked for (IdP-initiated).
    let (req, relay, _) = start_login(&w.app, "/").await;
    let mut spec = Spec::valid(&req, &w.cf, 2);
    spec.drop("R_IN_RESPONSE_TO");
    let (status, _, _) = post_acs(&w.app, &spec.build(), Some(&relay)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A RelayState that is not the one handed out.
    let (req, _, _) = start_login(&w.app, "/").await;
    let (status, _, _) = post_acs(&w.app, &Spec::valid(&req, &w.cf, 2).build(), Some("forged")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Garbage, a DOCTYPE, no form at all.
    let (status, _, _) = post_acs(&w.app, "<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let req = HttpRequest::builder().method(Method::POST).uri("/saml/acs").body(Body::empty()).unwrap();
    assert_eq!(w.app.request_text(req).await.0, StatusCode::FORBIDDEN);
}

fn uuid_literal(app: &TestApp, id: uuid::Uuid) -> String {
    match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!("'{id}'"),
        _ => format!("X'{}'", id.simple()),
    }
}

#[tokio::test]
async fn metadata_and_authn_request_are_signed_and_spid_shaped() {
    use samael::crypto::{CertificateDer, Crypto, CryptoProvider};
    let w = world().await;
    let (status, headers, meta) =
        w.app.request_text(HttpRequest::builder().uri("/saml/metadata").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/samlmetadata+xml"));
    let sp_cert = CertificateDer::from(keys().sp.cert.to_der().unwrap());
    Crypto::verify_signed_xml(meta.as_bytes(), &sp_cert, Some("ID")).expect("metadata signature verifies");
    for needle in [
        r#"entityID="https://gepi.test""#,
        r#"AuthnRequestsSigned="true""#,
        r#"WantAssertionsSigned="true""#,
        r#"Location="https://gepi.test/saml/acs" index="0" isDefault="true""#,
        "<spid:IPACode>c_f257</spid:IPACode><spid:Public/>",
        r#"<md:RequestedAttribute Name="fiscalNumber""#,
        "xmlenc#sha256",
    ] {
        assert!(meta.contains(needle), "metadata lacks {needle}");
    }
    // The IdP list for the SPID button, and the landing page.
    let r = w.app.request(HttpRequest::builder().uri("/saml/idps").body(Body::empty()).unwrap()).await;
    assert_eq!(
        r.body,
        json!([{ "entityId": IDP_ENTITY_ID, "name": "Prova ID", "loginUrl": "/saml/login?idp=https%3A%2F%2Fidp.spid.test" }])
    );
    let (_, _, home) = w.app.request_text(HttpRequest::builder().uri("/").body(Body::empty()).unwrap()).await;
    assert!(home.contains(r#"href="/saml/login?idp=https%3A%2F%2Fidp.spid.test">Entra con SPID: Prova ID<"#), "{home}");
    // Tampering breaks the signature.
    let tampered = meta.replace("c_f257", "c_h501");
    assert!(Crypto::verify_signed_xml(tampered.as_bytes(), &sp_cert, Some("ID")).is_err());
    // The Redirect AuthnRequest: signed query, SPID content.
    let (_, relay, location) = start_login(&w.app, "/").await;
    assert!(relay.len() >= 22 && !relay.contains('/'), "an opaque one-time handle");
    let q = verified_redirect(&location);
    let authn = xml::inflate_base64(&q["SAMLRequest"]).unwrap();
    for needle in [
        r#"ForceAuthn="true""#,
        r#"AssertionConsumerServiceIndex="0""#,
        r#"AttributeConsumingServiceIndex="0""#,
        r#"Destination="https://idp.spid.test/sso""#,
        r#"NameQualifier="https://gepi.test" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity""#,
        r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient"/>"#,
        r#"Comparison="minimum"><saml:AuthnContextClassRef>https://www.spid.gov.it/SpidL2<"#,
    ] {
        assert!(authn.contains(needle), "AuthnRequest lacks {needle}: {authn}");
    }
    assert!(!authn.contains("AllowCreate") && !authn.contains("IsPassive"));
    // The POST binding carries an XML signature.
    let uri = format!("/saml/login?idp={}&binding=post", enc(IDP_ENTITY_ID));
    let (status, _, page) = w.app.request_text(HttpRequest::builder().uri(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let b64 = page.split(r#"name="SAMLRequest" value=""#).nth(1).unwrap().split('"').next().unwrap();
    let signed_xml =
        String::from_utf8(base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap()).unwrap();
    Crypto::verify_signed_xml(signed_xml.as_bytes(), &sp_cert, Some("ID"))
        .expect("POST AuthnRequest signature verifies");
    // Bad input: unknown IdP, open redirect, unknown binding.
    for uri in [
        "/saml/login?idp=https%3A%2F%2Fevil.example".to_string(),
        format!("/saml/login?idp={}&next=https%3A%2F%2Fevil.example", enc(IDP_ENTITY_ID)),
        format!("/saml/login?idp={}&next=%2F%2Fevil.example", enc(IDP_ENTITY_ID)),
        format!("/saml/login?idp={}&next=%2F%5Cevil.example", enc(IDP_ENTITY_ID)),
        format!("/saml/login?idp={}&next=cases", enc(IDP_ENTITY_ID)),
        format!("/saml/login?idp={}&binding=soap", enc(IDP_ENTITY_ID)),
        "/saml/login".to_string(),
    ] {
        let r = w.app.request(HttpRequest::builder().uri(&uri).body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(r.body["error"]["code"], "VALIDATION", "{uri}: {}", r.body);
    }
}

#[tokio::test]
async fn idp_initiated_logout_ends_the_sessions_and_answers_a_signed_logout_response() {
    let w = world().await;
    let (token, name_id) = logged_in(&w).await;
    let logout = fake_idp::logout_request(
        "_lr1",
        &name_id,
        &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "",
    );
    let idp_keys = Keys::from_pem(&keys().idp.key_pem(), &keys().idp.cert_pem()).unwrap();
    let signed_url = idp_keys
        .sign_redirect(
            "https://gepi.test/saml/slo",
            &[("SAMLRequest", &xml::deflate_base64(&logout)), ("RelayState", "r1")],
        )
        .unwrap();
    let path = format!("/saml/slo?{}", signed_url.split_once('?').unwrap().1);
    // Signed by someone else: refused, and the session lives on.
    let other = Keys::from_pem(&keys().other.key_pem(), &keys().other.cert_pem()).unwrap();
    let forged = other
        .sign_redirect(
            "https://gepi.test/saml/slo",
            &[("SAMLRequest", &xml::deflate_base64(&logout)), ("RelayState", "r1")],
        )
        .unwrap();
    let forged_path = format!("/saml/slo?{}", forged.split_once('?').unwrap().1);
    let (status, _, _) = w.app.request_text(HttpRequest::builder().uri(forged_path).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unsigned = format!("/saml/slo?SAMLRequest={}", enc(&xml::deflate_base64(&logout)));
    let (status, _, _) = w.app.request_text(HttpRequest::builder().uri(unsigned).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no SigAlg/Signature: refused, no panic");
    let r = w.app.gql(Some(&token), "{ me { operator { id } } }", json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    // Signed by the IdP: the session ends, and the answer is a signed LogoutResponse.
    let (status, headers, _) = w.app.request_text(HttpRequest::builder().uri(path).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = headers[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with(fake_idp::IDP_SLO));
    let q = verified_redirect(location);
    let resp = xml::inflate_base64(&q["SAMLResponse"]).unwrap();
    assert!(resp.contains(r#"InResponseTo="_lr1""#) && resp.contains("status:Success"), "{resp}");
    assert_eq!(q["RelayState"], "r1");
    let r = w.app.gql(Some(&token), "{ me { operator { id } } }", json!({})).await;
    assert_eq!(crate::helpers::error_code(&r), Some("UNAUTHENTICATED"), "{r}");

    // Over HTTP-POST: the request must carry its own signature.
    let (req, relay, _) = start_login(&w.app, "/").await;
    let xml_resp = Spec::valid(&req, &w.cf, 2).build();
    let (_, headers, _) = post_acs(&w.app, &xml_resp, Some(&relay)).await;
    let token = session_token(&headers).unwrap();
    let name_id = fake_idp::name_id_of(&xml_resp);
    let logout = logout.replace("_lr1", "_lr2").replace(
        &logout.split("<saml:NameID").nth(1).unwrap().split("</saml:NameID>").next().unwrap().to_string(),
        &format!(
            r#" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" NameQualifier="{IDP_ENTITY_ID}">{name_id}"#
        ),
    );
    let post_slo = |body: String| {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("SAMLRequest", &fake_idp::encode(&body));
        HttpRequest::builder()
            .method(Method::POST)
            .uri("/saml/slo")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.finish()))
            .unwrap()
    };
    // An IdP-signed Assertion smuggled into an unsigned LogoutRequest is no signature.
    let smuggled = logout.replace(
        "</samlp:LogoutRequest>",
        &format!(
            "<samlp:Extensions>{}</samlp:Extensions></samlp:LogoutRequest>",
            element(&xml_resp, "saml:Assertion").2
        ),
    );
    let (status, _, _) = w.app.request_text(post_slo(smuggled)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let r = w.app.gql(Some(&token), "{ me { operator { id } } }", json!({})).await;
    assert!(r["errors"].is_null(), "still logged in: {r}");
    let tmpl = xml::signature_template("_lr2", &keys().idp.cert_b64());
    let unsigned = logout.replacen("</saml:Issuer>", &format!("</saml:Issuer>{tmpl}"), 1);
    let signed = idp_keys.sign_xml(&unsigned).unwrap();
    let (status, headers, _) = w.app.request_text(post_slo(signed)).await;
    assert_eq!(status, StatusCode::FOUND);
    let q = verified_redirect(headers[header::LOCATION].to_str().unwrap());
    assert!(xml::inflate_base64(&q["SAMLResponse"]).unwrap().contains(r#"InResponseTo="_lr2""#));
    let r = w.app.gql(Some(&token), "{ me { operator { id } } }", json!({})).await;
    assert_eq!(crate::helpers::error_code(&r), Some("UNAUTHENTICATED"), "{r}");
}

#[test]
fn idps_without_a_signing_key_and_test_idps_in_production_are_refused_at_start_up() {
    let no_key = vec![("idp.xml".to_string(), fake_idp::idp_metadata(false))];
    let e = Sp::new(saml_config(SamlProfile::Production), sp_keys(), &no_key).err().expect("refused");
    assert!(e.to_string().contains("no signing certificate"), "{e}");
    let test_idp = fake_idp::idp_metadata(true).replace(IDP_ENTITY_ID, "https://localhost:8443");
    let meta = vec![("sst.xml".to_string(), test_idp)];
    let e = Sp::new(saml_config(SamlProfile::Production), sp_keys(), &meta).err().expect("refused");
    assert!(e.to_string().contains("conformance profile"), "{e}");
    assert!(Sp::new(saml_config(SamlProfile::Conformance), sp_keys(), &meta).is_ok());
    // A key that does not match the certificate.
    assert!(Keys::from_pem(&keys().idp.key_pem(), &keys().sp.cert_pem()).is_err());
}
