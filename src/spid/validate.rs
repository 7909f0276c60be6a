//! The strict SPID validator: everything the technical rules require of a
//! Response that samael lets through (`shared/spec/spid.md` §3.2, §3.5). It runs
//! on the raw document, after samael has verified every signature in it: the
//! structure checks here (exactly one Assertion, a direct child of the
//! Response, carrying its own enveloped signature over its own ID with only
//! canonicalisation transforms) make sure that what is read below is what was
//! signed.
//!
//! Each refusal has a stable `code` (audited, asserted by the tests) and a
//! message; user-side IdP errors (`ErrorCode nrXX`) carry the code for the
//! courtesy page.

use chrono::{DateTime, Duration, Utc};
use roxmltree::{Document, Node};

use super::xml::{CM_BEARER, NAMEID_ENTITY, NAMEID_TRANSIENT, NS_ASSERTION, NS_DSIG, NS_PROTOCOL, STATUS_SUCCESS};

/// Why a Response was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Stable code, e.g. `assertion_nameid_format`.
    pub code: &'static str,
    pub detail: String,
    /// The SPID error number (19-30) of a user-side failure at the IdP.
    pub spid_error: Option<u8>,
}

fn refuse<T>(code: &'static str, detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal { code, detail: detail.into(), spid_error: None })
}

/// What is read from a Response before anything is verified: only to find the
/// pending request and the IdP, never trusted for anything else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub in_response_to: Option<String>,
    pub issuer: Option<String>,
    /// Top-level StatusCode value.
    pub status: Option<String>,
    /// `ErrorCode nrXX`, when the IdP reports a user-side failure.
    pub spid_error: Option<u8>,
}

/// What the Response must match.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    pub acs_url: &'a str,
    pub sp_entity_id: &'a str,
    pub idp_entity_id: &'a str,
    pub request_id: &'a str,
    pub request_issue_instant: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub skew: Duration,
    /// Lowest SPID level accepted (the level requested with Comparison="minimum").
    pub min_level: u8,
}

/// What a valid Response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub name_id: String,
    pub name_id_qualifier: String,
    pub level: u8,
    /// The `fiscalNumber` attribute as sent (`TINIT-...`).
    pub fiscal_number: String,
}

/// Parses a message, refusing DTDs and more than [`MAX_NODES`] nodes.
pub fn parse(xml: &str) -> Result<Document<'_>, Refusal> {
    let opt = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES };
    Document::parse_with_options(xml, opt)
        .or_else(|e| refuse("xml_malformed", format!("the message is not well-formed XML: {e}")))
}

fn is(n: &Node, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns)
}

fn children<'a, 'i>(n: Node<'a, 'i>, ns: &'a str, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children().filter(move |c| is(c, ns, name))
}

fn only_child<'a, 'i>(n: Node<'a, 'i>, ns: &'a str, name: &'a str) -> Option<Node<'a, 'i>> {
    let mut it = children(n, ns, name);
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// All the text of an element's own text nodes, trimmed. Not roxmltree's
/// `text()`, which stops at the first node: a comment inside a signed value
/// (`TINIT-AAA<!---->BBB`) does not change the digest under exclusive
/// canonicalisation, and reading only the part before it would read another
/// value than the one signed.
fn text(n: Node) -> String {
    let all: String = n.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect();
    all.trim().to_string()
}

/// A required, non-empty attribute: `missing` when absent, `empty` when blank.
fn attr<'a>(n: Node<'a, '_>, name: &str, code: &'static str, what: &str) -> Result<&'a str, Refusal> {
    match n.attribute(name) {
        None => refuse(code, format!("{what} is missing")),
        Some(v) if v.trim().is_empty() => refuse(code, format!("{what} is empty")),
        Some(v) => Ok(v),
    }
}

/// An xs:dateTime in UTC (SAML core 1.3.3: no time zone other than Z).
fn utc(v: &str, code: &'static str, what: &str) -> Result<DateTime<Utc>, Refusal> {
    if !v.ends_with('Z') {
        return refuse(code, format!("{what} `{v}` is not a UTC instant"));
    }
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| refuse(code, format!("{what} `{v}` is not a valid instant")))
}

fn spid_error_number(message: &str) -> Option<u8> {
    let m = message.trim();
    let n = m.strip_prefix("ErrorCode nr")?;
    n.trim().parse().ok()
}

