//! The SPID endpoints. Failures of the login answer 403 with a courtesy page
//! (never a redirect to a page answering 200), set no cookie and are counted;
//! those of a Response whose IdP signature verified are also audited with
//! the IdP, the request id, the outcome and a digest of the fiscal code.

use std::sync::Arc;

use axum::{
    extract::{Query, RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::get,
    Form, Router,
};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use chrono::{DateTime, Duration, DurationRound, Utc};
use entity::{
    enums::{ActorKind, AuditAction, AuthMethod},
    saml_request,
};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde::Deserialize;

use crate::spid::{guard, purge_expired, validate, xml, Sp, CLOCK_SKEW_SECS, REQUESTED_LEVEL, REQUEST_LIFETIME_SECS};
use crate::unscoped::Unscoped;
use crate::{
    audit::{self, AuditContext, AuditEntry},
    auth::{
        login::{open_session, request_id, ProfileSelection},
        session::{self, hash_token, SamlIdentity},
        sso_session_cookie,
    },
    error::AppError,
    households::model::CodiceFiscale,
    state::AppState,
};

/// Largest SAML message accepted (base64).
const MAX_MESSAGE_BYTES: usize = 256 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/saml/metadata", get(metadata))
        .route("/metadata", get(metadata))
        .route("/saml/idps", get(idps))
        .route("/saml/login", get(login))
        .route("/saml/acs", axum::routing::post(acs))
        .route("/saml/slo", get(slo_redirect).post(slo_post))
}

fn sp(state: &AppState) -> Arc<Sp> {
    state.spid.clone().expect("SPID routes are mounted only with a service provider")
}

async fn metadata(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/samlmetadata+xml; charset=utf-8")], sp(&state).metadata.clone())
        .into_response()
}

/// Where the SPID button of an IdP leads.
pub fn login_url(entity_id: &str) -> String {
    let q: String = url::form_urlencoded::byte_serialize(entity_id.as_bytes()).collect();
    format!("/saml/login?idp={q}")
}

/// The login section of the landing page: one link per trusted IdP.
pub fn login_links(sp: &Sp) -> String {
    let links: String = sp
        .idps
        .values()
        .map(|i| {
            format!(
                r#"<li><a href="{}">Entra con SPID: {}</a></li>"#,
                xml::esc(&login_url(&i.entity_id)),
                xml::esc(&i.name)
            )
        })
        .collect();
    format!("<h2>Accedi</h2><ul>{links}</ul>")
}

/// `GET /saml/idps`: the trusted IdPs, for the SPID button of web clients:
/// `[{"entityId", "name", "loginUrl"}]`, sorted by name.
async fn idps(State(state): State<AppState>) -> Response {
    let sp = sp(&state);
    let mut list: Vec<serde_json::Value> = sp
        .idps
        .values()
        .map(|i| serde_json::json!({ "entityId": i.entity_id, "name": i.name, "loginUrl": login_url(&i.entity_id) }))
        .collect();
    list.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    axum::Json(list).into_response()
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// entityID of the IdP chosen on the login page.
    pub idp: Option<String>,
    /// Where to go after the login: a path of this service.
    pub next: Option<String>,
    /// `redirect` (default) or `post`.
    pub binding: Option<String>,
}

/// A same-origin path: starts with one `/`, no scheme or authority, no
/// backslashes or control characters.
pub fn safe_next(next: Option<&str>) -> Result<String, AppError> {
    let n = next.unwrap_or("/").trim();
    let ok = n.starts_with('/')
        && !n.starts_with("//")
        && !n.contains('\\')
        && !n.chars().any(|c| c.is_control())
        && n.len() <= 512;
    if ok {
        Ok(n.to_string())
    } else {
        Err(AppError::validation("next", "`next` must be a path of this service, such as /cases"))
    }
}

