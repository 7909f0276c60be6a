//! The gate every SAML message from outside passes before any XML parser sees
//! it (ACS, and single logout over both bindings, after inflating).
//!
//! Two parsers read each message: libxml2 (inside xmlsec, through samael) to
//! verify the signatures, and roxmltree for our own checks. They must read the
//! same characters, and neither may be made to exhaust its stack:
//!
//! - **One encoding.** libxml2 honours the XML declaration (`encoding="UTF-7"`,
//!   `UTF-16`, `ISO-8859-1`, EBCDIC code pages, and their many aliases) and
//!   sniffs UTF-16/UCS-4 from the first bytes; roxmltree reads UTF-8 whatever
//!   the declaration says. A message that decodes differently under the two
//!   can be one document for the signature check and another for the reader
//!   (a real attack: a genuine signed Response for one person that reads, to
//!   roxmltree, as an unsigned Assertion naming another). So the bytes must be
//!   UTF-8 without NUL, the only byte-order mark allowed is UTF-8's, and a
//!   declaration may name no encoding but UTF-8 (an allow-list: a deny-list
//!   misses aliases).
//! - **No DTD.** libxml2 would expand internal entities; roxmltree refuses
//!   them. Neither is needed by SAML.
//! - **Bounded nesting.** roxmltree 0.20 recurses once per level (about 5,000
//!   levels abort the process: roxmltree issue #154), and so does quick-xml's
//!   deserialiser in samael. SAML needs fewer than 16 levels; [`MAX_DEPTH`]
//!   is checked by a linear scan that never recurses.
//!
//! With the size already bounded by the endpoints, every parse that follows
//! costs time and memory linear in a few hundred kilobytes.

use super::validate::Refusal;

/// The deepest element nesting accepted. A SPID Response is 7 levels deep at
/// most (Response/Assertion/AttributeStatement/Attribute/AttributeValue, or
/// Signature/SignedInfo/Reference/Transforms/Transform); 32 leaves room for
/// IdP extensions and none for an attack on a recursive parser.
pub const MAX_DEPTH: usize = 32;

fn refuse<T>(code: &'static str, detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal { code, detail: detail.into(), spid_error: None })
}

/// Checks raw message bytes and returns them as text: UTF-8 throughout, the
/// declaration (if any) naming UTF-8, no DTD, at most [`MAX_DEPTH`] levels.
pub fn untrusted_xml(bytes: &[u8]) -> Result<&str, Refusal> {
    let text = std::str::from_utf8(bytes).or_else(|_| refuse("xml_encoding", "the message is not UTF-8"))?;
    if text.contains('\0') {
        return refuse("xml_encoding", "the message contains NUL characters (UTF-16 or UCS-4?)");
    }
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    if body.starts_with('\u{feff}') {
        return refuse("xml_encoding", "more than one byte-order mark");
    }
    declared_encoding_is_utf8(body)?;
    depth_and_dtd(body)?;
    Ok(text)
}

/// The XML declaration, when there is one, is the first thing in the document
/// and names no encoding other than UTF-8; no other `<?xml` appears anywhere.
fn declared_encoding_is_utf8(body: &str) -> Result<(), Refusal> {
    let is_decl_at = |s: &str| {
        s.len() >= 6 && s.as_bytes()[..5].eq_ignore_ascii_case(b"<?xml") && s.as_bytes()[5].is_ascii_whitespace()
    };
    if is_decl_at(body) {
        let end = body.find("?>").ok_or_else(|| Refusal {
            code: "xml_encoding",
            detail: "unterminated XML declaration".into(),
            spid_error: None,
        })?;
        for (name, value) in pseudo_attributes(&body[5..end])? {
            if name == "encoding" && !value.eq_ignore_ascii_case("UTF-8") {
                return refuse(
                    "xml_encoding",
                    format!("the XML declaration names encoding `{value}`: only UTF-8 is accepted"),
                );
            }
        }
    }
    // A declaration anywhere else is malformed for a conforming parser, but a
    // lenient one might still switch encodings on it: refuse it outright.
    let rest = if is_decl_at(body) { &body[5..] } else { body };
    let bytes = rest.as_bytes();
    for (i, _) in rest.match_indices("<?") {
        if bytes.len() >= i + 5 && bytes[i + 2..i + 5].eq_ignore_ascii_case(b"xml") {
            let next = bytes.get(i + 5).copied().unwrap_or(b' ');
            if next.is_ascii_whitespace() || next == b'?' {
                return refuse("xml_encoding", "an XML declaration that is not at the start of the message");
            }
        }
    }
    Ok(())
}

