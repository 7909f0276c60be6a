//! Global ids: every object the API exposes is addressed by an opaque id that
//! encodes its type and key (`base64url("Case:<uuid>")`), so that `node(id:)` can
//! route it and clients cannot confuse a case id with a household id.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use uuid::Uuid;

use crate::error::AppError;

/// Encodes the global id of an object of type `kind` with key `key`.
pub fn encode(kind: &str, key: impl std::fmt::Display) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{key}"))
}

/// Decodes a global id into (type, key); a malformed id is a `VALIDATION` error
/// naming `field`.
pub fn decode(field: &str, id: &str) -> Result<(String, String), AppError> {
    let bad = || AppError::validation(field, format!("`{}` is not a valid id", truncate(id)));
    let bytes = URL_SAFE_NO_PAD.decode(id.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (kind, key) = text.split_once(':').ok_or_else(bad)?;
    if kind.is_empty() || key.is_empty() {
        return Err(bad());
    }
    Ok((kind.to_string(), key.to_string()))
}

/// Decodes a global id that must be of type `kind` and carry a UUID key.
pub fn decode_uuid(field: &str, kind: &str, id: &str) -> Result<Uuid, AppError> {
    let (k, key) = decode(field, id)?;
    if k != kind {
        return Err(AppError::validation(field, format!("expected the id of a {kind}, got the id of a {k}")));
    }
    Uuid::parse_str(&key).map_err(|_| AppError::validation(field, format!("`{}` is not a valid id", truncate(id))))
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_type_check() {
        let u = Uuid::new_v4();
        let id = encode("Profile", u);
        assert_eq!(decode_uuid("profileId", "Profile", &id).unwrap(), u);
        let err = decode_uuid("profileId", "Case", &id).unwrap_err();
        assert!(err.to_string().contains("expected the id of a Case"));
        assert!(decode("id", "%%%").is_err());
        assert!(decode("id", &URL_SAFE_NO_PAD.encode("nocolon")).is_err());
    }
}
