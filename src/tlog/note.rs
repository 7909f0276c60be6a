//! Signed checkpoints of the audit tree, in the C2SP formats that transparency
//! logs share (`signed-note` and `tlog-checkpoint`), so that a checkpoint can be
//! checked by tools that know nothing of GePI:
//!
//! ```text
//! <origin>
//! <tree size>
//! <root hash, base64>
//! time <RFC 3339, UTC>
//!
//! — <key name> <base64(key hash ‖ Ed25519 signature)>
//! ```
//!
//! The key name is the log's origin. The key hash is the first four bytes of
//! `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)`, and keys are written as the
//! note format writes them: `PRIVATE+KEY+<name>+<hash>+<base64(0x01 ‖ seed)>`
//! for the signer (a secret: configuration only, never the repository) and
//! `<name>+<hash>+<base64(0x01 ‖ public key)>` for a verifier. The `time` line
//! is an extension line of the checkpoint: it says when the service signed it.

use std::fmt;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::tree::Hash;

/// The algorithm byte of Ed25519 in the note formats.
const ED25519: u8 = 0x01;
const DASH: &str = "\u{2014} ";

fn key_hash(name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Reads `<name>+<hash>+<base64(0x01 ‖ 32 bytes)>` (a signer's key after its
/// `PRIVATE+KEY+` prefix, or a verifier's): the name, the hash as written and
/// the 32 bytes. `bad` words the refusal. The base64 may hold `+` itself:
/// the text is split at its first two.
fn parse_key<'a>(text: &'a str, bad: &dyn Fn(&str) -> String) -> Result<(&'a str, &'a str, [u8; 32]), String> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected <name>+<hash>+<key>"));
    };
    if !valid_name(name) {
        return Err(bad("invalid name"));
    }
    let raw = B64.decode(key).map_err(|_| bad("the key is not base64"))?;
    let (Some(&ED25519), Ok(bytes)) = (raw.first(), <[u8; 32]>::try_from(&raw[1.min(raw.len())..])) else {
        return Err(bad("not an Ed25519 key"));
    };
    Ok((name, hash, bytes))
}

/// Whether `hash`, as written in a key, is `computed`.
fn hash_matches(hash: &str, computed: u32) -> bool {
    hash.len() == 8 && u32::from_str_radix(hash, 16).ok() == Some(computed)
}

/// `<name>+<hash>+<base64(0x01 ‖ bytes)>`.
fn write_key(name: &str, hash: u32, bytes: &[u8; 32]) -> String {
    let mut raw = vec![ED25519];
    raw.extend_from_slice(bytes);
    format!("{name}+{hash:08x}+{}", B64.encode(raw))
}

/// A key that signs checkpoints.
pub struct Signer {
    name: String,
    key: SigningKey,
    hash: u32,
}

impl fmt::Debug for Signer {
    /// Never the key itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({}+{:08x})", self.name, self.hash)
    }
}

impl Signer {
    /// A new key named `name` (the log's origin), from the system's randomness.
    pub fn generate(name: &str) -> Result<Self, String> {
        if !valid_name(name) {
            return Err(format!("`{name}` is not a key name: no spaces, no `+`"));
        }
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let key = SigningKey::from_bytes(&seed);
        let hash = key_hash(name, key.verifying_key().as_bytes());
        Ok(Signer { name: name.to_string(), key, hash })
    }

    /// Reads `PRIVATE+KEY+<name>+<hash>+<base64(0x01 ‖ seed)>`.
    pub fn parse(skey: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("not a checkpoint signing key ({why})");
        let rest = skey.trim().strip_prefix("PRIVATE+KEY+").ok_or_else(|| bad("no PRIVATE+KEY+ prefix"))?;
        let (name, hash, seed) = parse_key(rest, &bad)?;
        let key = SigningKey::from_bytes(&seed);
        let computed = key_hash(name, key.verifying_key().as_bytes());
        if !hash_matches(hash, computed) {
            return Err(bad("its hash does not match the key"));
        }
        Ok(Signer { name: name.to_string(), key, hash: computed })
    }

    /// The key as [`Signer::parse`] reads it (a secret).
    pub fn to_skey(&self) -> String {
        format!("PRIVATE+KEY+{}", write_key(&self.name, self.hash, self.key.as_bytes()))
    }

    /// The log's origin (the key's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half.
    pub fn verifier(&self) -> Verifier {
        Verifier { name: self.name.clone(), key: self.key.verifying_key(), hash: self.hash }
    }

    /// `text` (which must end with a newline) signed: the note.
    pub fn sign(&self, text: &str) -> String {
        debug_assert!(text.ends_with('\n'));
        let sig = self.key.sign(text.as_bytes());
        let mut raw = self.hash.to_be_bytes().to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        format!("{text}\n{DASH}{} {}\n", self.name, B64.encode(raw))
    }
}

/// A key that checks checkpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key: VerifyingKey,
    hash: u32,
}

