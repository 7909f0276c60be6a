//! SPID login over SAML 2.0 (feature `spid`): GePI as a public-sector Service
//! Provider at SPID level 2. See `shared/spec/spid.md` for the rules followed
//! and for what samael 0.0.22 does and lacks.
//!
//! - `GET /saml/metadata` (and `/metadata`): our signed metadata, built from our
//!   own template at start-up.
//! - `GET /saml/login?idp=…&next=…`: a signed SpidL2 AuthnRequest (HTTP-Redirect;
//!   `binding=post` for HTTP-POST); the request is kept in `saml_request`.
//! - `POST /saml/acs`: [`guard`] first (UTF-8 only, no DTD, bounded depth),
//!   then the pending request is looked up (not consumed), samael/xmlsec
//!   verifies the signatures and returns what they cover ([`signed_part`]),
//!   [`validate::check`] applies every SPID rule to that signed part and to the
//!   document as received and requires them to agree, and only then is the
//!   pending request consumed (once), the `fiscalNumber` *of the signed part*
//!   mapped to an accredited operator and a session issued. Every failure is a
//!   403 page; readable ones are audited without personal data, unreadable
//!   ones only counted.
//! - `GET|POST /saml/slo`: IdP-initiated single logout, through the same guard,
//!   inside an IssueInstant window, at most once per request id, answered with
//!   a signed LogoutResponse; over POST the request acted on is the signed part.
//!
//! Why the identity cannot be forged with a message that two parsers read
//! differently: nothing we act on is read from a document that xmlsec did not
//! verify. The guard removes the known way to make libxml2 and roxmltree
//! disagree (a declared encoding); the structure removes the consequence of any
//! unknown one (the identity comes from the signed part, and the two readings
//! must match).

pub mod guard;
pub mod validate;
pub mod xml;

use std::{collections::BTreeMap, sync::Arc};

use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Duration;
use openssl::{
    pkey::{PKey, Private},
    x509::X509,
};
use samael::{
    crypto::{AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode},
    metadata::{EntityDescriptor, EntityDescriptorType},
    service_provider::ServiceProvider,
};

use crate::config::{is_loopback_url, SamlConfig, SamlProfile};

/// The level GePI requests (Comparison="minimum"): SpidL2 or SpidL3 pass.
pub const REQUESTED_LEVEL: &str = "https://www.spid.gov.it/SpidL2";
pub const MIN_LEVEL: u8 = 2;
/// How long an AuthnRequest waits for its Response.
pub const REQUEST_LIFETIME_SECS: i64 = 10 * 60;
/// Clock skew tolerated between us and an IdP.
pub const CLOCK_SKEW_SECS: i64 = 120;

/// Signature algorithms accepted from IdPs (RSA with SHA-2 only).
pub const ALLOWED_ALGORITHMS: [AllowedSignatureAlgorithm; 3] =
    [AllowedSignatureAlgorithm::RsaSha256, AllowedSignatureAlgorithm::RsaSha384, AllowedSignatureAlgorithm::RsaSha512];

#[derive(Debug, thiserror::Error)]
pub enum SpidSetupError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

fn invalid(m: impl Into<String>) -> SpidSetupError {
    SpidSetupError::Invalid(m.into())
}

/// Our signing key and certificate.
pub struct Keys {
    pub key: PKey<Private>,
    /// The certificate published in the metadata.
    pub cert: X509,
    key_der: Vec<u8>,
    /// The certificate, base64 DER, as it goes into `X509Certificate`.
    pub cert_b64: String,
    /// HMAC key for fiscal codes in audit entries, derived from the signing key.
    audit_key: Vec<u8>,
}

