//! Content digests (`sha256:<64 hex>`), checked on parse so a digest can be used as a
//! file name without any risk of escaping `blobs/sha256/`.

use std::fmt;

use sha2::{Digest as _, Sha256, Sha512};

use super::FormatError;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Accepts `sha256:` with 64 and `sha512:` with 128 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Digest, FormatError> {
        let bad = |why: &str| FormatError::Invalid(format!("digest {s:?} {why}"));
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| bad("has no algorithm (expected sha256:<hex>)"))?;
        let want = match alg {
            "sha256" => 64,
            "sha512" => 128,
            _ => return Err(bad("uses an algorithm other than sha256 or sha512")),
        };
        if hex.len() != want || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad(&format!("is not {want} lowercase hex digits")));
        }
        Ok(Digest(s.to_string()))
    }

    /// A digest from a file name under `blobs/<alg>/`, when the name is one: checked
    /// like [`Digest::parse`], with a single allocation (listing 20,000 blobs is hot).
    pub fn from_file_name(alg: &str, name: &[u8]) -> Option<Digest> {
        let want = match alg {
            "sha256" => 64,
            "sha512" => 128,
            _ => return None,
        };
        if name.len() != want || !name.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut s = String::with_capacity(alg.len() + 1 + want);
        s.push_str(alg);
        s.push(':');
        // Checked above: ASCII hex only.
        s.push_str(std::str::from_utf8(name).ok()?);
        Some(Digest(s))
    }

    /// The digest of `bytes` with SHA-256.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// `sha256:0123456789ab`, for people.
    pub fn short(&self) -> String {
        let n = self.0.find(':').map_or(0, |i| i + 1) + 12;
        self.0.chars().take(n).collect()
    }

    /// Checks that `bytes` hash to this digest.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), FormatError> {
        let actual = match self.algorithm() {
            "sha512" => format!("sha512:{}", hex::encode(Sha512::digest(bytes))),
            _ => Digest::sha256_of(bytes).0,
        };
        if actual == self.0 {
            Ok(())
        } else {
            Err(FormatError::DigestMismatch {
                expected: self.0.clone(),
                actual,
            })
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_digests_parse() {
        let ok = format!("sha256:{}", "a".repeat(64));
        assert_eq!(Digest::parse(&ok).unwrap().hex(), "a".repeat(64));
        for bad in [
            "sha256:abc",
            "md5:00",
            "nocolon",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:../../{}", "a".repeat(58)),
        ] {
            let e = Digest::parse(bad).unwrap_err().to_string();
            assert!(e.contains("digest"), "{e}");
        }
    }

    #[test]
    fn verify_catches_content_that_does_not_match() {
        let d = Digest::sha256_of(b"hello");
        assert!(d.verify(b"hello").is_ok());
        let e = d.verify(b"hellp").unwrap_err();
        assert!(matches!(e, FormatError::DigestMismatch { .. }));
        assert!(e.to_string().contains(d.as_str()), "{e}");
        assert_eq!(d.short().len(), "sha256:".len() + 12);
    }

    #[test]
    fn file_names_become_digests_only_when_they_are_one() {
        let hex = "b".repeat(64);
        assert_eq!(
            Digest::from_file_name("sha256", hex.as_bytes()),
            Some(Digest::parse(&format!("sha256:{hex}")).unwrap())
        );
        assert_eq!(
            Digest::from_file_name("sha256", format!("{hex}.tmp").as_bytes()),
            None
        );
        assert_eq!(Digest::from_file_name("sha256", b"\xff\xfe"), None);
        assert_eq!(Digest::from_file_name("md5", hex.as_bytes()), None);
    }
}