fn random_handle() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn no_store() -> [(header::HeaderName, &'static str); 1] {
    [(header::CACHE_CONTROL, "no-store")]
}

/// `GET /saml/login`: records the request, then sends the browser to the IdP.
async fn login(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Result<Response, AppError> {
    let sp = sp(&state);
    let idp_id = q.idp.as_deref().ok_or_else(|| AppError::validation("idp", "choose an identity provider (idp)"))?;
    let idp = sp.idps.get(idp_id).ok_or_else(|| AppError::validation("idp", "unknown identity provider"))?;
    let next = safe_next(q.next.as_deref())?;
    let post = match q.binding.as_deref() {
        None | Some("redirect") => idp.sso_redirect.is_none(),
        Some("post") => idp.sso_post.is_some(),
        Some(_) => return Err(AppError::validation("binding", "binding must be `redirect` or `post`")),
    };
    let now = Utc::now().duration_trunc(Duration::milliseconds(1)).unwrap_or_else(|_| Utc::now());
    let id = xml::new_id();
    let relay = random_handle();
    saml_request::ActiveModel {
        id: Set(id.clone()),
        relay_state_hash: Set(hash_token(&relay)),
        idp_entity_id: Set(idp.entity_id.clone()),
        requested_level: Set(REQUESTED_LEVEL.into()),
        issue_instant: Set(now),
        next_path: Set(next),
        expires_at: Set(now + Duration::seconds(REQUEST_LIFETIME_SECS)),
    }
    .insert(&state.db)
    .await?;
    // Requests never answered go away with the next logins (indexed on expires_at).
    purge_expired(&state.db, now).await?;
    let entity_id = &sp.cfg.entity_id;
    if post {
        let dest = idp.sso_post.as_deref().expect("checked above");
        let tmpl = xml::signature_template(&id, &sp.keys.cert_b64);
        let unsigned = xml::authn_request(&id, now, dest, entity_id, REQUESTED_LEVEL, Some(&tmpl));
        let signed = sp.keys.sign_xml(&unsigned).map_err(AppError::internal)?;
        let page = xml::post_form(dest, "SAMLRequest", &STANDARD.encode(signed), &relay);
        Ok((no_store(), [(header::SET_COOKIE, browser_cookie(&sp, &relay))], Html(page)).into_response())
    } else {
        let dest = idp.sso_redirect.as_deref().expect("an IdP has one binding at least");
        let request = xml::authn_request(&id, now, dest, entity_id, REQUESTED_LEVEL, None);
        let location = sp
            .keys
            .sign_redirect(dest, &[("SAMLRequest", &xml::deflate_base64(&request)), ("RelayState", &relay)])
            .map_err(AppError::internal)?;
        Ok((
            StatusCode::FOUND,
            no_store(),
            [(header::LOCATION, location), (header::SET_COOKIE, browser_cookie(&sp, &relay))],
        )
            .into_response())
    }
}

/// The cookie that binds a login to the browser that started it: the
/// RelayState handle, which only this browser and the IdP see. Without it a
/// Response could be posted from someone else's browser (login CSRF: the
/// attacker's own genuine Response, auto-posted by a page the victim visits,
/// would log the victim in as the attacker). Over https it is `__Host-`
/// (no subdomain can set it), `Secure` and `SameSite=None` (the IdP's POST to
/// the ACS is cross-site); the conformance profile serves http on loopback,
/// where a browser would drop a `Secure` cookie.
fn browser_cookie(sp: &Sp, relay: &str) -> String {
    let name = browser_cookie_name(sp);
    if sp.cfg.base_url.starts_with("https://") {
        format!("{name}={relay}; Path=/; HttpOnly; Secure; SameSite=None; Max-Age={REQUEST_LIFETIME_SECS}")
    } else {
        format!("{name}={relay}; Path=/; HttpOnly; Max-Age={REQUEST_LIFETIME_SECS}")
    }
}

fn browser_cookie_name(sp: &Sp) -> &'static str {
    if sp.cfg.base_url.starts_with("https://") {
        "__Host-gepi_saml"
    } else {
        "gepi_saml"
    }
}

fn clear_browser_cookie(sp: &Sp) -> String {
    let secure = if sp.cfg.base_url.starts_with("https://") { "; Secure; SameSite=None" } else { "" };
    format!("{}=; Path=/; HttpOnly{secure}; Max-Age=0", browser_cookie_name(sp))
}

#[derive(Debug, Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    pub saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    pub relay_state: Option<String>,
}

/// Why a login failed: shown on the 403 page, counted, and audited when the
/// Response carried a signature of the IdP that verified (a real attempt: a
/// genuine Response refused by a rule, someone not accredited, a replay).
/// Anything unsigned — garbage, unsolicited or made-up Responses, a post from
/// the wrong browser — can come from anyone, and an anonymous flood must not
/// fill the audit trail.
#[derive(Debug)]
struct Failure {
    code: &'static str,
    /// What the operator reads.
    message: String,
    idp: Option<String>,
    request: Option<String>,
    fiscal_code_digest: Option<String>,
    audited: bool,
}

impl Failure {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure { code, message: message.into(), idp: None, request: None, fiscal_code_digest: None, audited: false }
    }

    fn unreadable(code: &'static str) -> Self {
        Failure::new(code, GENERIC)
    }
}

const GENERIC: &str = "La risposta del gestore dell'identità non è valida: accesso negato.";