impl Keys {
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Self, SpidSetupError> {
        let key = PKey::private_key_from_pem(key_pem).map_err(|e| invalid(format!("SAML key: {e}")))?;
        let rsa = key.rsa().map_err(|_| invalid("the SAML key must be an RSA key"))?;
        if rsa.size() * 8 < 2048 {
            return Err(invalid("the SAML key must be RSA of at least 2048 bits"));
        }
        let cert = X509::from_pem(cert_pem).map_err(|e| invalid(format!("SAML certificate: {e}")))?;
        let cert_key = cert.public_key().map_err(|e| invalid(format!("SAML certificate: {e}")))?;
        if !cert_key.public_eq(&key) {
            return Err(invalid("the SAML certificate does not match the SAML key"));
        }
        let key_der = key.private_key_to_der().map_err(|e| invalid(format!("SAML key: {e}")))?;
        let cert_der = cert.to_der().map_err(|e| invalid(format!("SAML certificate: {e}")))?;
        let audit_key = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            h.update(b"gepi-audit-fiscal-code:");
            h.update(&key_der);
            h.finalize().to_vec()
        };
        Ok(Keys { key, cert, key_der, cert_b64: STANDARD.encode(cert_der), audit_key })
    }

    /// A keyed digest (HMAC-SHA256) of a codice fiscale, for audit entries about
    /// refused logins: it lets the same person's attempts be correlated, the code
    /// itself never reaches a log or the audit trail, and without the service's
    /// key the digest cannot be reversed by trying every codice fiscale.
    pub fn fiscal_code_digest(&self, cf: &str) -> String {
        let normalised = cf.trim().trim_start_matches("TINIT-").to_ascii_uppercase();
        let key = PKey::hmac(&self.audit_key).expect("HMAC key");
        let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).expect("HMAC");
        signer.update(normalised.as_bytes()).expect("HMAC");
        hex::encode(signer.sign_to_vec().expect("HMAC"))
    }

    /// Signs the (only) empty signature template in `xml`.
    pub fn sign_xml(&self, xml: &str) -> Result<String, String> {
        Crypto::sign_xml(xml, &self.key_der).map_err(|e| format!("signing failed: {e}"))
    }

    /// Signs an HTTP-Redirect query (`SAMLRequest=…&RelayState=…` or
    /// `SAMLResponse=…`), appending `SigAlg` and `Signature`.
    pub fn sign_redirect(&self, location: &str, pairs: &[(&str, &str)]) -> Result<String, String> {
        let mut url = url::Url::parse(location).map_err(|e| format!("bad location {location}: {e}"))?;
        {
            let mut q = url.query_pairs_mut();
            q.clear();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
        }
        samael::crypto::sign_url(url, &self.key).map(|u| u.to_string()).map_err(|e| format!("signing failed: {e}"))
    }
}

/// The value of a subject attribute of `cert`, by OID (dotted) or short name.
fn subject_entry(cert: &X509, field: &str) -> Option<String> {
    let want = openssl::asn1::Asn1Object::from_str(field).ok()?.to_string();
    cert.subject_name().entries().find(|e| e.object().to_string() == want).and_then(|e| e.data().to_string().ok())
}

/// Outside the conformance profile the configuration must say what the
/// signing certificate says (Avviso 29 v3, spec §5.5): the entityID is the
/// certificate's `uri` (2.5.4.83), the Organization name its O, and the IPA
/// code its organizationIdentifier `PA:IT-<code>` (2.5.4.97). A mismatched
/// set-up would start, pass the offline conformance run, and be refused by
/// AgID and the IdPs later.
pub fn config_matches_certificate(cfg: &SamlConfig, cert: &X509) -> Result<(), SpidSetupError> {
    let mismatch = |what: &str, config: &str, cert_value: Option<String>| {
        invalid(format!(
            "the SAML certificate does not match the configuration: {what} is `{config}` in the configuration but {} in the certificate",
            cert_value.map(|v| format!("`{v}`")).unwrap_or_else(|| "absent".into())
        ))
    };
    let uri = subject_entry(cert, "2.5.4.83");
    if uri.as_deref() != Some(cfg.entity_id.as_str()) {
        return Err(mismatch("the entityID (uri)", &cfg.entity_id, uri));
    }
    let org = subject_entry(cert, "O");
    if org.as_deref() != Some(cfg.organization_name.as_str()) {
        return Err(mismatch("the organisation name (O)", &cfg.organization_name, org));
    }
    let org_id = subject_entry(cert, "2.5.4.97");
    let expected = format!("PA:IT-{}", cfg.ipa_code);
    if org_id.as_deref() != Some(expected.as_str()) {
        return Err(mismatch("the IPA code (organizationIdentifier)", &expected, org_id));
    }
    Ok(())
}

/// One trusted IdP.
pub struct Idp {
    pub entity_id: String,
    /// Display name from the metadata's Organization (Italian first), for the login page.
    pub name: String,
    pub sso_redirect: Option<String>,
    pub sso_post: Option<String>,
    /// SingleLogoutService: (binding, where LogoutResponses go).
    pub slo: Vec<(String, String)>,
    pub certs: Vec<CertificateDer>,
    /// samael's verifier for this IdP (one per IdP, see spec §3.3 item 12).
    pub verifier: ServiceProvider,
}

/// The service provider: configuration, keys, signed metadata, trusted IdPs.
pub struct Sp {
    pub cfg: SamlConfig,
    pub keys: Keys,
    pub metadata: String,
    pub idps: BTreeMap<String, Idp>,
    /// Signature verifications running at once (one per core): a flood of
    /// posts queues here instead of filling the blocking thread pool.
    pub verifications: Arc<tokio::sync::Semaphore>,
}

/// The entity ids of IdPs that are only for tests: their private keys are public.
fn is_test_idp(entity_id: &str) -> bool {
    is_loopback_url(entity_id) || entity_id.contains("localhost")
}