impl Verifier {
    /// Reads `<name>+<hash>+<base64(0x01 ‖ public key)>`.
    pub fn parse(vkey: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("not a checkpoint verifier key ({why})");
        let (name, hash, public) = parse_key(vkey.trim(), &bad)?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad("not a valid Ed25519 point"))?;
        let computed = key_hash(name, &public);
        if !hash_matches(hash, computed) {
            return Err(bad("its hash does not match the key"));
        }
        Ok(Verifier { name: name.to_string(), key, hash: computed })
    }

    /// The key as [`Verifier::parse`] reads it.
    pub fn to_vkey(&self) -> String {
        write_key(&self.name, self.hash, self.key.as_bytes())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text of `note` when one of its signature lines is this key's and
    /// verifies; lines of other keys are ignored (a witness may cosign).
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, String> {
        let split = note.rfind("\n\n").ok_or("not a signed note: no blank line before the signatures")?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err("not a signed note: no signature lines".into());
        }
        for line in sigs.lines() {
            let rest = line.strip_prefix(DASH).ok_or("not a signed note: a signature line must begin with `— `")?;
            let (name, sig) = rest.split_once(' ').ok_or("not a signed note: malformed signature line")?;
            if name != self.name {
                continue;
            }
            let raw = B64.decode(sig).map_err(|_| "not a signed note: a signature is not base64")?;
            if raw.len() != 68 || raw[..4] != self.hash.to_be_bytes() {
                continue;
            }
            let sig = Signature::from_slice(&raw[4..]).map_err(|_| "not a signed note: malformed signature")?;
            return self
                .key
                .verify_strict(text.as_bytes(), &sig)
                .map(|_| text)
                .map_err(|_| format!("the signature of {} does not verify", self.name));
        }
        Err(format!("the note has no signature by {}+{:08x}", self.name, self.hash))
    }
}

/// A tree head as a checkpoint states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// When the service signed it (the `time` extension line).
    pub time: Option<DateTime<Utc>>,
}

impl Checkpoint {
    /// The checkpoint's text (the part that is signed).
    pub fn body(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root));
        if let Some(t) = self.time {
            s.push_str(&format!("time {}\n", t.to_rfc3339_opts(SecondsFormat::Secs, true)));
        }
        s
    }

    /// Reads a checkpoint's text (as [`Verifier::open`] returns it).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or("a checkpoint begins with its origin")?;
        let size = lines
            .next()
            .and_then(|s| s.parse::<u64>().ok().filter(|_| !s.starts_with('+') && (s == "0" || !s.starts_with('0'))))
            .ok_or("the second line of a checkpoint is its tree size")?;
        let root = lines
            .next()
            .and_then(|r| B64.decode(r).ok())
            .and_then(|r| <Hash>::try_from(r.as_slice()).ok())
            .ok_or("the third line of a checkpoint is its root hash in base64")?;
        let mut time = None;
        for ext in lines {
            if let Some(t) = ext.strip_prefix("time ") {
                time = Some(
                    DateTime::parse_from_rfc3339(t)
                        .map_err(|_| "the time line of a checkpoint is RFC 3339")?
                        .with_timezone(&Utc),
                );
            }
        }
        Ok(Checkpoint { origin: origin.to_string(), size, root, time })
    }

    /// Opens `note` with `verifier` and reads the checkpoint in it; the
    /// origin must be the key's name.
    pub fn open(note: &str, verifier: &Verifier) -> Result<Self, String> {
        let c = Self::parse(verifier.open(note)?)?;
        if c.origin != verifier.name() {
            return Err(format!("the checkpoint is of `{}`, the key of `{}`", c.origin, verifier.name()));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_opens_with_its_key_only() {
        let s = Signer::generate("gepi.test/audit").unwrap();
        let again = Signer::parse(&s.to_skey()).unwrap();
        assert_eq!(again.verifier(), s.verifier());
        let v = Verifier::parse(&s.verifier().to_vkey()).unwrap();
        let c = Checkpoint {
            origin: "gepi.test/audit".into(),
            size: 12345,
            root: [7; 32],
            time: Some("2026-12-07T10:00:00Z".parse().unwrap()),
        };
        let note = s.sign(&c.body());
        assert!(note.starts_with("gepi.test/audit\n12345\nBwcH"), "{note}");
        assert!(note.contains("\n\n\u{2014} gepi.test/audit "), "{note}");
        assert_eq!(Checkpoint::open(&note, &v).unwrap(), c);
        // Any change to the text breaks the signature.
        let forged = note.replace("12345", "12344");
        assert!(Checkpoint::open(&forged, &v).unwrap_err().contains("does not verify"));
        // Another key with the same name does not open it.
        let other = Signer::generate("gepi.test/audit").unwrap().verifier();
        assert!(Checkpoint::open(&note, &other).is_err());
        // A key's hash is checked against its name and bytes.
        let vkey = v.to_vkey();
        let renamed = vkey.replacen("gepi.test/audit", "gepi.other/audit", 1);
        assert!(Verifier::parse(&renamed).is_err());
        assert!(Signer::parse("PRIVATE+KEY+x+00000000+AQ==").is_err());
        assert!(Signer::generate("with space").is_err());
        // The Debug form never shows the secret.
        assert!(!format!("{s:?}").contains(&s.to_skey()[30..]));
    }

    /// RFC 8032's first test key, named `example.com/log`: the key hash and
    /// both encodings computed independently (Python's hashlib and base64),
    /// and the signature of the empty message is the RFC's.
    #[test]
    fn keys_are_written_as_the_note_format_writes_them() {
        let skey = "PRIVATE+KEY+example.com/log+cc714670+AZ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g";
        let s = Signer::parse(skey).unwrap();
        assert_eq!(s.to_skey(), skey);
        let vkey = "example.com/log+cc714670+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea";
        assert_eq!(s.verifier().to_vkey(), vkey);
        assert_eq!(Verifier::parse(vkey).unwrap(), s.verifier());
        assert_eq!(
            hex::encode(s.key.sign(b"").to_bytes()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert!(Verifier::parse("example.com/log+cc714671+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea").is_err());
    }
}
