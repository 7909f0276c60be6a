//! What an independent review of the SPID service provider broke, each kept
//! as a test: one message that two XML parsers read as two documents (UTF-7),
//! other encodings, deep nesting, a logout request from long ago or played
//! twice, an unsigned post burning someone's pending login, a configuration
//! that does not match the certificate, anonymous floods, bodies over the
//! limit.

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{header, Method, Request as HttpRequest, StatusCode},
};
use entity::enums::AuditAction;
use gepi::{
    config::SamlProfile,
    spid::{self, xml, Keys, Sp},
};
use samael::crypto::CertificateDer;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::fake_idp::{
    self, element, fake_signature, keys, logout_request, utf7_polyglot, Request, Spec, IDP_ENTITY_ID,
};
use super::{post_acs, saml_config, service_provider, session_token, sp_keys, start_login, world, ACS, SP_ENTITY_ID};
use crate::helpers::TestApp;

/// Someone with a genuine SPID identity who is not an operator: the attacker.
const STRANGER: &str = "RSSMRA80A01F205X";

fn assertion_id(xml: &str) -> String {
    let (_, _, a) = element(xml, "saml:Assertion");
    a.split(" ID=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
}

/// An unsigned Response to `req` naming `victim`, whose Assertion carries a
/// signature element that verifies nothing: it passes every structural check.
fn forged_response(req: &Request, victim: &str, assertion_id_override: Option<&str>) -> String {
    let mut spec = Spec::valid(req, victim, 2);
    spec.sign_response = false;
    spec.sign_assertion = false;
    if let Some(id) = assertion_id_override {
        spec.set("A_ID", format!(r#"ID="{id}""#));
    }
    let xml = spec.render();
    let aid = assertion_id(&xml);
    let (s, e, a) = element(&xml, "saml:Assertion");
    let at = a.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    let forged = format!("{}{}{}", &a[..at], fake_signature(&aid), &a[at..]);
    format!("{}{}{}", &xml[..s], forged, &xml[e..])
}

async fn metric(app: &TestApp, line_prefix: &str) -> u64 {
    let (_, _, text) = app.request_text(HttpRequest::builder().uri("/metrics").body(Body::empty()).unwrap()).await;
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_utf7_message_that_is_a_genuine_response_to_xmlsec_and_a_forgery_to_roxmltree_logs_nobody_in() {
    let w = world().await;
    for sign_response in [false, true] {
        let (req, relay, _) = start_login(&w.app, "/").await;
        // The attacker's own genuine Response, signed by the IdP...
        let mut genuine = Spec::valid(&req, STRANGER, 2);
        genuine.sign_response = sign_response;
        // ...and, for the other parser, an unsigned one naming the victim.
        let message = utf7_polyglot(&genuine.build(), &forged_response(&req, &w.other_cf, None));
        let sessions = w.app.count("session").await;
        let refused_before = metric(&w.app, r#"gepi_saml_refused_total{endpoint="acs",outcome="xml_encoding"}"#).await;
        let (status, headers, body) = post_acs(&w.app, &message, Some(&relay)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "sign_response={sign_response}: {body}");
        assert!(headers.get(header::SET_COOKIE).is_none(), "no cookie");
        assert_eq!(w.app.count("session").await, sessions, "no session row");
        let refused = metric(&w.app, r#"gepi_saml_refused_total{endpoint="acs",outcome="xml_encoding"}"#).await;
        assert_eq!(refused, refused_before + 1, "refused as an encoding other than UTF-8");
    }
    // The server is still there.
    let r = w.app.request(HttpRequest::builder().uri("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// Past the encoding gate (called directly, as if a parser differential were
/// found that the gate does not know): the identity is read from what xmlsec
/// verified, and a disagreement with the document as received refuses it.
#[tokio::test]
async fn the_identity_is_read_from_what_was_signed_and_must_match_the_document_as_received() {
    let now = chrono::Utc::now();
    let req = Request { id: xml::new_id(), issue_instant: now, acs_url: ACS.into(), sp_entity_id: SP_ENTITY_ID.into() };
    let check = spid::ResponseCheck {
        acs_url: ACS.into(),
        sp_entity_id: SP_ENTITY_ID.into(),
        idp_entity_id: IDP_ENTITY_ID.into(),
        request_id: req.id.clone(),
        request_issue_instant: now,
        now,
    };
    let certs = vec![CertificateDer::from(keys().idp.cert.to_der().unwrap())];
    let victim = "BNCLRA85M41F205Y";
    for sign_response in [false, true] {
        let mut spec = Spec::valid(&req, STRANGER, 2);
        spec.sign_response = sign_response;
        let genuine = spec.build();
        let v = spid::verify_response(&genuine, &certs, &check).expect("the genuine Response verifies");
        assert_eq!(v.fiscal_number, format!("TINIT-{STRANGER}"));
        // A forged Assertion of its own id: the signed Assertion is another one.
        let polyglot = utf7_polyglot(&genuine, &forged_response(&req, victim, None));
        let err = spid::verify_response(&polyglot, &certs, &check).unwrap_err();
        assert_eq!(err.refusal.code, "signature_mismatch", "sign_response={sign_response}: {err:?}");
        // The same id as the signed one: the two readings disagree on the person.
        let same_id = forged_response(&req, victim, Some(&assertion_id(&genuine)));
        let err = spid::verify_response(&utf7_polyglot(&genuine, &same_id), &certs, &check).unwrap_err();
        assert_eq!(err.refusal.code, "parser_differential", "sign_response={sign_response}: {err:?}");
    }
}

#[tokio::test]
async fn a_utf7_logout_request_cannot_end_someone_elses_session() {
    let w = world().await;
    let (victim_token, victim_name_id) = super::logged_in(&w).await;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let logout = |id: &str, name_id: &str, signature: &str| logout_request(id, name_id, &now, signature);
    // A genuine, IdP-signed LogoutRequest for somebody else...
    let idp_keys = Keys::from_pem(&keys().idp.key_pem(), &keys().idp.cert_pem()).unwrap();
    let genuine = idp_keys
        .sign_xml(&logout("_lrG", "_somebody_else", &xml::signature_template("_lrG", &keys().idp.cert_b64())))
        .unwrap();
    // ...and, for the other parser, an unsigned one naming the victim.
    let forged = logout("_lrF", &victim_name_id, &fake_signature("_lrF"));
    let message = utf7_polyglot(&genuine, &forged);
    let (status, _, _) = w.app.request_text(post_slo(&message)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        metric(&w.app, r#"gepi_saml_refused_total{endpoint="slo",outcome="xml_encoding"}"#).await,
        1,
        "refused by the gate"
    );
    let r = w.app.gql(Some(&victim_token), "{ me { operator { id } } }", json!({})).await;
    assert!(r["errors"].is_null(), "the victim is still logged in: {r}");
}

fn post_slo(body: &str) -> HttpRequest<Body> {
    post_slo_bytes(body.as_bytes())
}

fn post_slo_bytes(body: &[u8]) -> HttpRequest<Body> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("SAMLRequest", &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, body));
    HttpRequest::builder()
        .method(Method::POST)
        .uri("/saml/slo")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.finish()))
        .unwrap()
}

fn post_acs_bytes(body: &[u8], relay: &str) -> HttpRequest<Body> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("SAMLResponse", &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, body));
    form.append_pair("RelayState", relay);
    HttpRequest::builder()
        .method(Method::POST)
        .uri("/saml/acs")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("{}={relay}", super::BROWSER_COOKIE))
        .body(Body::from(form.finish()))
        .unwrap()
}

/// An ACS post over the body limit without a Content-Length (streamed) is a
/// 413 and counted, like one that announces its length.
#[tokio::test]
async fn a_streamed_acs_post_over_the_body_limit_is_413() {
    let app = TestApp::with_config(|c| c.body_limit_bytes = 1024).await.with_spid(service_provider());
    let chunks =
        futures::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'a'; 512]))));
    let req = HttpRequest::builder()
        .method(Method::POST)
        .uri("/saml/acs")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from_stream(chunks))
        .unwrap();
    let (status, _, _) = app.request_text(req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(metric(&app, "gepi_http_body_too_large_total").await, 1);
}