impl Sp {
    /// Reads the key, certificate and IdP metadata files named by the configuration.
    pub fn load(cfg: &SamlConfig) -> Result<Arc<Sp>, SpidSetupError> {
        let read = |p: &str| std::fs::read(p).map_err(|source| SpidSetupError::Read { path: p.into(), source });
        let keys = Keys::from_pem(&read(&cfg.key_file)?, &read(&cfg.cert_file)?)?;
        let mut metadata_files = Vec::new();
        for path in &cfg.idp_metadata {
            let text = String::from_utf8(read(path)?).map_err(|_| invalid(format!("{path}: not UTF-8")))?;
            metadata_files.push((path.clone(), text));
        }
        Self::new(cfg.clone(), keys, &metadata_files).map(Arc::new)
    }

    /// Builds the SP from loaded material: refuses IdPs without a signing
    /// certificate and, outside the conformance profile, test IdPs.
    pub fn new(cfg: SamlConfig, keys: Keys, idp_metadata: &[(String, String)]) -> Result<Sp, SpidSetupError> {
        if cfg.profile != SamlProfile::Conformance {
            config_matches_certificate(&cfg, &keys.cert)?;
        }
        let mut idps = BTreeMap::new();
        for (path, text) in idp_metadata {
            let parsed: EntityDescriptorType =
                text.parse().map_err(|e| invalid(format!("{path}: not SAML metadata: {e}")))?;
            for ed in parsed.iter() {
                let idp = Self::idp(&cfg, ed.clone()).map_err(|m| invalid(format!("{path}: {m}")))?;
                if let Some(idp) = idp {
                    idps.insert(idp.entity_id.clone(), idp);
                }
            }
        }
        if idps.is_empty() {
            return Err(invalid("no IdP found in the SAML IdP metadata files"));
        }
        let id = xml::new_id();
        let unsigned = xml::metadata(&xml::MetadataParams {
            id: &id,
            entity_id: &cfg.entity_id,
            cert_b64: &keys.cert_b64,
            acs_url: &cfg.acs_url(),
            slo_url: &cfg.slo_url(),
            organization_name: &cfg.organization_name,
            organization_display_name: &cfg.organization_display_name,
            organization_url: &cfg.organization_url,
            ipa_code: &cfg.ipa_code,
            contact_email: &cfg.contact_email,
            contact_phone: cfg.contact_phone.as_deref(),
        });
        let metadata = keys.sign_xml(&unsigned).map_err(|e| invalid(format!("SP metadata: {e}")))?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(Sp { cfg, keys, metadata, idps, verifications: Arc::new(tokio::sync::Semaphore::new(cores)) })
    }

    /// One EntityDescriptor: None when it is not an IdP.
    fn idp(cfg: &SamlConfig, ed: EntityDescriptor) -> Result<Option<Idp>, String> {
        let Some(descriptors) = ed.idp_sso_descriptors.clone() else { return Ok(None) };
        let entity_id = ed.entity_id.clone().unwrap_or_default();
        if entity_id.is_empty() {
            return Err("an IdP without entityID".into());
        }
        if is_test_idp(&entity_id) && cfg.profile != SamlProfile::Conformance {
            return Err(format!(
                "IdP {entity_id} is a test IdP (its private key is public): it may be trusted only in the conformance profile"
            ));
        }
        let verifier = ServiceProvider {
            entity_id: Some(cfg.entity_id.clone()),
            acs_url: Some(cfg.acs_url()),
            slo_url: Some(cfg.slo_url()),
            metadata_url: None,
            idp_metadata: ed,
            allowed_signature_algorithms: Some(ALLOWED_ALGORITHMS.to_vec()),
            max_clock_skew: Duration::seconds(CLOCK_SKEW_SECS),
            max_issue_delay: Duration::seconds(REQUEST_LIFETIME_SECS),
            ..ServiceProvider::default()
        };
        // samael verifies nothing when an IdP has no signing key (spec §3.3 item 1).
        let certs = match verifier.idp_signing_certs() {
            Ok(Some(c)) if !c.is_empty() => c,
            Ok(_) => return Err(format!("IdP {entity_id} has no signing certificate in its metadata: refused")),
            Err(e) => return Err(format!("IdP {entity_id}: unreadable signing certificate: {e}")),
        };
        let find = |binding: &str| {
            descriptors
                .iter()
                .flat_map(|d| &d.single_sign_on_services)
                .find(|s| s.binding == binding)
                .map(|s| s.location.clone())
        };
        let slo = descriptors
            .iter()
            .flat_map(|d| &d.single_logout_services)
            .map(|s| (s.binding.clone(), s.response_location.clone().unwrap_or_else(|| s.location.clone())))
            .collect();
        let (sso_redirect, sso_post) = (find(xml::BINDING_REDIRECT), find(xml::BINDING_POST));
        let names: Vec<_> = verifier
            .idp_metadata
            .organization
            .iter()
            .flat_map(|o| o.organization_display_names.iter().chain(o.organization_names.iter()).flatten())
            .collect();
        let name = names
            .iter()
            .find(|n| n.lang.as_deref() == Some("it"))
            .or(names.first())
            .map(|n| n.value.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| entity_id.clone());
        if sso_redirect.is_none() && sso_post.is_none() {
            return Err(format!("IdP {entity_id} has no SingleSignOnService"));
        }
        Ok(Some(Idp { entity_id, name, sso_redirect, sso_post, slo, certs, verifier }))
    }
}

