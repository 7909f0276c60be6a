//! The ACS parse-and-validate path on arbitrary bytes: the guard, the
//! envelope read, the whole verification (xmlsec included) against a fixed
//! IdP certificate, and the strict validator run directly on the document
//! (as if it were its own signed part, so that its checks are reached without
//! a valid signature). Nothing may panic, abort or hang.
#![no_main]

use std::sync::OnceLock;

use gepi::spid::{self, guard, validate, ResponseCheck};
use libfuzzer_sys::fuzz_target;
use samael::crypto::CertificateDer;

struct Fixture {
    certs: Vec<CertificateDer>,
    check: ResponseCheck,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509::X509};
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut b = X509::builder().unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
        b.set_not_after(&Asn1Time::days_from_now(1).unwrap()).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let now = chrono::Utc::now();
        Fixture {
            certs: vec![CertificateDer::from(b.build().to_der().unwrap())],
            check: ResponseCheck {
                acs_url: "https://gepi.test/saml/acs".into(),
                sp_entity_id: "https://gepi.test".into(),
                idp_entity_id: "https://idp.spid.test".into(),
                request_id: "_r1".into(),
                request_issue_instant: now,
                now,
            },
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Ok(text) = guard::untrusted_xml(data) else { return };
    let Ok(doc) = validate::parse(text) else { return };
    let _ = validate::envelope(&doc);
    let _ = validate::algorithms_allowed(&doc);
    let c = &f.check;
    let _ = validate::check(&doc, &doc, &c.expect());
    let _ = spid::verify_response(text, &f.certs, c);
    let _ = spid::signature_verifies(text, &f.certs);
});
