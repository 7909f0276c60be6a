//! A fake SPID IdP for the tests (spec §4.3): its own RSA key and certificate,
//! its metadata, and Responses built from a template shaped as spid-sp-test's
//! (`responses/templates/base.xml`), every part of which a test can replace,
//! empty or drop. The Assertion is signed first, then the Response, with
//! samael's `Crypto::sign_xml`, as a real IdP does.

use std::{collections::BTreeMap, sync::OnceLock};

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use openssl::{
    asn1::Asn1Time,
    bn::BigNum,
    hash::MessageDigest,
    pkey::{PKey, Private},
    rsa::Rsa,
    x509::{X509NameBuilder, X509},
};
use samael::crypto::{Crypto, CryptoProvider};

pub const IDP_ENTITY_ID: &str = "https://idp.spid.test";
pub const IDP_SSO: &str = "https://idp.spid.test/sso";
pub const IDP_SLO: &str = "https://idp.spid.test/slo";

/// A key pair with a self-signed certificate.
pub struct Credentials {
    pub key: PKey<Private>,
    pub cert: X509,
}

impl Credentials {
    pub fn generate(cn: &str) -> Self {
        Self::generate_with(cn, &[])
    }

    /// A public-sector SP certificate shaped as Avviso 29 v3 asks: the
    /// entityID as `uri` (2.5.4.83), the organisation as O, the IPA code as
    /// organizationIdentifier (2.5.4.97) `PA:IT-<code>`.
    pub fn generate_sp(entity_id: &str, organization: &str, ipa_code: &str) -> Self {
        let org_id = format!("PA:IT-{ipa_code}");
        Self::generate_with("gepi.test", &[("O", organization), ("2.5.4.97", &org_id), ("2.5.4.83", entity_id)])
    }

    fn generate_with(cn: &str, extra: &[(&str, &str)]) -> Self {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        name.append_entry_by_text("C", "IT").unwrap();
        for (field, value) in extra {
            name.append_entry_by_text(field, value).unwrap();
        }
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap()).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
        b.set_not_after(&Asn1Time::days_from_now(365).unwrap()).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        Credentials { key, cert: b.build() }
    }

    pub fn cert_b64(&self) -> String {
        STANDARD.encode(self.cert.to_der().unwrap())
    }
    pub fn key_pem(&self) -> Vec<u8> {
        self.key.private_key_to_pem_pkcs8().unwrap()
    }
    pub fn cert_pem(&self) -> Vec<u8> {
        self.cert.to_pem().unwrap()
    }
    pub fn key_der(&self) -> Vec<u8> {
        self.key.private_key_to_der().unwrap()
    }
}

/// Keys are generated once per test binary: the IdP's, an attacker's, the SP's.
pub struct Keyring {
    pub idp: Credentials,
    pub other: Credentials,
    pub sp: Credentials,
}

pub fn keys() -> &'static Keyring {
    static K: OnceLock<Keyring> = OnceLock::new();
    K.get_or_init(|| Keyring {
        idp: Credentials::generate("idp.spid.test"),
        other: Credentials::generate("attacker.example"),
        sp: Credentials::generate_sp("https://gepi.test", "Comune di Desio", "c_f257"),
    })
}

/// The fake IdP's metadata; `with_key: false` leaves out its signing key.
pub fn idp_metadata(with_key: bool) -> String {
    let key = if with_key {
        format!(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            keys().idp.cert_b64()
        )
    } else {
        String::new()
    };
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{IDP_ENTITY_ID}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="true">{key}<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{IDP_SLO}"/><md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{IDP_SSO}"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{IDP_SSO}"/></md:IDPSSODescriptor><md:Organization><md:OrganizationName xml:lang="it">Identità di Prova S.p.A.</md:OrganizationName><md:OrganizationDisplayName xml:lang="it">Prova ID</md:OrganizationDisplayName><md:OrganizationURL xml:lang="it">https://idp.spid.test</md:OrganizationURL></md:Organization></md:EntityDescriptor>"#
    )
}

fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn sig_template(id: &str, cert_b64: &str) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##
    )
}

/// What the SP asked: the values a Response is built from.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: String,
    pub issue_instant: DateTime<Utc>,
    pub acs_url: String,
    pub sp_entity_id: String,
}