/// Verifies every XML signature in `raw` against `certs` (xmlsec through
/// samael, allow-listed algorithms only; call it only on a message that
/// passed [`validate::signatures_are_local`]) and returns what the signatures
/// cover: the signed element(s) as libxml2 read them, every unsigned node
/// removed, serialised again as UTF-8. Blocking: call off the async threads.
pub fn signed_part(raw: &str, certs: &[CertificateDer]) -> Result<String, validate::Refusal> {
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        raw,
        certs,
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(&ALLOWED_ALGORITHMS),
    )
    .map_err(|e| validate::Refusal {
        code: "signature_invalid",
        detail: format!("a signature does not verify with the IdP's certificates: {e}"),
        spid_error: None,
    })
}

/// The parts of a Response check that outlive the request: owned, so the
/// check can run on a blocking thread.
#[derive(Debug, Clone)]
pub struct ResponseCheck {
    pub acs_url: String,
    pub sp_entity_id: String,
    pub idp_entity_id: String,
    pub request_id: String,
    pub request_issue_instant: chrono::DateTime<chrono::Utc>,
    pub now: chrono::DateTime<chrono::Utc>,
}

impl ResponseCheck {
    /// What the validator checks the Response against (our skew and level).
    pub fn expect(&self) -> validate::Expect<'_> {
        validate::Expect {
            acs_url: &self.acs_url,
            sp_entity_id: &self.sp_entity_id,
            idp_entity_id: &self.idp_entity_id,
            request_id: &self.request_id,
            request_issue_instant: self.request_issue_instant,
            now: self.now,
            skew: Duration::seconds(CLOCK_SKEW_SECS),
            min_level: MIN_LEVEL,
        }
    }
}

/// A Response [`verify_response`] refused: why, and whether the IdP's
/// signature on it verified. Only a signed refusal is a real attempt worth an
/// audit entry (a genuine Response failing a rule: a level too low, expired,
/// someone not accredited); anything unsigned can come from anyone and is
/// only counted.
#[derive(Debug)]
pub struct Rejected {
    pub refusal: validate::Refusal,
    pub signed: bool,
}

/// Parses `raw`, checks that its signatures use allowed algorithms and point
/// only inside it, and returns what they cover (xmlsec).
fn verified_parts(raw: &str, certs: &[CertificateDer]) -> Result<String, validate::Refusal> {
    let doc = validate::parse(raw)?;
    validate::algorithms_allowed(&doc)?;
    validate::signatures_are_local(&doc)?;
    signed_part(raw, certs)
}

/// Whether `raw` carries signatures of the IdP that verify (for the error
/// Responses of an IdP, which carry no Assertion). Blocking.
pub fn signature_verifies(raw: &str, certs: &[CertificateDer]) -> bool {
    verified_parts(raw, certs).is_ok()
}

/// The whole verification of a Response that passed [`guard::untrusted_xml`]:
/// algorithms allow-listed, signatures local and verified, then every SPID
/// rule on the signed part and on the document as received
/// ([`validate::check`]). Blocking (xmlsec): call off the async threads.
pub fn verify_response(raw: &str, certs: &[CertificateDer], c: &ResponseCheck) -> Result<validate::Verified, Rejected> {
    let signed_xml = verified_parts(raw, certs).map_err(|refusal| Rejected { refusal, signed: false })?;
    let rejected = |refusal| Rejected { refusal, signed: true };
    let doc = validate::parse(raw).map_err(rejected)?;
    let signed = validate::parse(&signed_xml).map_err(rejected)?;
    validate::check(&doc, &signed, &c.expect()).map_err(rejected)
}

/// Drops AuthnRequests that were never answered (called on start-up and by
/// `gepi saml purge`); the ACS refuses them anyway once expired.
pub async fn purge_expired(
    db: &sea_orm::DatabaseConnection,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, crate::error::AppError> {
    let r = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::saml_request::Entity::delete_many().filter(entity::saml_request::Column::ExpiresAt.lte(now))
    }
    .exec(db)
    .await?;
    Ok(r.rows_affected)
}