/// `POST /saml/acs`.
async fn acs(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<AcsForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let rid = request_id(&headers);
    let browser = crate::auth::cookie_value(&headers, browser_cookie_name(&sp(&state)));
    let result = match form {
        Ok(Form(f)) => acs_inner(&state, f, browser, rid.clone()).await,
        // A body over the limit (sent without Content-Length) is a 413, counted as such.
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => return rejection.into_response(),
        Err(_) => Err(Failure::unreadable("form_invalid")),
    };
    match result {
        Ok((token, next)) => {
            let mut resp = (
                StatusCode::SEE_OTHER,
                no_store(),
                [
                    (header::SET_COOKIE, sso_session_cookie(&token, state.config.session_lifetime_secs)),
                    (header::LOCATION, next),
                ],
            )
                .into_response();
            if let Ok(v) = header::HeaderValue::from_str(&clear_browser_cookie(&sp(&state))) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(f) => {
            tracing::warn!(outcome = f.code, idp = f.idp.as_deref().unwrap_or("-"), "SPID login refused");
            state.metrics.saml_refused.with_label_values(&["acs", f.code]).inc();
            if f.audited {
                let ctx = AuditContext::unattributed(ActorKind::Anonymous, rid);
                let entry = AuditEntry {
                    entity: "saml_login",
                    entity_id: f.request.clone(),
                    action: AuditAction::LoginFailed,
                    ambito_id: None,
                    changes: Some(serde_json::json!({
                        "idp": f.idp, "outcome": f.code, "fiscal_code_hmac": f.fiscal_code_digest,
                    })),
                };
                if let Err(e) = audit::record(&state.db, &ctx, vec![entry]).await {
                    // Not audited, not answered: the failure stays a failure either way.
                    return e.into_response();
                }
            }
            refusal_page(&f.message)
        }
    }
}

fn refusal_page(message: &str) -> Response {
    let page = format!(
        r#"<!DOCTYPE html><html lang="it"><head><meta charset="utf-8"><title>GePI - accesso non riuscito</title></head><body><h1>Accesso non riuscito</h1><p>{}</p><p><a href="/">Torna alla pagina di accesso</a></p></body></html>"#,
        xml::esc(message)
    );
    (StatusCode::FORBIDDEN, no_store(), Html(page)).into_response()
}

/// Decodes a base64 message (whitespace allowed) and passes it through the
/// guard: UTF-8 only, no DTD, bounded depth. Nothing parses it before this.
fn decode_message(b64: &str) -> Result<String, validate::Refusal> {
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = STANDARD.decode(compact).map_err(|_| validate::Refusal {
        code: "message_encoding",
        detail: "the message is not base64".into(),
        spid_error: None,
    })?;
    guard::untrusted_xml(&bytes).map(str::to_string)
}

async fn acs_inner(
    state: &AppState,
    form: AcsForm,
    browser: Option<String>,
    rid: Option<String>,
) -> Result<(String, String), Failure> {
    let sp = sp(state);
    let b64 = form.saml_response.filter(|s| !s.is_empty()).ok_or_else(|| Failure::unreadable("response_missing"))?;
    if b64.len() > MAX_MESSAGE_BYTES {
        return Err(Failure::unreadable("response_too_large"));
    }
    let raw = decode_message(&b64).map_err(|r| Failure::unreadable(r.code))?;
    // Bounded in size and depth by now: this parse is linear and short.
    let doc = validate::parse(&raw).map_err(|r| Failure::unreadable(r.code))?;
    let env = validate::envelope(&doc).map_err(|r| Failure::new(r.code, GENERIC))?;
    drop(doc);
    // The request it answers: looked up here, consumed only once the Response
    // has been verified (an unsigned post quoting someone's pending request id
    // must not burn that person's login).
    let irt = env.in_response_to.clone().filter(|s| !s.is_empty());
    let Some(irt) = irt else { return Err(Failure::new("unsolicited", GENERIC)) };
    let now = Utc::now();
    let unknown = || {
        Failure::new(
            "request_unknown",
            "Questa risposta non corrisponde a un accesso in corso (scaduto o già usato): accedi di nuovo.",
        )
    };
    let unavailable = || Failure::new("store_unavailable", "Servizio momentaneamente non disponibile: riprova.");
    let pending = Unscoped::Login
        .find_by_id::<saml_request::Entity>(irt.as_str())
        .filter(saml_request::Column::ExpiresAt.gt(now))
        .one(&state.db)
        .await
        .map_err(|_| unavailable())?
        .ok_or_else(unknown)?;
    let fail = |code: &'static str, message: String| Failure {
        idp: Some(pending.idp_entity_id.clone()),
        request: Some(pending.id.clone()),
        ..Failure::new(code, message)
    };
    // A refusal of a Response whose IdP signature verified.
    let fail_signed = |code: &'static str, message: String| Failure { audited: true, ..fail(code, message) };
    if let Some(relay) = form.relay_state.as_deref().filter(|r| !r.is_empty()) {
        if hash_token(relay) != pending.relay_state_hash {
            return Err(fail("relay_state", GENERIC.into()));
        }
    }
    // The browser posting the Response is the one that started this login.
    if browser.is_none_or(|b| hash_token(&b) != pending.relay_state_hash) {
        return Err(fail(
            "browser_mismatch",
            "Completa l'accesso dallo stesso browser da cui lo hai iniziato: accedi di nuovo.".into(),
        ));
    }
    let Some(idp) = sp.idps.get(&pending.idp_entity_id) else {
        return Err(fail("idp_unknown", GENERIC.into()));
    };
    if env.status.as_deref() != Some(xml::STATUS_SUCCESS) {
        // Unsigned content picks the courtesy text, and nothing else; the IdP's
        // answer (a user-side failure) is audited when its signature verifies.
        let msg = env.spid_error.map(validate::spid_error_message).unwrap_or(GENERIC);
        let certs = idp.certs.clone();
        let permit =
            sp.verifications.clone().acquire_owned().await.map_err(|_| fail("verifier_crashed", GENERIC.into()))?;
        let signed = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            crate::spid::signature_verifies(&raw, &certs)
        })
        .await
        .unwrap_or(false);
        return Err(if signed { fail_signed("idp_refused", msg.into()) } else { fail("idp_refused", msg.into()) });
    }
    // Signatures (xmlsec) and every SPID rule, on a blocking thread.
    let check = crate::spid::ResponseCheck {
        acs_url: sp.cfg.acs_url(),
        sp_entity_id: sp.cfg.entity_id.clone(),
        idp_entity_id: idp.entity_id.clone(),
        request_id: pending.id.clone(),
        request_issue_instant: pending.issue_instant,
        now,
    };
    let certs = idp.certs.clone();
    // The permit travels with the work: a request cut by the timeout does not
    // free its slot while its verification still runs.
    let permit =
        sp.verifications.clone().acquire_owned().await.map_err(|_| fail("verifier_crashed", GENERIC.into()))?;
    let verified = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        crate::spid::verify_response(&raw, &certs, &check)
    })
    .await;
    let v = match verified {
        Ok(Ok(v)) => v,
        Ok(Err(crate::spid::Rejected { refusal: r, signed })) => {
            tracing::debug!(outcome = r.code, detail = %r.detail, "SPID Response refused");
            let msg = r.spid_error.map(validate::spid_error_message).unwrap_or(GENERIC);
            return Err(if signed { fail_signed(r.code, msg.into()) } else { fail(r.code, msg.into()) });
        }
        Err(_) => return Err(fail("verifier_crashed", GENERIC.into())),
    };
    // Verified: now the request is consumed, in one statement, so that a
    // Response is accepted at most once even when posted twice at once.
    let consumed = saml_request::Entity::delete_many()
        .filter(saml_request::Column::Id.eq(pending.id.as_str()))
        .filter(saml_request::Column::ExpiresAt.gt(now))
        .exec(&state.db)
        .await
        .map_err(|_| unavailable())?;
    if consumed.rows_affected != 1 {
        // Verified, but the request was consumed meanwhile: a replay.
        return Err(Failure {
            idp: Some(pending.idp_entity_id.clone()),
            request: Some(pending.id.clone()),
            audited: true,
            ..unknown()
        });
    }
    let cf_raw = v.fiscal_number.strip_prefix("TINIT-").unwrap_or("");
    // From here on a refusal names the person, by a keyed digest only.
    let digest = sp.keys.fiscal_code_digest(&v.fiscal_number);
    let fail_person = |code: &'static str, message: &str| Failure {
        fiscal_code_digest: Some(digest.clone()),
        ..fail_signed(code, message.into())
    };
    let Ok(cf) = CodiceFiscale::parse(cf_raw) else {
        return Err(fail_person("fiscal_number_invalid", GENERIC));
    };
    let saml = SamlIdentity {
        idp_entity_id: idp.entity_id.clone(),
        name_id: v.name_id.clone(),
        name_id_qualifier: v.name_id_qualifier.clone(),
    };
    let opened = open_session(
        &state.db,
        &state.config,
        &cf,
        ProfileSelection::OnlyOneOrChooseLater,
        AuthMethod::Spid,
        v.level as i16,
        Some(saml),
        rid,
    )
    .await;
    match opened {
        Ok(o) => Ok((o.session.token, pending.next_path.clone())),
        Err(AppError::Unauthenticated(_)) => {
            Err(fail_person("operator_unknown", "Non risulti abilitato a GePI: chiedi l'accreditamento al tuo Ambito."))
        }
        Err(AppError::Forbidden(_)) => Err(fail_person(
            "no_profile",
            "Non hai un profilo attivo in GePI: rivolgiti all'amministratore del tuo Ambito.",
        )),
        Err(e) => {
            tracing::error!(error = ?e, "a SPID session could not be opened");
            Err(fail_signed("session_failed", "Servizio momentaneamente non disponibile: riprova.".into()))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SloForm {
    #[serde(rename = "SAMLRequest")]
    pub saml_request: Option<String>,
    #[serde(rename = "RelayState")]
    pub relay_state: Option<String>,
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, no_store(), Html(format!("<!DOCTYPE html><p>{}</p>", xml::esc(message)))).into_response()
}

/// The raw (still percent-encoded) value of each query parameter, in order.
fn raw_pairs(query: &str) -> Vec<(&str, &str)> {
    query.split('&').filter_map(|kv| kv.split_once('=')).collect()
}

fn percent_decode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned())
}

