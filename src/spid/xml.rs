//! The SAML messages GePI writes, built from templates (samael's generators are
//! not SPID-shaped, see `shared/spec/spid.md` §3.3): the SP metadata, the
//! AuthnRequest and the LogoutResponse. Every value is escaped; signatures are
//! added by `super::Keys`.

use std::io::Write;

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, SecondsFormat, Utc};

pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const NAMEID_ENTITY: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity";
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
pub const SIG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// The attributes GePI asks for (data minimisation: nothing else).
pub const REQUESTED_ATTRIBUTES: [&str; 4] = ["fiscalNumber", "name", "familyName", "email"];

/// Escapes text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// SAML instants: UTC, millisecond precision.
pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A new message ID: "_" and a random UUID (122 random bits).
pub fn new_id() -> String {
    format!("_{}", uuid::Uuid::new_v4())
}

/// An enveloped-signature template for the element with `id`: exclusive c14n,
/// RSA-SHA256 and a SHA-256 digest (samael's own template digests with SHA-1).
pub fn signature_template(id: &str, cert_b64: &str) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="{NS_DSIG}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{SIG_RSA_SHA256}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##,
        id = esc(id),
    )
}

/// What the SP metadata says about us.
pub struct MetadataParams<'a> {
    pub id: &'a str,
    pub entity_id: &'a str,
    pub cert_b64: &'a str,
    pub acs_url: &'a str,
    pub slo_url: &'a str,
    pub organization_name: &'a str,
    pub organization_display_name: &'a str,
    pub organization_url: &'a str,
    pub ipa_code: &'a str,
    pub contact_email: &'a str,
    pub contact_phone: Option<&'a str>,
}

/// The SP metadata (RT metadata.rst, Avviso 29 v3), with an empty signature
/// template: one SPSSODescriptor, AuthnRequestsSigned and WantAssertionsSigned,
/// the signing key, SLO (Redirect and POST), one HTTP-POST ACS (index 0,
/// default), one AttributeConsumingService (index 0), transient NameID, the
/// Organization and the public-sector ContactPerson.
pub fn metadata(p: &MetadataParams) -> String {
    let attrs: String = REQUESTED_ATTRIBUTES
        .iter()
        .map(|a| {
            format!(
                r#"<md:RequestedAttribute Name="{a}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"/>"#
            )
        })
        .collect();
    let phone =
        p.contact_phone.map(|t| format!("<md:TelephoneNumber>{}</md:TelephoneNumber>", esc(t))).unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="{NS_DSIG}" xmlns:spid="https://spid.gov.it/saml-extensions" entityID="{entity_id}" ID="{id}">{signature}<md:SPSSODescriptor protocolSupportEnumeration="{NS_PROTOCOL}" AuthnRequestsSigned="true" WantAssertionsSigned="true"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleLogoutService Binding="{BINDING_REDIRECT}" Location="{slo}"/><md:SingleLogoutService Binding="{BINDING_POST}" Location="{slo}"/><md:NameIDFormat>{NAMEID_TRANSIENT}</md:NameIDFormat><md:AssertionConsumerService Binding="{BINDING_POST}" Location="{acs}" index="0" isDefault="true"/><md:AttributeConsumingService index="0"><md:ServiceName xml:lang="it">GePI</md:ServiceName>{attrs}</md:AttributeConsumingService></md:SPSSODescriptor><md:Organization><md:OrganizationName xml:lang="it">{org}</md:OrganizationName><md:OrganizationDisplayName xml:lang="it">{org_display}</md:OrganizationDisplayName><md:OrganizationURL xml:lang="it">{org_url}</md:OrganizationURL></md:Organization><md:ContactPerson contactType="other"><md:Extensions><spid:IPACode>{ipa}</spid:IPACode><spid:Public/></md:Extensions><md:Company>{org}</md:Company><md:EmailAddress>{email}</md:EmailAddress>{phone}</md:ContactPerson></md:EntityDescriptor>"#,
        entity_id = esc(p.entity_id),
        id = esc(p.id),
        signature = signature_template(p.id, p.cert_b64),
        cert = p.cert_b64,
        slo = esc(p.slo_url),
        acs = esc(p.acs_url),
        org = esc(p.organization_name),
        org_display = esc(p.organization_display_name),
        org_url = esc(p.organization_url),
        ipa = esc(p.ipa_code),
        email = esc(p.contact_email),
    )
}