/// A Response to build: named parts of the template (`{NAME}` placeholders),
/// each replaceable; attribute parts hold the whole `Name="value"` text.
#[derive(Debug, Clone)]
pub struct Spec {
    pub parts: BTreeMap<&'static str, String>,
    pub sign_response: bool,
    pub sign_assertion: bool,
    /// Sign the Assertion / the Response with the attacker's key instead of the IdP's.
    pub foreign_assertion_key: bool,
    pub foreign_response_key: bool,
    /// With a foreign key, still put the IdP's certificate in KeyInfo.
    pub claim_idp_certificate: bool,
}

const RESPONSE: &str = r#"{PRE}<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" {R_DESTINATION} {R_ID} {R_IN_RESPONSE_TO} {R_ISSUE_INSTANT} {R_VERSION}>{R_ISSUER}{STATUS}{ASSERTION}</samlp:Response>"#;
const ASSERTION: &str = r#"<saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" {A_ID} {A_ISSUE_INSTANT} {A_VERSION}>{A_ISSUER}{SUBJECT}{CONDITIONS}{AUTHN_STATEMENT}{ATTRIBUTE_STATEMENT}</saml:Assertion>"#;

impl Spec {
    /// The valid Response to `req` for the person with `fiscal_code`, at `level` (1-3).
    pub fn valid(req: &Request, fiscal_code: &str, level: u8) -> Spec {
        let now = Utc::now();
        let until = instant(now + Duration::minutes(5));
        let issued = instant(req.issue_instant.max(now - Duration::seconds(1)));
        let assertion_id = format!("_{}", uuid::Uuid::new_v4());
        let name_id = format!("_{}", uuid::Uuid::new_v4());
        let attr = |name: &str, ty: &str, value: &str| {
            format!(
                r#"<saml:Attribute Name="{name}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:{ty}">{value}</saml:AttributeValue></saml:Attribute>"#
            )
        };
        let mut p = BTreeMap::new();
        let mut set = |k: &'static str, v: String| {
            p.insert(k, v);
        };
        set("PRE", String::new());
        set("R_DESTINATION", format!(r#"Destination="{}""#, req.acs_url));
        set("R_ID", format!(r#"ID="_{}""#, uuid::Uuid::new_v4()));
        set("R_IN_RESPONSE_TO", format!(r#"InResponseTo="{}""#, req.id));
        set("R_ISSUE_INSTANT", format!(r#"IssueInstant="{issued}""#));
        set("R_VERSION", r#"Version="2.0""#.into());
        set(
            "R_ISSUER",
            format!(
                r#"<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{IDP_ENTITY_ID}</saml:Issuer>"#
            ),
        );
        set(
            "STATUS",
            r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>"#
                .into(),
        );
        set("ASSERTION", ASSERTION.into());
        set("A_ID", format!(r#"ID="{assertion_id}""#));
        set("A_ISSUE_INSTANT", format!(r#"IssueInstant="{issued}""#));
        set("A_VERSION", r#"Version="2.0""#.into());
        set(
            "A_ISSUER",
            format!(
                r#"<saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{IDP_ENTITY_ID}</saml:Issuer>"#
            ),
        );
        set("SUBJECT", "<saml:Subject>{NAME_ID}{SUBJECT_CONFIRMATION}</saml:Subject>".into());
        set(
            "NAME_ID",
            format!(
                r#"<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" NameQualifier="{IDP_ENTITY_ID}">{name_id}</saml:NameID>"#
            ),
        );
        set(
            "SUBJECT_CONFIRMATION",
            format!(
                r#"<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="{}" NotOnOrAfter="{until}" Recipient="{}"/></saml:SubjectConfirmation>"#,
                req.id, req.acs_url
            ),
        );
        set(
            "CONDITIONS",
            format!(
                r#"<saml:Conditions NotBefore="{issued}" NotOnOrAfter="{until}">{{AUDIENCE_RESTRICTION}}</saml:Conditions>"#
            ),
        );
        set(
            "AUDIENCE_RESTRICTION",
            format!(
                "<saml:AudienceRestriction><saml:Audience>{}</saml:Audience></saml:AudienceRestriction>",
                req.sp_entity_id
            ),
        );
        set(
            "AUTHN_STATEMENT",
            format!(r#"<saml:AuthnStatement AuthnInstant="{issued}">{{AUTHN_CONTEXT}}</saml:AuthnStatement>"#),
        );
        set("AUTHN_CONTEXT", format!("<saml:AuthnContext><saml:AuthnContextClassRef>https://www.spid.gov.it/SpidL{level}</saml:AuthnContextClassRef></saml:AuthnContext>"));
        set("ATTRIBUTE_STATEMENT", "<saml:AttributeStatement>{ATTRIBUTES}</saml:AttributeStatement>".into());
        set(
            "ATTRIBUTES",
            [
                attr("fiscalNumber", "string", &format!("TINIT-{fiscal_code}")),
                attr("name", "string", "Mario"),
                attr("familyName", "string", "Rossi"),
                attr("email", "string", "mario.rossi@example.it"),
            ]
            .concat(),
        );
        Spec {
            parts: p,
            sign_response: true,
            sign_assertion: true,
            foreign_assertion_key: false,
            foreign_response_key: false,
            claim_idp_certificate: false,
        }
    }

    pub fn set(&mut self, part: &'static str, value: impl Into<String>) -> &mut Self {
        assert!(self.parts.contains_key(part), "unknown part {part}");
        self.parts.insert(part, value.into());
        self
    }

    /// Drops a part (an element, or an attribute).
    pub fn drop(&mut self, part: &'static str) -> &mut Self {
        self.set(part, "")
    }

    fn id_of(&self, part: &'static str) -> String {
        let v = &self.parts[part];
        v.split('"').nth(1).unwrap_or_default().to_string()
    }

    /// The XML before signing.
    pub fn render(&self) -> String {
        let mut xml = RESPONSE.to_string();
        for _ in 0..6 {
            let mut next = xml.clone();
            for (k, v) in &self.parts {
                next = next.replace(&format!("{{{k}}}"), v);
            }
            if next == xml {
                break;
            }
            xml = next;
        }
        xml
    }

    /// The signed Response XML.
    pub fn build(&self) -> String {
        let signer = |foreign: bool| {
            let creds = if foreign { &keys().other } else { &keys().idp };
            let cert = if self.claim_idp_certificate { keys().idp.cert_b64() } else { creds.cert_b64() };
            (creds.key_der(), cert)
        };
        let mut xml = self.render();
        let aid = self.id_of("A_ID");
        if self.sign_assertion && !aid.is_empty() && xml.contains("<saml:Assertion") {
            let (key, cert) = signer(self.foreign_assertion_key);
            // The signature goes right after the Assertion's Issuer (schema order).
            let tmpl = sig_template(&aid, &cert);
            xml = insert_after_first(&xml, "<saml:Assertion ", "</saml:Issuer>", &tmpl)
                .unwrap_or_else(|| insert_after_open_tag(&xml, "<saml:Assertion ", &tmpl));
            xml = Crypto::sign_xml(xml.as_bytes(), &key).expect("sign assertion");
        }
        let rid = self.id_of("R_ID");
        if self.sign_response && !rid.is_empty() {
            let (key, cert) = signer(self.foreign_response_key);
            let tmpl = sig_template(&rid, &cert);
            xml = match insert_after_first(&xml, "<samlp:Response ", "</saml:Issuer>", &tmpl) {
                Some(x) => x,
                None => insert_after_open_tag(&xml, "<samlp:Response ", &tmpl),
            };
            xml = Crypto::sign_xml(xml.as_bytes(), &key).expect("sign response");
        }
        xml
    }
}

/// Inserts `what` after the first `close` that follows `open` — only when that
/// `close` comes before any child element other than the Issuer.
fn insert_after_first(xml: &str, open: &str, close: &str, what: &str) -> Option<String> {
    let start = xml.find(open)?;
    let tag_end = start + xml[start..].find('>')? + 1;
    let rest = &xml[tag_end..];
    if !rest.starts_with("<saml:Issuer") {
        return None;
    }
    let at = tag_end + rest.find(close)? + close.len();
    Some(format!("{}{}{}", &xml[..at], what, &xml[at..]))
}

fn insert_after_open_tag(xml: &str, open: &str, what: &str) -> String {
    let start = xml.find(open).expect("element present");
    let at = start + xml[start..].find('>').unwrap() + 1;
    format!("{}{}{}", &xml[..at], what, &xml[at..])
}

/// The whole text of the first element named `tag` (e.g. `saml:Assertion`),
/// with its byte range.
pub fn element<'a>(xml: &'a str, tag: &str) -> (usize, usize, &'a str) {
    let start = xml.find(&format!("<{tag} ")).or_else(|| xml.find(&format!("<{tag}>"))).expect("element present");
    let close = format!("</{tag}>");
    let end = start + xml[start..].find(&close).expect("closed") + close.len();
    (start, end, &xml[start..end])
}

/// An unsigned copy of the signed Assertion in `xml`, naming `evil_cf`
/// instead of `cf` (and with a new ID when `new_id`): what a wrapping attack
/// tries to smuggle in.
pub fn evil_assertion(xml: &str, cf: &str, evil_cf: &str, new_id: bool) -> String {
    let (_, _, a) = element(xml, "saml:Assertion");
    let (s, e, _) = element(a, "ds:Signature");
    let evil = format!("{}{}", &a[..s], &a[e..]).replace(&format!("TINIT-{cf}"), &format!("TINIT-{evil_cf}"));
    assert!(evil.contains(evil_cf), "the evil assertion names another person");
    if new_id {
        let id_start = evil.find(" ID=\"").unwrap() + 5;
        let id_end = id_start + evil[id_start..].find('"').unwrap();
        format!("{}_evil{}{}", &evil[..id_start], uuid::Uuid::new_v4().simple(), &evil[id_end..])
    } else {
        evil
    }
}

/// Base64 for the ACS form.
pub fn encode(xml: &str) -> String {
    STANDARD.encode(xml)
}

/// A signature element that looks right to a structural check (one Reference
/// to `id`, allow-listed algorithms) and verifies nothing: what a forger puts
/// in an unsigned Assertion.
pub fn fake_signature(id: &str) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>"##
    )
}

/// `xml` without its XML declaration (what `Crypto::sign_xml` puts first).
pub fn without_declaration(xml: &str) -> &str {
    let t = xml.trim_start();
    match t.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map(|(_, r)| r.trim_start()).unwrap_or(t),
        None => t,
    }
}

/// UTF-7 (RFC 2152) for `s` with every character shifted: `+`, the modified
/// base64 of its UTF-16BE, `-`. To a UTF-8 reader it is plain text of
/// letters, digits, `+` and `/`.
pub fn utf7(s: &str) -> String {
    let utf16: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    format!("+{}-", base64::engine::general_purpose::STANDARD_NO_PAD.encode(utf16))
}

/// One message, two documents. Declared UTF-7, it reads to libxml2 (and so
/// to xmlsec) as `genuine`, followed by a comment holding `forged`; read as
/// UTF-8 (roxmltree) it is `forged` between two processing instructions whose
/// text is the shifted `genuine`. `forged` must be plain markup without `--`,
/// `+`, `\` or `~` (it sits, raw, inside libxml2's comment).
pub fn utf7_polyglot(genuine: &str, forged: &str) -> String {
    assert!(!forged.contains("--") && !forged.contains('+') && !forged.contains('\\') && !forged.contains('~'));
    format!(
        r#"<?xml version="1.0" encoding="UTF-7"?><?x {}?>{forged}<?y {}?>"#,
        utf7(&format!("?>{}<!--", without_declaration(genuine))),
        utf7("--><?z "),
    )
}

/// A LogoutRequest from the fake IdP for `name_id`, with `signature` (a
/// template to sign, a forged element, or nothing) after the Issuer.
pub fn logout_request(id: &str, name_id: &str, issue_instant: &str, signature: &str) -> String {
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{issue_instant}" Destination="https://gepi.test/saml/slo"><saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity" NameQualifier="{IDP_ENTITY_ID}">{IDP_ENTITY_ID}</saml:Issuer>{signature}<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" NameQualifier="{IDP_ENTITY_ID}">{name_id}</saml:NameID><samlp:SessionIndex>_s1</samlp:SessionIndex></samlp:LogoutRequest>"#
    )
}

/// The NameID value of a Response built by [`Spec::build`].
pub fn name_id_of(response_xml: &str) -> String {
    element(response_xml, "saml:NameID").2.split('>').nth(1).unwrap().split('<').next().unwrap().to_string()
}