/// `version="1.0" encoding='UTF-8' standalone="no"`: name, `=`, quoted value.
fn pseudo_attributes(mut s: &str) -> Result<Vec<(&str, &str)>, Refusal> {
    let bad = || Refusal { code: "xml_encoding", detail: "unreadable XML declaration".into(), spid_error: None };
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if s.is_empty() {
            return Ok(out);
        }
        let name_len = s.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(s.len());
        if name_len == 0 {
            return Err(bad());
        }
        let name = &s[..name_len];
        s = s[name_len..].trim_start_matches(|c: char| c.is_ascii_whitespace());
        s = s.strip_prefix('=').ok_or_else(bad)?.trim_start_matches(|c: char| c.is_ascii_whitespace());
        let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'').ok_or_else(bad)?;
        let close = s[1..].find(quote).ok_or_else(bad)? + 1;
        out.push((name, &s[1..close]));
        s = &s[close + 1..];
    }
}

/// One pass over the markup: element depth never above [`MAX_DEPTH`], and no
/// document type declaration. Comments, CDATA sections and processing
/// instructions are skipped as a parser skips them; quoted attribute values
/// are skipped inside tags. Anything this scan cannot place counts as deeper,
/// never shallower: it can refuse a strange document, not let a deep one by.
fn depth_and_dtd(s: &str) -> Result<(), Refusal> {
    let b = s.as_bytes();
    let (mut i, mut depth) = (0usize, 0usize);
    let skip_to = |from: usize, end: &str| s[from..].find(end).map(|p| from + p + end.len()).unwrap_or(b.len());
    while let Some(p) = s[i..].find('<') {
        i += p;
        let rest = &b[i..];
        if rest.starts_with(b"<!--") {
            i = skip_to(i + 4, "-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_to(i + 9, "]]>");
        } else if rest.starts_with(b"<!") {
            return refuse("xml_dtd", "document type declarations are not accepted");
        } else if rest.starts_with(b"<?") {
            i = skip_to(i + 2, "?>");
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            i = skip_to(i + 2, ">");
        } else {
            // A start tag: to its `>`, outside quoted values.
            let mut j = i + 1;
            let mut quote: Option<u8> = None;
            while j < b.len() {
                match (quote, b[j]) {
                    (None, b'"' | b'\'') => quote = Some(b[j]),
                    (Some(q), c) if c == q => quote = None,
                    (None, b'>') => break,
                    _ => {}
                }
                j += 1;
            }
            let self_closing = j < b.len() && j > i + 1 && b[j - 1] == b'/' && quote.is_none();
            if !self_closing {
                depth += 1;
                if depth > MAX_DEPTH {
                    return refuse("xml_too_deep", format!("elements nested deeper than {MAX_DEPTH} levels"));
                }
            }
            i = (j + 1).min(b.len());
        }
        if i >= b.len() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(bytes: &[u8]) -> Option<&'static str> {
        untrusted_xml(bytes).err().map(|r| r.code)
    }

    #[test]
    fn only_utf8_gets_through() {
        assert_eq!(code(br#"<?xml version="1.0" encoding="UTF-8"?><r/>"#), None);
        assert_eq!(code(br#"<?xml version='1.0' encoding='utf-8' standalone='yes'?><r/>"#), None);
        assert_eq!(code(b"\xEF\xBB\xBF<r/>"), None);
        assert_eq!(code(b"<r>caf\xC3\xA9</r>"), None);
        for enc in [
            "UTF-7",
            "utf-7",
            "UTF-16",
            "UTF-16LE",
            "ISO-8859-1",
            "latin1",
            "US-ASCII",
            "UTF8",
            "EBCDIC-US",
            "IBM037",
            "CP037",
            "IBM1047",
            "UTF-32",
            "UCS-4",
            "Shift_JIS",
        ] {
            let doc = format!(r#"<?xml version="1.0" encoding="{enc}"?><r/>"#);
            assert_eq!(code(doc.as_bytes()), Some("xml_encoding"), "{enc}");
            let spaced = format!("<?xml version='1.0'\n  encoding = '{enc}' ?><r/>");
            assert_eq!(code(spaced.as_bytes()), Some("xml_encoding"), "{enc}, spaced");
        }
        // UTF-16 with and without a byte-order mark, UCS-4, EBCDIC bytes, Latin-1 bytes.
        let utf16le: Vec<u8> = "<?xml version=\"1.0\"?><r/>".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let utf16be: Vec<u8> = "<?xml version=\"1.0\"?><r/>".encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        assert_eq!(code(&utf16le), Some("xml_encoding"));
        assert_eq!(code(&utf16be), Some("xml_encoding"));
        assert_eq!(code(&[&[0xFF, 0xFE][..], &utf16le].concat()), Some("xml_encoding"));
        assert_eq!(code(&[&[0xFE, 0xFF][..], &utf16be].concat()), Some("xml_encoding"));
        assert_eq!(code(&[0, 0, 0, b'<', 0, 0, 0, b'r', 0, 0, 0, b'/', 0, 0, 0, b'>']), Some("xml_encoding"));
        assert_eq!(code(&[0x4C, 0x6F, 0xA7, 0x94, 0x93, 0x40]), Some("xml_encoding"));
        assert_eq!(code(b"<r>caf\xE9</r>"), Some("xml_encoding"));
        // A declaration elsewhere, an unreadable one.
        assert_eq!(code(b" <?xml version=\"1.0\" encoding=\"UTF-7\"?><r/>"), Some("xml_encoding"));
        assert_eq!(code(b"<r/><?xml version=\"1.0\"?>"), Some("xml_encoding"));
        assert_eq!(code(b"<?xml version=\"1.0\" encoding=UTF-7?><r/>"), Some("xml_encoding"));
        assert_eq!(code(b"<?xml version=\"1.0\" encoding=\"UTF-8\""), Some("xml_encoding"));
    }

    #[test]
    fn nesting_is_bounded_without_recursion() {
        let nest = |n: usize| format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
        assert_eq!(code(nest(MAX_DEPTH).as_bytes()), None);
        assert_eq!(code(nest(MAX_DEPTH + 1).as_bytes()), Some("xml_too_deep"));
        assert_eq!(code(nest(5_000).as_bytes()), Some("xml_too_deep"));
        assert_eq!(code(nest(100_000).as_bytes()), Some("xml_too_deep"));
        // Unclosed tags count too.
        assert_eq!(code("<a>".repeat(100_000).as_bytes()), Some("xml_too_deep"));
        // Siblings, self-closing tags, `>` and `/>` inside values, comments, CDATA, PIs.
        let wide = format!("<r>{}</r>", "<a x='/>'/><b y=\"a>b\"></b>".repeat(10_000));
        assert_eq!(code(wide.as_bytes()), None);
        let hidden =
            format!("<r><!--{}--><![CDATA[{}]]><?pi {}?></r>", "<a>".repeat(100), "<a>".repeat(100), "<a>".repeat(100));
        assert_eq!(code(hidden.as_bytes()), None);
        // A quote that never closes swallows the rest: counted as one open element.
        assert_eq!(code(format!("<a x=\"{}", "<a>".repeat(100)).as_bytes()), None);
    }

    #[test]
    fn document_type_declarations_are_refused() {
        assert_eq!(code(b"<!DOCTYPE r [<!ENTITY x 'y'>]><r>&x;</r>"), Some("xml_dtd"));
        assert_eq!(code(b"<?xml version=\"1.0\"?>\n<!DOCTYPE r SYSTEM \"file:///etc/passwd\"><r/>"), Some("xml_dtd"));
    }
}
