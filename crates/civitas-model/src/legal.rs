//! Legal basis: why an entry may be on a watchlist at all. Every entry points
//! at one; without one it cannot be enrolled, and once it expires it stops
//! matching (the brief's fourth line).

use civitas_base::{Error, Result, Timestamp};
use serde::Serialize;

/// The fields an operator supplies to enrol under a legal basis.
#[derive(Debug, Clone, Default)]
pub struct LegalBasisInput {
    /// e.g. `judicial-warrant`, `missing-person-report`, `court-order`.
    pub kind: String,
    /// Body that authorised it, e.g. "Juzgado 3º de Garantías Penales de Quito".
    pub authority: String,
    /// The authority's reference for it (case or warrant number).
    pub reference: String,
    /// Purpose in words.
    pub purpose: String,
    /// Expiry, RFC 3339 or `YYYY-MM-DD` (UTC).
    pub expires: String,
}

/// A validated legal basis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegalBasis {
    pub id: Option<i64>,
    pub kind: String,
    pub authority: String,
    pub reference: String,
    pub purpose: String,
    pub granted_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Known kinds. Free text is refused so reports can count by kind.
pub const LEGAL_BASIS_KINDS: &[&str] = &[
    "judicial-warrant",
    "court-order",
    "missing-person-report",
    "stolen-vehicle-report",
    "arrest-warrant",
    "child-abduction-alert",
];

impl LegalBasisInput {
    /// Checks every field; the error names the first missing or malformed one.
    pub fn validate(&self, now: Timestamp) -> Result<LegalBasis> {
        for (field, v) in [
            ("kind", &self.kind),
            ("authority", &self.authority),
            ("reference", &self.reference),
            ("purpose", &self.purpose),
            ("expires", &self.expires),
        ] {
            if v.trim().is_empty() {
                return Err(Error::invalid(format!(
                    "legal basis: field `{field}` is required and was empty"
                )));
            }
        }
        if !LEGAL_BASIS_KINDS.contains(&self.kind.trim()) {
            return Err(Error::invalid(format!(
                "legal basis: field `kind` is {:?}; expected one of {}",
                self.kind,
                LEGAL_BASIS_KINDS.join(", ")
            )));
        }
        let expires_at = Timestamp::parse_rfc3339(&self.expires).ok_or_else(|| {
            Error::invalid(format!(
                "legal basis: field `expires` is {:?}; expected YYYY-MM-DD or RFC 3339 UTC",
                self.expires
            ))
        })?;
        if expires_at <= now {
            return Err(Error::invalid(format!(
                "legal basis: field `expires` ({}) is in the past",
                expires_at.to_rfc3339()
            )));
        }
        Ok(LegalBasis {
            id: None,
            kind: self.kind.trim().to_owned(),
            authority: self.authority.trim().to_owned(),
            reference: self.reference.trim().to_owned(),
            purpose: self.purpose.trim().to_owned(),
            granted_at: now,
            expires_at,
        })
    }
}

impl LegalBasis {
    /// Whether entries under this basis may match at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> LegalBasisInput {
        LegalBasisInput {
            kind: "judicial-warrant".into(),
            authority: "Court 3".into(),
            reference: "W-2026-114".into(),
            purpose: "locate suspect".into(),
            expires: "2027-01-01".into(),
        }
    }

    #[test]
    fn each_missing_field_is_named() {
        let now = Timestamp::parse_rfc3339("2026-11-28").unwrap();
        assert!(good().validate(now).is_ok());
        for f in ["kind", "authority", "reference", "purpose", "expires"] {
            let mut i = good();
            match f {
                "kind" => i.kind.clear(),
                "authority" => i.authority.clear(),
                "reference" => i.reference.clear(),
                "purpose" => i.purpose = "  ".into(),
                _ => i.expires.clear(),
            }
            let e = i.validate(now).unwrap_err();
            assert!(e.message().contains(&format!("`{f}`")), "{}", e.message());
        }
    }

    #[test]
    fn past_expiry_and_bad_kind_are_refused() {
        let now = Timestamp::parse_rfc3339("2026-11-28").unwrap();
        let mut i = good();
        i.expires = "2020-01-01".into();
        assert!(
            i.validate(now)
                .unwrap_err()
                .message()
                .contains("in the past")
        );
        let mut i = good();
        i.kind = "hunch".into();
        assert!(
            i.validate(now)
                .unwrap_err()
                .message()
                .contains("expected one of")
        );
        let b = good().validate(now).unwrap();
        assert!(b.is_active(now));
        assert!(!b.is_active(Timestamp::parse_rfc3339("2027-01-01").unwrap()));
    }
}