/// Verifies an HTTP-Redirect signature over the parameters exactly as they
/// were encoded (SAML bindings 3.4.4.1), with an allow-listed algorithm.
fn verify_redirect(query: &str, certs: &[samael::crypto::CertificateDer]) -> bool {
    let pairs = raw_pairs(query);
    let get = |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let (Some(msg), Some(sig_alg), Some(sig)) = (get("SAMLRequest"), get("SigAlg"), get("Signature")) else {
        return false;
    };
    let digest = match percent_decode(sig_alg).as_deref() {
        Some("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256") => openssl::hash::MessageDigest::sha256(),
        Some("http://www.w3.org/2001/04/xmldsig-more#rsa-sha384") => openssl::hash::MessageDigest::sha384(),
        Some("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512") => openssl::hash::MessageDigest::sha512(),
        _ => return false,
    };
    let mut signed = format!("SAMLRequest={msg}");
    if let Some(r) = get("RelayState") {
        signed.push_str(&format!("&RelayState={r}"));
    }
    signed.push_str(&format!("&SigAlg={sig_alg}"));
    let Some(signature) = percent_decode(sig).and_then(|s| STANDARD.decode(s).ok()) else { return false };
    certs.iter().any(|c| {
        let Ok(cert) = openssl::x509::X509::from_der(c.der_data()) else { return false };
        let Ok(key) = cert.public_key() else { return false };
        let Ok(mut v) = openssl::sign::Verifier::new(digest, &key) else { return false };
        v.update(signed.as_bytes()).is_ok() && v.verify(&signature).unwrap_or(false)
    })
}