/// Canonicalisation and transform algorithms a signature may use.
const ALLOWED_TRANSFORMS: [&str; 5] = [
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11",
];
const ALLOWED_SIGNATURE_METHODS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
];
const ALLOWED_DIGESTS: [&str; 3] = [
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];

/// Before any signature is verified: every algorithm named by every signature
/// in the document is on the allow-list. This keeps XSLT, XPath and the like
/// from ever being run by xmlsec, and SHA-1 from being considered.
pub fn algorithms_allowed(doc: &Document) -> Result<(), Refusal> {
    for n in doc.descendants().filter(|n| n.is_element() && n.tag_name().namespace() == Some(NS_DSIG)) {
        let alg = n.attribute("Algorithm").unwrap_or("");
        let ok = match n.tag_name().name() {
            "Transform" | "CanonicalizationMethod" => ALLOWED_TRANSFORMS.contains(&alg),
            "SignatureMethod" => ALLOWED_SIGNATURE_METHODS.contains(&alg),
            "DigestMethod" => ALLOWED_DIGESTS.contains(&alg),
            _ => true,
        };
        if !ok {
            return refuse("signature_algorithm", format!("signature algorithm `{alg}` is not allowed"));
        }
    }
    Ok(())
}

/// The most nodes a SAML message may have (a SPID Response has about 60):
/// the parses and samael's reduction stay cheap whatever is posted.
pub const MAX_NODES: u32 = 4_096;

fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Before xmlsec sees a message, every signature in it may only point inside
/// it. xmlsec dereferences any Reference URI (`file:`, `http:`, XPointer
/// expressions, References in a `ds:Manifest` inside `ds:Object`, a KeyInfo
/// `RetrievalMethod`) and computes every digest before it checks the
/// SignatureValue: left alone, one unsigned message could read a local file,
/// reach an internal host, or keep a core busy for good. So: at most two
/// signatures (the Response's and the Assertion's), each a direct child of
/// the element it signs, with exactly one Reference whose URI is `#` and that
/// element's `ID` (an NCName); no Object, Manifest or RetrievalMethod at all.
pub fn signatures_are_local(doc: &Document) -> Result<(), Refusal> {
    let dsig = |n: &Node, name: &str| is(n, NS_DSIG, name);
    let mut signatures = 0;
    for n in doc.descendants().filter(|n| n.is_element() && n.tag_name().namespace() == Some(NS_DSIG)) {
        match n.tag_name().name() {
            "Object" | "Manifest" | "RetrievalMethod" => {
                return refuse("signature_reference", format!("ds:{} is not accepted", n.tag_name().name()));
            }
            "Reference" => {
                let in_signed_info = n.parent().is_some_and(|p| dsig(&p, "SignedInfo"));
                let signature = n.parent().and_then(|p| p.parent()).filter(|s| dsig(s, "Signature"));
                let signed = signature.and_then(|s| s.parent()).filter(|e| e.is_element());
                let target = n.attribute("URI").and_then(|u| u.strip_prefix('#')).filter(|id| is_ncname(id));
                let ok =
                    in_signed_info && matches!((signed, target), (Some(e), Some(id)) if e.attribute("ID") == Some(id));
                if !ok {
                    return refuse(
                        "signature_reference",
                        "a signature Reference must be `#ID` of the element that holds the signature",
                    );
                }
            }
            "Signature" => {
                signatures += 1;
                let refs = n
                    .children()
                    .filter(|c| dsig(c, "SignedInfo"))
                    .flat_map(|si| si.children().filter(|c| dsig(c, "Reference")))
                    .count();
                if refs != 1 || signatures > 2 {
                    return refuse("signature_reference", "one Reference per signature, two signatures at most");
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads the envelope (InResponseTo, Issuer, Status) of a Response.
pub fn envelope(doc: &Document) -> Result<Envelope, Refusal> {
    let root = doc.root_element();
    if !is(&root, NS_PROTOCOL, "Response") {
        return refuse("not_a_response", "the message is not a samlp:Response");
    }
    let status_code = only_child(root, NS_PROTOCOL, "Status").and_then(|s| only_child(s, NS_PROTOCOL, "StatusCode"));
    let message =
        only_child(root, NS_PROTOCOL, "Status").and_then(|s| only_child(s, NS_PROTOCOL, "StatusMessage")).map(text);
    Ok(Envelope {
        in_response_to: root.attribute("InResponseTo").map(str::to_string),
        issuer: only_child(root, NS_ASSERTION, "Issuer").map(text),
        status: status_code.and_then(|c| c.attribute("Value")).map(str::to_string),
        spid_error: message.as_deref().and_then(spid_error_number),
    })
}

/// Every check of RT "Processamento della Response" and of spid-sp-test's
/// response suite.
///
/// `raw` is the document as received; `signed` is what samael's xmlsec
/// verification kept of it (`reduce_xml_to_signed`: only the content that a
/// verified signature covers, as libxml2 read it, serialised again as UTF-8).
/// Why the answer can be trusted:
///
/// - The identity and every value of the Assertion that we act on (ID,
///   Issuer, NameID, SubjectConfirmation, Conditions, Audience, level,
///   `fiscalNumber`) are read from `signed`: from what the IdP's key covers,
///   as the signature checker saw it, not from a second reading of the bytes.
/// - The same checks also run on `raw` (where spid-sp-test's structural rules
///   live: exactly one Assertion, a direct child, with its own signature), and
///   the two readings must agree. They always do for an honest message; a
///   difference means two parsers read two documents from one message (the
///   UTF-7 attack of `guard`), and the message is refused.
/// - Response-level values (Destination, InResponseTo, Status, Issuer) are
///   signed only when the IdP signs the Response too; they are checked on the
///   raw document and, when signed, on the signed one as well. The pending
///   request is found by the raw InResponseTo but consumed only after this
///   check, whose Assertion must carry the same InResponseTo under signature.
pub fn check(raw: &Document, signed: &Document, e: &Expect) -> Result<Verified, Refusal> {
    let r = raw.root_element();
    response(r, e)?;
    let a = the_assertion(raw, r)?;
    let aid = attr(a, "ID", "assertion_id", "Assertion ID")?;
    assertion_signature(a, aid)?;
    let as_received = assertion(a, e)?;
    let s = signed.root_element();
    let signed_assertion = if is(&s, NS_PROTOCOL, "Response") {
        response(s, e)?;
        the_assertion(signed, s)?
    } else if is(&s, NS_ASSERTION, "Assertion") {
        s
    } else {
        return refuse("signature_scope", "the signatures cover neither the Response nor an Assertion");
    };
    if signed_assertion.attribute("ID") != Some(aid) {
        return refuse("signature_mismatch", "the Assertion read is not the Assertion that was signed");
    }
    let verified = assertion(signed_assertion, e)?;
    if verified != as_received {
        return refuse(
            "parser_differential",
            "the signed Assertion and the Assertion as received say different things",
        );
    }
    Ok(verified)
}

/// The Response element: attributes, Status and Issuer.
fn response(r: Node, e: &Expect) -> Result<(), Refusal> {
    if !is(&r, NS_PROTOCOL, "Response") {
        return refuse("not_a_response", "the message is not a samlp:Response");
    }
    attr(r, "ID", "response_id", "Response ID")?;
    version_and_issue_instant(r, e, "Response", "response_version", "response_issue_instant")?;
    if attr(r, "InResponseTo", "response_in_response_to", "Response InResponseTo")? != e.request_id {
        return refuse("response_in_response_to", "Response InResponseTo does not match the request");
    }
    if attr(r, "Destination", "response_destination", "Response Destination")? != e.acs_url {
        return refuse("response_destination", "Response Destination is not this service's ACS");
    }
    let status = only_child(r, NS_PROTOCOL, "Status").ok_or_else(|| Refusal {
        code: "response_status",
        detail: "Response Status is missing".into(),
        spid_error: None,
    })?;
    let code = only_child(status, NS_PROTOCOL, "StatusCode").and_then(|c| c.attribute("Value"));
    match code {
        Some(STATUS_SUCCESS) => {}
        Some(other) if !other.trim().is_empty() => {
            let spid_error =
                only_child(status, NS_PROTOCOL, "StatusMessage").map(text).as_deref().and_then(spid_error_number);
            return Err(Refusal { code: "response_status", detail: format!("the IdP answered {other}"), spid_error });
        }
        _ => return refuse("response_status", "Response StatusCode is missing or empty"),
    }
    let issuer = only_child(r, NS_ASSERTION, "Issuer").ok_or_else(|| Refusal {
        code: "response_issuer",
        detail: "Response Issuer is missing".into(),
        spid_error: None,
    })?;
    if text(issuer) != e.idp_entity_id {
        return refuse("response_issuer", "Response Issuer is not the IdP the request went to");
    }
    if let Some(f) = issuer.attribute("Format") {
        if f != NAMEID_ENTITY {
            return refuse("response_issuer_format", "Response Issuer Format must be absent or entity");
        }
    }
    Ok(())
}

/// Exactly one Assertion, a direct child of the Response `r`, not encrypted.
fn the_assertion<'a, 'i>(doc: &'a Document<'i>, r: Node<'a, 'i>) -> Result<Node<'a, 'i>, Refusal> {
    let all: Vec<Node> = doc.descendants().filter(|n| is(n, NS_ASSERTION, "Assertion")).collect();
    if doc.descendants().any(|n| is(&n, NS_ASSERTION, "EncryptedAssertion")) {
        return refuse("assertion_encrypted", "encrypted assertions are not used by SPID");
    }
    match all.as_slice() {
        [a] if a.parent() == Some(r) => Ok(*a),
        [] => refuse("assertion_missing", "the Response carries no Assertion"),
        [_] => refuse("assertion_position", "the Assertion is not a direct child of the Response"),
        _ => refuse("assertion_count", "the Response carries more than one Assertion"),
    }
}

/// The Assertion's own content, on either reading of the message.
fn assertion(a: Node, e: &Expect) -> Result<Verified, Refusal> {
    attr(a, "ID", "assertion_id", "Assertion ID")?;
    version_and_issue_instant(a, e, "Assertion", "assertion_version", "assertion_issue_instant")?;
    // Subject and NameID.
    let subject = only_child(a, NS_ASSERTION, "Subject").filter(|s| s.children().any(|c| c.is_element()));
    let Some(subject) = subject else { return refuse("assertion_subject", "Assertion Subject is missing or empty") };
    let Some(name_id) = only_child(subject, NS_ASSERTION, "NameID") else {
        return refuse("assertion_nameid", "Subject NameID is missing");
    };
    let name_id_value = text(name_id);
    if name_id_value.is_empty() {
        return refuse("assertion_nameid", "Subject NameID is empty");
    }
    if attr(name_id, "Format", "assertion_nameid_format", "NameID Format")? != NAMEID_TRANSIENT {
        return refuse("assertion_nameid_format", "NameID Format must be transient");
    }
    let qualifier = attr(name_id, "NameQualifier", "assertion_nameid_qualifier", "NameID NameQualifier")?.to_string();
    // SubjectConfirmation: bearer, for our ACS, for this request, not expired.
    let Some(sc) = only_child(subject, NS_ASSERTION, "SubjectConfirmation")
        .filter(|s| s.attributes().len() > 0 || s.has_children())
    else {
        return refuse("assertion_subject_confirmation", "SubjectConfirmation is missing or empty");
    };
    if attr(sc, "Method", "assertion_subject_confirmation", "SubjectConfirmation Method")? != CM_BEARER {
        return refuse("assertion_subject_confirmation", "SubjectConfirmation Method must be bearer");
    }
    let Some(scd) = only_child(sc, NS_ASSERTION, "SubjectConfirmationData") else {
        return refuse("assertion_subject_confirmation_data", "SubjectConfirmationData is missing");
    };
    if attr(scd, "Recipient", "assertion_recipient", "SubjectConfirmationData Recipient")? != e.acs_url {
        return refuse("assertion_recipient", "SubjectConfirmationData Recipient is not this service's ACS");
    }
    if attr(scd, "InResponseTo", "assertion_in_response_to", "SubjectConfirmationData InResponseTo")? != e.request_id {
        return refuse("assertion_in_response_to", "SubjectConfirmationData InResponseTo does not match the request");
    }
    let scd_until =
        instant_attr(scd, "NotOnOrAfter", "assertion_subject_expiry", "SubjectConfirmationData NotOnOrAfter")?;
    if scd_until + e.skew <= e.now {
        return refuse("assertion_subject_expiry", "SubjectConfirmationData has expired");
    }
    // Assertion Issuer.
    let Some(a_issuer) = only_child(a, NS_ASSERTION, "Issuer") else {
        return refuse("assertion_issuer", "Assertion Issuer is missing");
    };
    if text(a_issuer) != e.idp_entity_id {
        return refuse("assertion_issuer", "Assertion Issuer is not the IdP the request went to");
    }
    if attr(a_issuer, "Format", "assertion_issuer_format", "Assertion Issuer Format")? != NAMEID_ENTITY {
        return refuse("assertion_issuer_format", "Assertion Issuer Format must be entity");
    }
    // Conditions: both bounds and our audience.
    let Some(cond) = only_child(a, NS_ASSERTION, "Conditions")
        .filter(|c| c.attributes().len() > 0 || c.children().any(|x| x.is_element()))
    else {
        return refuse("assertion_conditions", "Conditions are missing or empty");
    };
    let not_before = instant_attr(cond, "NotBefore", "assertion_not_before", "Conditions NotBefore")?;
    if not_before > e.now + e.skew {
        return refuse("assertion_not_before", "the Assertion is not valid yet");
    }
    let not_after = instant_attr(cond, "NotOnOrAfter", "assertion_not_on_or_after", "Conditions NotOnOrAfter")?;
    if not_after + e.skew <= e.now {
        return refuse("assertion_not_on_or_after", "the Assertion has expired");
    }
    let Some(ar) =
        only_child(cond, NS_ASSERTION, "AudienceRestriction").filter(|x| x.children().any(|c| c.is_element()))
    else {
        return refuse("assertion_audience", "AudienceRestriction is missing or empty");
    };
    let audiences: Vec<String> = children(ar, NS_ASSERTION, "Audience").map(text).collect();
    if audiences.is_empty() || audiences.iter().all(|a| a.is_empty()) {
        return refuse("assertion_audience", "Audience is missing or empty");
    }
    if !audiences.iter().any(|a| a == e.sp_entity_id) {
        return refuse("assertion_audience", "the Assertion is meant for another service provider");
    }
    // AuthnStatement and the level.
    let Some(st) = only_child(a, NS_ASSERTION, "AuthnStatement").filter(|s| s.children().any(|c| c.is_element()))
    else {
        return refuse("assertion_authn_statement", "AuthnStatement is missing or empty");
    };
    let Some(ctx) = only_child(st, NS_ASSERTION, "AuthnContext").filter(|s| s.children().any(|c| c.is_element()))
    else {
        return refuse("assertion_authn_context", "AuthnContext is missing or empty");
    };
    let Some(class_ref) = only_child(ctx, NS_ASSERTION, "AuthnContextClassRef") else {
        return refuse("assertion_authn_context", "AuthnContextClassRef is missing");
    };
    let level = match text(class_ref).as_str() {
        "https://www.spid.gov.it/SpidL1" => 1,
        "https://www.spid.gov.it/SpidL2" => 2,
        "https://www.spid.gov.it/SpidL3" => 3,
        "" => return refuse("assertion_authn_context", "AuthnContextClassRef is empty"),
        other => return refuse("assertion_level", format!("unknown AuthnContextClassRef `{other}`")),
    };
    if level < e.min_level {
        return refuse("assertion_level", format!("SpidL{level} is below the SpidL{} required", e.min_level));
    }
    // Attributes: a statement, when present, has some; fiscalNumber is required.
    let statements: Vec<Node> = children(a, NS_ASSERTION, "AttributeStatement").collect();
    let mut fiscal_number = None;
    for s in &statements {
        let attrs: Vec<Node> = children(*s, NS_ASSERTION, "Attribute").collect();
        if attrs.is_empty() {
            return refuse("assertion_attributes", "AttributeStatement without Attribute");
        }
        for at in attrs {
            if at.attribute("Name") == Some("fiscalNumber") {
                fiscal_number = children(at, NS_ASSERTION, "AttributeValue").next().map(text);
            }
        }
    }
    let Some(fiscal_number) = fiscal_number.filter(|f| !f.is_empty()) else {
        return refuse("fiscal_number_missing", "the IdP did not send the fiscalNumber attribute");
    };
    Ok(Verified { name_id: name_id_value, name_id_qualifier: qualifier, level, fiscal_number })
}

/// A required UTC instant attribute.
fn instant_attr(n: Node, name: &str, code: &'static str, what: &str) -> Result<DateTime<Utc>, Refusal> {
    utc(attr(n, name, code, what)?, code, what)
}

/// `Version="2.0"`, and an IssueInstant between the request and now (with skew).
fn version_and_issue_instant(
    n: Node,
    e: &Expect,
    what: &str,
    version_code: &'static str,
    instant_code: &'static str,
) -> Result<(), Refusal> {
    if n.attribute("Version") != Some("2.0") {
        return refuse(version_code, format!("{what} Version must be 2.0"));
    }
    let issued = instant_attr(n, "IssueInstant", instant_code, &format!("{what} IssueInstant"))?;
    if issued < e.request_issue_instant - e.skew {
        return refuse(instant_code, format!("{what} IssueInstant is before the request was sent"));
    }
    if issued > e.now + e.skew {
        return refuse(instant_code, format!("{what} IssueInstant is in the future"));
    }
    Ok(())
}

/// The Assertion carries its own enveloped signature: a direct ds:Signature
/// child with one Reference to the Assertion's ID and canonicalisation
/// transforms only.
fn assertion_signature(a: Node, id: &str) -> Result<(), Refusal> {
    let sigs: Vec<Node> = children(a, NS_DSIG, "Signature").collect();
    let [sig] = sigs.as_slice() else {
        return refuse("assertion_unsigned", "the Assertion must carry exactly one signature of its own");
    };
    let refs: Vec<Node> = sig
        .descendants()
        .filter(|n| is(n, NS_DSIG, "Reference") && n.parent().is_some_and(|p| is(&p, NS_DSIG, "SignedInfo")))
        .collect();
    let [reference] = refs.as_slice() else {
        return refuse("assertion_unsigned", "the Assertion signature must have exactly one reference");
    };
    if reference.attribute("URI") != Some(&format!("#{id}")) {
        return refuse("assertion_unsigned", "the Assertion signature does not cover the Assertion");
    }
    for t in reference.descendants().filter(|n| is(n, NS_DSIG, "Transform")) {
        if !t.attribute("Algorithm").is_some_and(|a| ALLOWED_TRANSFORMS.contains(&a)) {
            return refuse("assertion_unsigned", "the Assertion signature uses a transform that is not allowed");
        }
    }
    Ok(())
}

/// The courtesy text for a user-side failure at the IdP (RT messaggi-errore.rst).
pub fn spid_error_message(n: u8) -> &'static str {
    match n {
        19 => "Autenticazione non riuscita: troppi tentativi con credenziali errate.",
        20 => "Non hai credenziali SPID del livello richiesto (SPID livello 2).",
        21 => "Il tempo per completare l'autenticazione è scaduto.",
        22 => "Hai negato il consenso all'invio dei dati.",
        23 => "La tua identità SPID risulta sospesa o revocata, o le credenziali sono bloccate.",
        25 => "Hai annullato l'autenticazione.",
        30 => "L'identità usata non è del tipo richiesto (serve un'identità SPID per persona fisica).",
        _ => "Il gestore dell'identità ha rifiutato l'autenticazione.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_utc_xs_datetimes() {
        assert!(utc("2026-11-26T08:00:00Z", "c", "t").is_ok());
        assert!(utc("2026-11-26T08:00:00.123Z", "c", "t").is_ok());
        for bad in ["2018-09-04", "2018-09-06 16:00", "2026-11-26T08:00:00+01:00", "10-09-2018", ""] {
            assert_eq!(utc(bad, "c", "t").unwrap_err().code, "c", "{bad}");
        }
    }

    #[test]
    fn spid_error_codes_are_read_from_the_status_message() {
        assert_eq!(spid_error_number("ErrorCode nr19"), Some(19));
        assert_eq!(spid_error_number(" ErrorCode nr25 "), Some(25));
        assert_eq!(spid_error_number("Authentication failed"), None);
        assert!(spid_error_message(22).contains("consenso"));
    }

    #[test]
    fn only_allow_listed_algorithms_reach_xmlsec() {
        let sig = |transform: &str, digest: &str| {
            format!(
                r##"<r xmlns:ds="{NS_DSIG}"><ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#x"><ds:Transforms><ds:Transform Algorithm="{transform}"/></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/></ds:Reference></ds:SignedInfo></ds:Signature></r>"##
            )
        };
        let sha256 = "http://www.w3.org/2001/04/xmlenc#sha256";
        let enveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
        let ok = sig(enveloped, sha256);
        assert!(algorithms_allowed(&parse(&ok).unwrap()).is_ok());
        let xslt = sig("http://www.w3.org/TR/1999/REC-xslt-19991116", sha256);
        assert_eq!(algorithms_allowed(&parse(&xslt).unwrap()).unwrap_err().code, "signature_algorithm");
        let sha1 = sig(enveloped, "http://www.w3.org/2000/09/xmldsig#sha1");
        assert_eq!(algorithms_allowed(&parse(&sha1).unwrap()).unwrap_err().code, "signature_algorithm");
    }

    #[test]
    fn dtds_are_refused() {
        let err = parse("<!DOCTYPE r [<!ENTITY x 'y'>]><r>&x;</r>").unwrap_err();
        assert_eq!(err.code, "xml_malformed");
    }
}