/// A SPID AuthnRequest (RT single-sign-on.rst): ForceAuthn, the ACS and the
/// attribute set by index, Issuer with NameQualifier and entity Format,
/// transient NameIDPolicy without AllowCreate, one AuthnContextClassRef with
/// Comparison="minimum". `signature` (POST binding) goes right after the Issuer.
pub fn authn_request(
    id: &str,
    issue_instant: DateTime<Utc>,
    destination: &str,
    sp_entity_id: &str,
    level: &str,
    signature: Option<&str>,
) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{dest}" ForceAuthn="true" AssertionConsumerServiceIndex="0" AttributeConsumingServiceIndex="0"><saml:Issuer NameQualifier="{sp}" Format="{NAMEID_ENTITY}">{sp}</saml:Issuer>{sig}<samlp:NameIDPolicy Format="{NAMEID_TRANSIENT}"/><samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>{level}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>"#,
        id = esc(id),
        instant = instant(issue_instant),
        dest = esc(destination),
        sp = esc(sp_entity_id),
        sig = signature.unwrap_or(""),
        level = esc(level),
    )
}

/// A LogoutResponse (RT single-logout.rst) answering the IdP's LogoutRequest.
/// `partial`: some session could not be ended (Requester / PartialLogout).
pub fn logout_response(
    id: &str,
    issue_instant: DateTime<Utc>,
    in_response_to: &str,
    destination: &str,
    sp_entity_id: &str,
    partial: bool,
    signature: Option<&str>,
) -> String {
    let status = if partial {
        r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Requester"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:PartialLogout"/></samlp:StatusCode>"#.to_string()
    } else {
        format!(r#"<samlp:StatusCode Value="{STATUS_SUCCESS}"/>"#)
    };
    format!(
        r#"<samlp:LogoutResponse xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0" IssueInstant="{instant}" InResponseTo="{irt}" Destination="{dest}"><saml:Issuer NameQualifier="{sp}" Format="{NAMEID_ENTITY}">{sp}</saml:Issuer>{sig}<samlp:Status>{status}</samlp:Status></samlp:LogoutResponse>"#,
        id = esc(id),
        instant = instant(issue_instant),
        irt = esc(in_response_to),
        dest = esc(destination),
        sp = esc(sp_entity_id),
        sig = signature.unwrap_or(""),
    )
}

/// HTTP-Redirect encoding: raw DEFLATE, then base64.
pub fn deflate_base64(xml: &str) -> String {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).expect("writing to memory");
    STANDARD.encode(enc.finish().expect("writing to memory"))
}

/// The largest inflated HTTP-Redirect message (a deflate bomb stops here).
pub const MAX_INFLATED_BYTES: u64 = 256 * 1024;

/// Why an HTTP-Redirect message could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inflate {
    /// Not base64, or not a DEFLATE stream.
    Invalid,
    /// Inflates past [`MAX_INFLATED_BYTES`].
    TooLarge,
}

/// Decodes an HTTP-Redirect message: base64, then inflate, bounded to
/// [`MAX_INFLATED_BYTES`] (longer is refused, not cut).
pub fn inflate_base64_bytes(b64: &str) -> Result<Vec<u8>, Inflate> {
    use std::io::Read;
    let raw = STANDARD.decode(b64.trim()).map_err(|_| Inflate::Invalid)?;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(&raw[..])
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|_| Inflate::Invalid)?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(Inflate::TooLarge);
    }
    Ok(out)
}

/// [`inflate_base64_bytes`] as text (our own messages, in tests and tools).
pub fn inflate_base64(b64: &str) -> Option<String> {
    String::from_utf8(inflate_base64_bytes(b64).ok()?).ok()
}

/// An HTML page that posts a SAML message (HTTP-POST binding). The form
/// submits itself; without JavaScript the button does it.
pub fn post_form(action: &str, field: &str, message_b64: &str, relay_state: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="it"><head><meta charset="utf-8"><title>GePI - SPID</title></head><body onload="document.forms[0].submit()"><form method="post" action="{action}"><input type="hidden" name="{field}" value="{msg}"><input type="hidden" name="RelayState" value="{relay}"><noscript><p>Premi il pulsante per continuare.</p></noscript><button type="submit">Continua</button></form></body></html>"#,
        action = esc(action),
        field = esc(field),
        msg = esc(message_b64),
        relay = esc(relay_state),
    )
}