/// A LogoutRequest from an IdP, as needed to answer it.
#[derive(Debug, PartialEq, Eq)]
struct LogoutRequest {
    id: String,
    issuer: String,
    name_id: String,
    issue_instant: DateTime<Utc>,
}

/// How far in the past a LogoutRequest's IssueInstant may be (plus the clock
/// skew); its id is remembered for as long, so a captured request cannot be
/// played again later.
pub const LOGOUT_WINDOW_SECS: i64 = REQUEST_LIFETIME_SECS;

/// Why a LogoutRequest was refused: a stable code (audited) and a message.
type SloRefusal = (&'static str, &'static str);

/// Reads the fields of a LogoutRequest element and checks its version and
/// Destination (required: SAML bindings 3.4.5.2 and 3.5.5.2 for signed
/// messages). The IssueInstant is read here and judged after the signature.
fn read_logout_request(r: roxmltree::Node, slo_url: &str) -> Result<LogoutRequest, SloRefusal> {
    if r.tag_name().name() != "LogoutRequest" || r.tag_name().namespace() != Some(xml::NS_PROTOCOL) {
        return Err(("not_a_logout_request", "not a LogoutRequest"));
    }
    // An ID as SAML IDs are (xs:ID) and as long as the audit trail keeps.
    let id = r
        .attribute("ID")
        .filter(|s| (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)))
        .ok_or(("logout_id", "LogoutRequest ID is missing, longer than 64 characters or not an xs:ID"))?;
    if r.attribute("Version") != Some("2.0") {
        return Err(("logout_version", "LogoutRequest Version must be 2.0"));
    }
    if r.attribute("Destination") != Some(slo_url) {
        return Err(("logout_destination", "LogoutRequest Destination is missing or not this service"));
    }
    let issued = r
        .attribute("IssueInstant")
        .filter(|v| v.ends_with('Z'))
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or(("logout_issue_instant", "LogoutRequest IssueInstant is missing or not a UTC instant"))?;
    let child = |name: &str| {
        r.children()
            .find(|c| {
                c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == Some(xml::NS_ASSERTION)
            })
            // Every text node (a comment may split a signed value).
            .map(|c| {
                c.children().filter(|t| t.is_text()).filter_map(|t| t.text()).collect::<String>().trim().to_string()
            })
            .filter(|t| !t.is_empty())
    };
    Ok(LogoutRequest {
        id: id.to_string(),
        issuer: child("Issuer").ok_or(("logout_issuer", "LogoutRequest without Issuer"))?,
        name_id: child("NameID").ok_or(("logout_name_id", "LogoutRequest without NameID"))?,
        issue_instant: issued,
    })
}