/// Login CSRF: the attacker's own genuine Response, posted from the victim's
/// browser (which never started that login), must not log the victim in as
/// the attacker.
#[tokio::test]
async fn a_response_posted_from_another_browser_than_the_one_that_started_the_login_is_refused() {
    let w = world().await;
    let (req, relay, _) = start_login(&w.app, "/").await;
    let genuine = Spec::valid(&req, &w.cf, 2).build();
    let form = |relay: &str| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("SAMLResponse", &fake_idp::encode(&genuine))
            .append_pair("RelayState", relay)
            .finish()
    };
    let post = |cookie: Option<String>| {
        let mut b = HttpRequest::builder()
            .method(Method::POST)
            .uri("/saml/acs")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        b.body(Body::from(form(&relay))).unwrap()
    };
    let (_, victims_own, _) = start_login(&w.app, "/").await;
    for cookie in [None, Some(format!("{}={victims_own}", super::BROWSER_COOKIE)), Some(format!("gepi_saml={relay}"))] {
        let sessions = w.app.count("session").await;
        let (status, headers, body) = w.app.request_text(post(cookie.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{cookie:?}");
        assert!(headers.get(header::SET_COOKIE).is_none(), "{cookie:?}");
        assert!(body.contains("stesso browser"), "{body}");
        assert_eq!(w.app.count("session").await, sessions);
    }
    // The browser that started it still completes it, and the binding cookie is cleared.
    let (status, headers, _) = w.app.request_text(post(Some(format!("{}={relay}", super::BROWSER_COOKIE)))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cleared =
        headers.get_all(header::SET_COOKIE).iter().any(|v| v.to_str().unwrap().starts_with("__Host-gepi_saml=;"));
    assert!(cleared, "{headers:?}");
}

#[tokio::test]
async fn genuine_responses_in_any_encoding_but_utf8_are_refused() {
    let w = world().await;
    let utf16 = |s: &str, le: bool, bom: bool| {
        let mut out: Vec<u8> = if bom {
            if le {
                vec![0xFF, 0xFE]
            } else {
                vec![0xFE, 0xFF]
            }
        } else {
            vec![]
        };
        out.extend(s.encode_utf16().flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() }));
        out
    };
    let declared = |enc: &str, xml: &str| {
        format!(r#"<?xml version="1.0" encoding="{enc}"?>{}"#, fake_idp::without_declaration(xml)).into_bytes()
    };
    type Encode = Box<dyn Fn(&str) -> Vec<u8>>;
    let variants: Vec<(&str, Encode)> = vec![
        (
            "UTF-16LE with a BOM",
            Box::new(move |x| utf16(&String::from_utf8(declared("UTF-16", x)).unwrap(), true, true)),
        ),
        (
            "UTF-16BE without a BOM",
            Box::new(move |x| utf16(&String::from_utf8(declared("UTF-16", x)).unwrap(), false, false)),
        ),
        ("declared UTF-16, UTF-8 bytes", Box::new(move |x| declared("UTF-16", x))),
        ("ISO-8859-1", Box::new(move |x| declared("ISO-8859-1", x))),
        ("latin1 alias", Box::new(move |x| declared("latin1", x))),
        ("EBCDIC IBM037", Box::new(move |x| declared("IBM037", x))),
        ("EBCDIC-US", Box::new(move |x| declared("EBCDIC-US", x))),
        ("UTF-7", Box::new(move |x| declared("UTF-7", x))),
    ];
    for (what, encode) in variants {
        let (req, relay, _) = start_login(&w.app, "/").await;
        let genuine = Spec::valid(&req, &w.cf, 2).build();
        let sessions = w.app.count("session").await;
        let (status, headers, _) = w.app.request_text(post_acs_bytes(&encode(&genuine), &relay)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
        assert!(headers.get(header::SET_COOKIE).is_none(), "{what}");
        assert_eq!(w.app.count("session").await, sessions, "{what}");
        // Not consumed: the same Response in UTF-8 still logs in.
        let (status, headers, _) = post_acs(&w.app, &genuine, Some(&relay)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{what}: the pending login survives a refused message");
        assert!(session_token(&headers).is_some());
    }
}

#[tokio::test]
async fn deeply_nested_messages_are_refused_on_every_entry_point_and_the_server_stays_up() {
    let w = world().await;
    let nested = |n: usize, closed: bool| {
        let inner = if closed { format!("{}{}", "<a>".repeat(n), "</a>".repeat(n)) } else { "<a>".repeat(n) };
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x" Version="2.0">{inner}</samlp:Response>"#
        )
    };
    // The ACS takes 256 KB of base64: 64,000 open tags is about the most that fits.
    for (n, closed) in [(5_000, true), (64_000, false)] {
        let (_, relay, _) = start_login(&w.app, "/").await;
        let before = metric(&w.app, r#"gepi_saml_refused_total{endpoint="acs",outcome="xml_too_deep"}"#).await;
        let (status, headers, _) = post_acs(&w.app, &nested(n, closed), Some(&relay)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "ACS, {n} levels");
        assert!(headers.get(header::SET_COOKIE).is_none());
        assert_eq!(
            metric(&w.app, r#"gepi_saml_refused_total{endpoint="acs",outcome="xml_too_deep"}"#).await,
            before + 1
        );
    }
    // Over HTTP-POST the same 256 KB bound applies to the logout endpoint.
    for (n, closed) in [(5_000, true), (64_000, false)] {
        let logout = nested(n, closed).replace("samlp:Response", "samlp:LogoutRequest");
        let (status, _, _) = w.app.request_text(post_slo(&logout)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "SLO POST, {n} levels");
    }
    // Over HTTP-Redirect a deep message deflates to a few hundred bytes: 5,000
    // and 80,000 levels reach the depth check; 100,000 levels inflate past the
    // 256 KB bound and are refused before any parse.
    let get = |xml: String| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("SAMLRequest", &xml::deflate_base64(&xml))
            .finish();
        assert!(q.len() < 8_000, "deflated, a deep message is small: {} bytes", q.len());
        HttpRequest::builder().uri(format!("/saml/slo?{q}")).body(Body::empty()).unwrap()
    };
    for (n, closed) in [(5_000, true), (80_000, false), (100_000, true)] {
        let logout = nested(n, closed).replace("samlp:Response", "samlp:LogoutRequest");
        let (status, _, _) = w.app.request_text(get(logout)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "SLO GET, {n} levels");
    }
    let slo_deep = metric(&w.app, r#"gepi_saml_refused_total{endpoint="slo",outcome="xml_too_deep"}"#).await;
    let slo_inflated = metric(&w.app, r#"gepi_saml_refused_total{endpoint="slo",outcome="message_too_large"}"#).await;
    assert_eq!((slo_deep, slo_inflated), (4, 1));
    let r = w.app.request(HttpRequest::builder().uri("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "still up");
}

#[tokio::test]
async fn an_unsigned_post_quoting_a_pending_request_does_not_burn_the_genuine_login() {
    let w = world().await;
    let (req, relay, _) = start_login(&w.app, "/cases").await;
    // Somebody who saw the request id posts an unsigned Response first.
    let (status, _, _) = post_acs(&w.app, &forged_response(&req, &w.other_cf, None), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The IdP's genuine answer still logs the operator in...
    let genuine = Spec::valid(&req, &w.cf, 2).build();
    let (status, headers, _) = post_acs(&w.app, &genuine, Some(&relay)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/cases");
    // ...once: the request is consumed by the login.
    let (status, headers, _) = post_acs(&w.app, &genuine, Some(&relay)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "replayed");
    assert!(headers.get(header::SET_COOKIE).is_none());
}

/// Signs a LogoutRequest as the fake IdP would, over HTTP-POST.
fn signed_logout(id: &str, name_id: &str, issue_instant: &str) -> String {
    let xml = logout_request(id, name_id, issue_instant, &xml::signature_template(id, &keys().idp.cert_b64()));
    Keys::from_pem(&keys().idp.key_pem(), &keys().idp.cert_pem()).unwrap().sign_xml(&xml).unwrap()
}

async fn refused_logouts(app: &TestApp) -> Vec<String> {
    entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Action.eq(AuditAction::LogoutRefused))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.changes.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn logout_requests_from_long_ago_or_played_twice_are_refused_and_audited() {
    let w = world().await;
    let (token, name_id) = super::logged_in(&w).await;
    // Signed by the IdP, but from 2000: refused, audited, the session lives on.
    let (status, _, _) = w.app.request_text(post_slo(&signed_logout("_old", &name_id, "2000-01-01T00:00:00Z"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let r = w.app.gql(Some(&token), "{ me { operator { id } } }", json!({})).await;
    assert!(r["errors"].is_null(), "still logged in: {r}");
    let thirteen_minutes_ago =
        (chrono::Utc::now() - chrono::Duration::minutes(13)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, _, _) = w.app.request_text(post_slo(&signed_logout("_late", &name_id, &thirteen_minutes_ago))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "outside the window (10 min + skew)");
    let audits = refused_logouts(&w.app).await;
    assert_eq!(audits.iter().filter(|c| c.contains("logout_issue_instant")).count(), 2, "{audits:?}");
    // A fresh one is honoured once; the same request again is a replay.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let fresh = signed_logout("_fresh", &name_id, &now);
    let (status, _, _) = w.app.request_text(post_slo(&fresh)).await;
    assert_eq!(status, StatusCode::FOUND);
    let r = w.app.gql(Some(&token), "{ me { operator { id } } }", json!({})).await;
    assert_eq!(crate::helpers::error_code(&r), Some("UNAUTHENTICATED"), "{r}");
    let replays = metric(&w.app, r#"gepi_saml_refused_total{endpoint="slo",outcome="logout_replayed"}"#).await;
    let (status, _, _) = w.app.request_text(post_slo(&fresh)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a replay");
    assert_eq!(
        metric(&w.app, r#"gepi_saml_refused_total{endpoint="slo",outcome="logout_replayed"}"#).await,
        replays + 1
    );
    // Played again and again, an old request is audited once, then counted.
    for _ in 0..3 {
        let (status, _, _) =
            w.app.request_text(post_slo(&signed_logout("_old", &name_id, "2000-01-01T00:00:00Z"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let audits = refused_logouts(&w.app).await;
    assert_eq!(audits.len(), 2, "one row per refused request, not per post: {audits:?}");
}

/// Only a Response carrying a signature of the IdP that verifies is a real
/// attempt: its refusal is audited. Anything unsigned (anyone can post it,
/// for any pending request anyone can create) is counted only.
#[tokio::test]
async fn refusals_are_audited_only_when_the_idp_signature_verified() {
    let w = world().await;
    let failed_logins = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            entity::audit_event::Entity::find()
                .filter(entity::audit_event::Column::Action.eq(AuditAction::LoginFailed))
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.changes.unwrap_or_default())
                .collect::<Vec<_>>()
        }
    };
    // Genuine and signed, but SpidL1: audited.
    let (req, relay, _) = start_login(&w.app, "/").await;
    let mut spec = Spec::valid(&req, &w.cf, 1);
    spec.set("AUTHN_CONTEXT", "<saml:AuthnContext><saml:AuthnContextClassRef>https://www.spid.gov.it/SpidL1</saml:AuthnContextClassRef></saml:AuthnContext>");
    assert_eq!(post_acs(&w.app, &spec.build(), Some(&relay)).await.0, StatusCode::FORBIDDEN);
    let audited = failed_logins(&w.app).await;
    assert_eq!(audited.len(), 1);
    assert!(audited[0].contains("assertion_level"), "{audited:?}");
    // Unsigned, forged, from the wrong browser, unsolicited, signed by someone else: counted only.
    let (req, relay, _) = start_login(&w.app, "/").await;
    let mut foreign = Spec::valid(&req, &w.cf, 2);
    foreign.foreign_assertion_key = true;
    foreign.foreign_response_key = true;
    let mut unsolicited = Spec::valid(&req, &w.cf, 2);
    unsolicited.drop("R_IN_RESPONSE_TO");
    for (what, xml, relay) in [
        ("forged", forged_response(&req, &w.other_cf, None), Some(relay.as_str())),
        ("foreign key", foreign.build(), Some(relay.as_str())),
        ("wrong browser", Spec::valid(&req, &w.cf, 2).build(), None),
        ("unsolicited", unsolicited.build(), Some(relay.as_str())),
    ] {
        assert_eq!(post_acs(&w.app, &xml, relay).await.0, StatusCode::FORBIDDEN, "{what}");
        assert_eq!(failed_logins(&w.app).await.len(), 1, "{what}: not audited");
    }
    // An IdP's error Response: audited when signed, counted when not.
    let (req, relay, _) = start_login(&w.app, "/").await;
    let mut err = Spec::valid(&req, &w.cf, 2);
    super::idp_error(&mut err, 25);
    assert_eq!(post_acs(&w.app, &err.build(), Some(&relay)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(failed_logins(&w.app).await.len(), 1, "unsigned error: not audited");
    err.sign_response = true;
    assert_eq!(post_acs(&w.app, &err.build(), Some(&relay)).await.0, StatusCode::FORBIDDEN);
    let audited = failed_logins(&w.app).await;
    assert_eq!(audited.len(), 2);
    assert!(audited.iter().any(|c| c.contains("idp_refused")), "{audited:?}");
}

#[test]
fn a_configuration_that_does_not_match_the_certificate_does_not_start() {
    let meta = vec![("fake-idp.xml".to_string(), fake_idp::idp_metadata(true))];
    assert!(Sp::new(saml_config(SamlProfile::Production), sp_keys(), &meta).is_ok(), "matching set-up starts");
    type Break = fn(&mut gepi::config::SamlConfig);
    let cases: [(&str, Break); 3] = [
        ("entityID", |c| c.entity_id = "https://altro.example".into()),
        ("organisation name", |c| c.organization_name = "Comune di Monza".into()),
        ("IPA code", |c| c.ipa_code = "c_f704".into()),
    ];
    for (what, change) in cases {
        let mut cfg = saml_config(SamlProfile::Production);
        change(&mut cfg);
        let err = Sp::new(cfg, sp_keys(), &meta).err().unwrap_or_else(|| panic!("{what}: a mismatch must not start"));
        assert!(err.to_string().contains("does not match the configuration"), "{what}: {err}");
    }
    // A certificate without the SPID fields (the IdP's) is refused as well...
    let bare = Keys::from_pem(&keys().other.key_pem(), &keys().other.cert_pem()).unwrap();
    assert!(Sp::new(saml_config(SamlProfile::Production), bare, &meta).is_err());
    // ...except in the conformance profile, where spid-sp-test's set-up runs.
    let bare = Keys::from_pem(&keys().other.key_pem(), &keys().other.cert_pem()).unwrap();
    let test_idp =
        vec![("sst.xml".to_string(), fake_idp::idp_metadata(true).replace(IDP_ENTITY_ID, "https://localhost:8443"))];
    assert!(Sp::new(saml_config(SamlProfile::Conformance), bare, &test_idp).is_ok());
}

#[tokio::test]
async fn anonymous_floods_are_throttled_per_address_and_garbage_writes_no_rows() {
    let app = TestApp::with_config(|c| {
        c.login_rate_per_minute = 60;
        c.login_rate_burst = 3;
    })
    .await
    .with_spid(service_provider());
    let from = |ip: [u8; 4], uri: &str| {
        let mut r = HttpRequest::builder().uri(uri.to_string()).body(Body::empty()).unwrap();
        r.extensions_mut().insert(ConnectInfo(std::net::SocketAddr::from((ip, 40000))));
        r
    };
    let login = format!(
        "/saml/login?idp={}",
        url::form_urlencoded::byte_serialize(IDP_ENTITY_ID.as_bytes()).collect::<String>()
    );
    for _ in 0..3 {
        assert_eq!(app.request(from([192, 0, 2, 1], &login)).await.status, StatusCode::FOUND);
    }
    let r = app.request(from([192, 0, 2, 1], &login)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.body["error"]["code"], "LIMIT");
    let retry: u64 = r.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(r.headers["ratelimit-policy"], "\"login\";q=60;w=60");
    assert_eq!(r.headers["ratelimit"].to_str().unwrap(), format!("\"login\";r=0;t={retry}"));
    assert_eq!(app.count("saml_request").await, 3, "the refused request stored nothing");
    // The same address over IPv6 (a dual-stack listener) is the same client.
    let mut mapped = HttpRequest::builder().uri(login.clone()).body(Body::empty()).unwrap();
    let v6: std::net::IpAddr = "::ffff:192.0.2.1".parse().unwrap();
    mapped.extensions_mut().insert(ConnectInfo(std::net::SocketAddr::new(v6, 40000)));
    assert_eq!(app.request(mapped).await.status, StatusCode::TOO_MANY_REQUESTS);
    // Another address is not affected.
    assert_eq!(app.request(from([192, 0, 2, 2], &login)).await.status, StatusCode::FOUND);
    assert_eq!(metric(&app, r#"gepi_http_rate_limited_total{endpoint="saml_login"}"#).await, 2);

    // Garbage on the ACS is refused and counted, and writes no audit row.
    let audits = app.count("audit_event").await;
    for (i, body) in ["SAMLResponse=bm90IHhtbA%3D%3D", "SAMLResponse=%25%25%25", "nothing=here", "SAMLResponse="]
        .into_iter()
        .enumerate()
    {
        let mut r = HttpRequest::builder()
            .method(Method::POST)
            .uri("/saml/acs")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        r.extensions_mut().insert(ConnectInfo(std::net::SocketAddr::from(([198, 51, 100, i as u8], 40000))));
        let (status, _, _) = app.request_text(r).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    assert_eq!(app.count("audit_event").await, audits, "unreadable posts are counted, not audited");
    assert_eq!(metric(&app, r#"gepi_saml_refused_total{endpoint="acs",outcome="xml_malformed"}"#).await, 1);
    assert_eq!(metric(&app, r#"gepi_saml_refused_total{endpoint="acs",outcome="message_encoding"}"#).await, 1);
    assert_eq!(metric(&app, r#"gepi_saml_refused_total{endpoint="acs",outcome="response_missing"}"#).await, 2);
}

/// An element as a parser reads it: namespace, local name, attributes
/// (local name and value, sorted), its own text (trimmed), and its children.
#[derive(Debug, PartialEq, Eq)]
struct Tree {
    ns: Option<String>,
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Tree>,
}

fn rox_tree(n: roxmltree::Node) -> Tree {
    let mut attrs: Vec<(String, String)> =
        n.attributes().map(|a| (a.name().to_string(), a.value().to_string())).collect();
    attrs.sort();
    let text: String = n.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect();
    Tree {
        ns: n.tag_name().namespace().map(str::to_string),
        name: n.tag_name().name().to_string(),
        attrs,
        text: text.trim().to_string(),
        children: n.children().filter(|c| c.is_element()).map(rox_tree).collect(),
    }
}

fn libxml_tree(n: &libxml::tree::Node) -> Tree {
    let mut attrs: Vec<(String, String)> = n.get_properties().into_iter().collect();
    attrs.sort();
    let text: String = n.get_child_nodes().iter().filter(|c| c.is_text_node()).map(|c| c.get_content()).collect();
    Tree {
        ns: n.get_namespace().map(|ns| ns.get_href()),
        name: n.get_name(),
        attrs,
        text: text.trim().to_string(),
        children: n.get_child_elements().iter().map(libxml_tree).collect(),
    }
}

/// Both readings of one message: roxmltree's (ours) and libxml2's (xmlsec's).
fn both_readings(message: &str) -> (Option<Tree>, Option<Tree>) {
    let rox = roxmltree::Document::parse(message).ok().map(|d| rox_tree(d.root_element()));
    let lib = libxml::parser::Parser::default()
        .parse_string(message)
        .ok()
        .and_then(|d| d.get_root_element().map(|r| libxml_tree(&r)));
    (rox, lib)
}

/// Every document of the SPID table reads the same to both parsers; the UTF-7
/// polyglot is the kind of message that does not (and the guard refuses).
#[test]
fn both_xml_parsers_read_every_document_of_the_spid_table_alike() {
    let req = Request {
        id: xml::new_id(),
        issue_instant: chrono::Utc::now(),
        acs_url: ACS.into(),
        sp_entity_id: SP_ENTITY_ID.into(),
    };
    let (cf, other) = ("RSSMRA80A01F205X", "BNCLRA85M41F205Y");
    let mut compared = 0;
    for c in super::cases() {
        let mut spec = Spec::valid(&req, cf, 2);
        (c.mutate)(&mut spec, &req);
        let mut message = spec.build();
        if let Some(wrap) = c.wrap {
            message = wrap(message, cf, other);
        }
        // `GEPI_FUZZ_CORPUS=fuzz/corpus/acs cargo test …` seeds the fuzz target.
        if let Ok(dir) = std::env::var("GEPI_FUZZ_CORPUS") {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(format!("{dir}/case-{}.xml", c.id), &message).unwrap();
        }
        let (rox, lib) = both_readings(&message);
        assert!(rox.is_some() && lib.is_some(), "case {}: both parse", c.id);
        assert_eq!(rox, lib, "case {}: the two parsers read different documents", c.id);
        assert!(spid::guard::untrusted_xml(message.as_bytes()).is_ok(), "case {}: the guard lets it through", c.id);
        compared += 1;
    }
    assert_eq!(compared, 111);
    let genuine = Spec::valid(&req, cf, 2).build();
    let polyglot = utf7_polyglot(&genuine, &forged_response(&req, other, None));
    let (rox, lib) = both_readings(&polyglot);
    assert!(rox.is_some() && lib.is_some());
    assert_ne!(rox, lib, "the polyglot is two documents");
    assert_eq!(spid::guard::untrusted_xml(polyglot.as_bytes()).unwrap_err().code, "xml_encoding");
}

/// xmlsec dereferences whatever a Reference names, and digests before it
/// checks the signature value: a signature pointing outside the message must
/// be refused before xmlsec sees it, or one unsigned post reads local files,
/// reaches internal hosts (SSRF) or keeps a core busy for good.
#[tokio::test]
async fn signatures_that_point_outside_the_message_never_reach_xmlsec() {
    let w = world().await;
    // Anything that connects here is xmlsec following a URI.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let probe = format!("http://{}/probe", listener.local_addr().unwrap());
    let manifest = |uri: &str| {
        format!(
            r#"<ds:Object><ds:Manifest><ds:Reference URI="{uri}"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:Manifest></ds:Object></ds:Signature>"#
        )
    };
    type Tamper = Box<dyn Fn(&str, &str) -> String>;
    let p = probe.clone();
    let variants: Vec<(&str, Tamper)> = vec![
        (
            "Reference to file:///dev/zero",
            Box::new(|x, aid| x.replacen(&format!(r##"URI="#{aid}""##), r#"URI="file:///dev/zero""#, 1)),
        ),
        (
            "Reference to an internal host",
            Box::new(move |x, aid| x.replacen(&format!(r##"URI="#{aid}""##), &format!(r#"URI="{p}""#), 1)),
        ),
        (
            "XPointer expression",
            Box::new(|x, aid| x.replacen(&format!(r##"URI="#{aid}""##), r##"URI="#xpointer(//*[count(//*)>0])""##, 1)),
        ),
        (
            "Manifest in an Object",
            Box::new(move |x, _| x.replacen("</ds:Signature>", &manifest("file:///dev/zero"), 1)),
        ),
        ("KeyInfo RetrievalMethod", {
            let p = probe.clone();
            Box::new(move |x, _| {
                x.replacen("<ds:KeyInfo>", &format!(r#"<ds:KeyInfo><ds:RetrievalMethod URI="{p}"/>"#), 1)
            })
        }),
    ];
    for (what, tamper) in &variants {
        let (req, relay, _) = start_login(&w.app, "/").await;
        let genuine = Spec::valid(&req, &w.cf, 2).build();
        let message = tamper(&genuine, &assertion_id(&genuine));
        assert_ne!(message, genuine, "{what}: tampered");
        let posted =
            tokio::time::timeout(std::time::Duration::from_secs(20), post_acs(&w.app, &message, Some(&relay))).await;
        let (status, headers, _) = posted.unwrap_or_else(|_| panic!("{what}: the ACS must answer at once"));
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
        assert!(headers.get(header::SET_COOKIE).is_none(), "{what}");
    }
    let refused = metric(&w.app, r#"gepi_saml_refused_total{endpoint="acs",outcome="signature_reference"}"#).await;
    assert_eq!(refused, variants.len() as u64);
    // The same over single logout.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let logout = signed_logout("_lr_ssrf", "_n1", &now);
    for tampered in [
        logout.replacen(r##"URI="#_lr_ssrf""##, &format!(r#"URI="{probe}""#), 1),
        logout.replacen("</ds:Signature>", &manifest(&probe), 1),
    ] {
        let (status, _, _) =
            tokio::time::timeout(std::time::Duration::from_secs(20), w.app.request_text(post_slo(&tampered)))
                .await
                .expect("answered at once");
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    assert!(listener.accept().is_err(), "nothing connected to the probe");
}