/// The IssueInstant is inside the window: not in the future (beyond the
/// skew), not older than [`LOGOUT_WINDOW_SECS`].
fn in_window(req: &LogoutRequest, now: DateTime<Utc>) -> Result<(), SloRefusal> {
    let skew = Duration::seconds(CLOCK_SKEW_SECS);
    if req.issue_instant > now + skew || req.issue_instant < now - Duration::seconds(LOGOUT_WINDOW_SECS) - skew {
        return Err(("logout_issue_instant", "LogoutRequest IssueInstant is outside the accepted window"));
    }
    Ok(())
}

/// Reads a LogoutRequest that passed the guard. `enveloped`: it came over
/// HTTP-POST, so it must carry exactly one XML signature, a direct child of
/// the root referencing the root's ID (a signature over some other element,
/// e.g. a copied Assertion, does not make the request authentic), pointing
/// nowhere outside the message.
fn parse_logout_request(xml_text: &str, slo_url: &str, enveloped: bool) -> Result<LogoutRequest, SloRefusal> {
    let doc = validate::parse(xml_text).map_err(|_| ("xml_malformed", "not well-formed XML"))?;
    let r = doc.root_element();
    let req = read_logout_request(r, slo_url)?;
    if enveloped {
        validate::algorithms_allowed(&doc).map_err(|_| {
            ("signature_algorithm", "the LogoutRequest signature uses an algorithm that is not allowed")
        })?;
        validate::signatures_are_local(&doc).map_err(|_| {
            ("signature_reference", "the LogoutRequest signature may only reference the request itself")
        })?;
        let is_sig = |n: &roxmltree::Node| {
            n.is_element() && n.tag_name().name() == "Signature" && n.tag_name().namespace() == Some(xml::NS_DSIG)
        };
        let all: Vec<_> = doc.descendants().filter(is_sig).collect();
        let own = all.len() == 1 && all[0].parent() == Some(r);
        if !own {
            return Err(("logout_unsigned", "the LogoutRequest must carry one signature of its own"));
        }
    }
    Ok(req)
}

/// A refused LogoutRequest: counted, and audited when its signature was
/// verified (`idp`: who signed it); unverified messages come from anyone and
/// are only counted. Answered 400.
async fn refuse_logout(state: &AppState, verified: Option<(&str, &str)>, (code, message): SloRefusal) -> Response {
    state.metrics.saml_refused.with_label_values(&["slo", code]).inc();
    tracing::warn!(outcome = code, idp = verified.map(|v| v.0).unwrap_or("-"), "SPID logout refused");
    if let Some((idp, request)) = verified {
        let ctx = AuditContext::unattributed(ActorKind::System, None);
        if let Err(e) = audit::record(&state.db, &ctx, vec![logout_refusal_entry(idp, request, code)]).await {
            return e.into_response();
        }
    }
    bad_request(message)
}

fn slo_message(b64_or_deflated: Option<String>, deflated: bool) -> Result<String, SloRefusal> {
    let m = b64_or_deflated.ok_or(("message_missing", "SAMLRequest missing"))?;
    if m.len() > MAX_MESSAGE_BYTES {
        return Err(("message_too_large", "SAMLRequest is too large"));
    }
    let bytes = if deflated {
        xml::inflate_base64_bytes(&m).map_err(|e| match e {
            xml::Inflate::TooLarge => ("message_too_large", "SAMLRequest inflates past 256 KB"),
            xml::Inflate::Invalid => ("message_encoding", "SAMLRequest is not a DEFLATE message"),
        })?
    } else {
        // Whitespace allowed, as on the ACS (IdPs wrap base64 lines).
        let compact: String = m.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        STANDARD.decode(compact).map_err(|_| ("message_encoding", "SAMLRequest is not base64"))?
    };
    guard::untrusted_xml(&bytes).map(str::to_string).map_err(|r| match r.code {
        "xml_too_deep" => ("xml_too_deep", "the message is nested too deeply"),
        "xml_dtd" => ("xml_dtd", "document type declarations are not accepted"),
        _ => ("xml_encoding", "the message must be UTF-8"),
    })
}

/// `GET /saml/slo`: a LogoutRequest over HTTP-Redirect. The signature covers
/// the exact bytes of the deflated message, so what is read is what was signed.
async fn slo_redirect(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let sp = sp(&state);
    let query = query.unwrap_or_default();
    let pairs = raw_pairs(&query);
    let msg = pairs.iter().find(|(k, _)| *k == "SAMLRequest").and_then(|(_, v)| percent_decode(v));
    let relay = pairs.iter().find(|(k, _)| *k == "RelayState").and_then(|(_, v)| percent_decode(v));
    let text = match slo_message(msg, true) {
        Ok(t) => t,
        Err(r) => return refuse_logout(&state, None, r).await,
    };
    let req = match parse_logout_request(&text, &sp.cfg.slo_url(), false) {
        Ok(r) => r,
        Err(r) => return refuse_logout(&state, None, r).await,
    };
    let Some(idp) = sp.idps.get(&req.issuer) else {
        return refuse_logout(&state, None, ("idp_unknown", "unknown IdP")).await;
    };
    if !verify_redirect(&query, &idp.certs) {
        return refuse_logout(&state, None, ("signature_invalid", "the LogoutRequest signature is missing or invalid"))
            .await;
    }
    answer_logout(&state, &sp, idp, req, relay).await
}

/// `POST /saml/slo`: a LogoutRequest over HTTP-POST (XML signature). What is
/// acted on is read from the signed part (xmlsec's view), and must equal what
/// the document as received says.
async fn slo_post(
    State(state): State<AppState>,
    form: Result<Form<SloForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let sp = sp(&state);
    let Ok(Form(f)) = form else { return refuse_logout(&state, None, ("form_invalid", "form expected")).await };
    let text = match slo_message(f.saml_request, false) {
        Ok(t) => t,
        Err(r) => return refuse_logout(&state, None, r).await,
    };
    let slo_url = sp.cfg.slo_url();
    let req = match parse_logout_request(&text, &slo_url, true) {
        Ok(r) => r,
        Err(r) => return refuse_logout(&state, None, r).await,
    };
    let Some(idp) = sp.idps.get(&req.issuer) else {
        return refuse_logout(&state, None, ("idp_unknown", "unknown IdP")).await;
    };
    let certs = idp.certs.clone();
    let Ok(permit) = sp.verifications.clone().acquire_owned().await else {
        return refuse_logout(&state, None, ("verifier_crashed", "the LogoutRequest could not be verified")).await;
    };
    let signed = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let signed_xml = crate::spid::signed_part(&text, &certs)
            .map_err(|_| ("signature_invalid", "the LogoutRequest signature is missing or invalid"))?;
        let doc =
            validate::parse(&signed_xml).map_err(|_| ("signature_scope", "the signed part is not a LogoutRequest"))?;
        read_logout_request(doc.root_element(), &slo_url).map(Some).or(Ok(None))
    })
    .await
    .unwrap_or(Err(("verifier_crashed", "the LogoutRequest could not be verified")));
    let signed = match signed {
        Ok(Some(s)) if s == req => s,
        // Signed by the IdP, but not the request we read: audited.
        Ok(_) => {
            let r = ("parser_differential", "the signed LogoutRequest and the LogoutRequest as received differ");
            return refuse_logout(&state, Some((&idp.entity_id, &req.id)), r).await;
        }
        Err(r) => return refuse_logout(&state, None, r).await,
    };
    answer_logout(&state, &sp, idp, signed, f.relay_state).await
}

/// Remembers a LogoutRequest id (fresh: until its IssueInstant leaves the
/// window; stale: for a window from now, so that its refusal is audited
/// once); false when it was already there. Expired ids are purged first.
async fn first_time<C: sea_orm::ConnectionTrait>(
    db: &C,
    idp: &str,
    req: &LogoutRequest,
    now: DateTime<Utc>,
    fresh: bool,
) -> Result<bool, sea_orm::DbErr> {
    use entity::saml_logout_request as seen;
    seen::Entity::delete_many().filter(seen::Column::ExpiresAt.lte(now)).exec(db).await?;
    let from = if fresh { req.issue_instant } else { now };
    let expires_at = from + Duration::seconds(LOGOUT_WINDOW_SECS + 2 * CLOCK_SKEW_SECS);
    let row =
        seen::ActiveModel { idp_entity_id: Set(idp.to_string()), id: Set(req.id.clone()), expires_at: Set(expires_at) };
    let inserted = seen::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([seen::Column::IdpEntityId, seen::Column::Id])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted == 1)
}

/// The audit entry of a refused LogoutRequest whose signature verified.
fn logout_refusal_entry(idp: &str, request: &str, code: &str) -> AuditEntry {
    let mut e = AuditEntry::new("saml_logout", request, AuditAction::LogoutRefused);
    e.changes = Some(serde_json::json!({ "idp": idp, "outcome": code }));
    e
}

/// Ends the sessions of that SPID identity and answers a signed LogoutResponse.
/// The request's signature has been verified. The replay cache, the
/// revocation and the audit entry commit together: a failure leaves none of
/// them, and the IdP's retry is not taken for a replay. A request outside the
/// window is refused and audited the first time it is seen; a replay is only
/// counted (the logout it repeats was audited).
async fn answer_logout(
    state: &AppState,
    sp: &Sp,
    idp: &crate::spid::Idp,
    req: LogoutRequest,
    relay: Option<String>,
) -> Response {
    let now = Utc::now();
    let window = in_window(&req, now);
    let ctx = AuditContext::unattributed(ActorKind::System, None);
    let outcome: Result<Result<u64, SloRefusal>, AppError> = async {
        let txn = state.db.begin().await?;
        let first = first_time(&txn, &idp.entity_id, &req, now, window.is_ok()).await?;
        let result = match (window, first) {
            (Err(r), true) => {
                audit::record(&txn, &ctx, vec![logout_refusal_entry(&idp.entity_id, &req.id, r.0)]).await?;
                Err(r)
            }
            (Err(r), false) => Err(r),
            (Ok(()), false) => Err(("logout_replayed", "this LogoutRequest was already received")),
            (Ok(()), true) => {
                let n = session::revoke_saml(&txn, &idp.entity_id, &req.name_id, now).await?;
                let mut e = AuditEntry::new("saml_logout", &req.id, AuditAction::Logout);
                e.changes = Some(serde_json::json!({ "idp": idp.entity_id, "sessions_revoked": n }));
                audit::record(&txn, &ctx, vec![e]).await?;
                Ok(n)
            }
        };
        txn.commit().await?;
        if result.is_ok() {
            state.principals.epoch().advance();
        }
        Ok(result)
    }
    .await;
    let partial = match outcome {
        Ok(Ok(_)) => false,
        Ok(Err(r)) => return refuse_logout(state, None, r).await,
        Err(e) => {
            // Nothing was recorded: answer PartialLogout, the IdP may retry.
            tracing::error!(error = ?e, "a SPID logout could not be recorded");
            true
        }
    };
    let redirect = idp.slo.iter().find(|(b, _)| b == xml::BINDING_REDIRECT).map(|(_, l)| l.clone());
    let post = idp.slo.iter().find(|(b, _)| b == xml::BINDING_POST).map(|(_, l)| l.clone());
    let id = xml::new_id();
    let now = Utc::now();
    let relay = relay.unwrap_or_default();
    if let Some(dest) = redirect {
        let resp = xml::logout_response(&id, now, &req.id, &dest, &sp.cfg.entity_id, partial, None);
        let mut pairs = vec![("SAMLResponse", xml::deflate_base64(&resp))];
        if !relay.is_empty() {
            pairs.push(("RelayState", relay));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        match sp.keys.sign_redirect(&dest, &pairs) {
            Ok(location) => (StatusCode::FOUND, no_store(), [(header::LOCATION, location)]).into_response(),
            Err(e) => AppError::internal(e).into_response(),
        }
    } else if let Some(dest) = post {
        let tmpl = xml::signature_template(&id, &sp.keys.cert_b64);
        let unsigned = xml::logout_response(&id, now, &req.id, &dest, &sp.cfg.entity_id, partial, Some(&tmpl));
        match sp.keys.sign_xml(&unsigned) {
            Ok(signed) => (no_store(), Html(xml::post_form(&dest, "SAMLResponse", &STANDARD.encode(signed), &relay)))
                .into_response(),
            Err(e) => AppError::internal(e).into_response(),
        }
    } else {
        (StatusCode::OK, no_store(), Html("<!DOCTYPE html><p>Sessione chiusa.</p>".to_string())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_a_path_of_this_service() {
        assert_eq!(safe_next(None).unwrap(), "/");
        assert_eq!(safe_next(Some("/cases?tab=mine")).unwrap(), "/cases?tab=mine");
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "cases", "/a\nb", ""] {
            assert!(safe_next(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
