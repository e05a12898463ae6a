//! A webhook delivery's signature: HMAC-SHA256 of the exact body bytes
//! under the rule's `secret_file`, sent as `X-TestArena-Signature:
//! sha256=<hex>` (GitHub's convention, so a receiver's existing check
//! works). `verify` is what a receiver does; the tests use it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-TestArena-Signature";
pub const DELIVERY_HEADER: &str = "X-TestArena-Delivery";
pub const EVENT_HEADER: &str = "X-TestArena-Event";

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<64 hex digits>` of `body` under `key`.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is `body`'s signature under `key`, compared in
/// constant time; a malformed header is simply not.
pub fn verify(key: &[u8], body: &[u8], header: &str) -> bool {
    let Some(digest) = header
        .strip_prefix("sha256=")
        .and_then(|hex_digits| hex::decode(hex_digits).ok())
    else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&digest).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_rfc_4231_test_case_2() {
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_signature_verifies_only_for_its_key_and_its_exact_body() {
        let header = sign(b"key", br#"{"a":1}"#);
        assert!(verify(b"key", br#"{"a":1}"#, &header));
        assert!(!verify(b"other", br#"{"a":1}"#, &header));
        assert!(!verify(b"key", br#"{"a":1} "#, &header));
    }

    #[test]
    fn hostile_signature_headers_do_not_verify() {
        let good = sign(b"key", b"body");
        let digits = good.trim_start_matches("sha256=");
        for header in [
            "",
            "sha256=",
            digits,
            &format!("sha1={digits}"),
            &format!("sha256={}", &digits[..63]),
            &format!("sha256={digits}00"),
            "sha256=zz",
            &format!("SHA256={digits}"),
            &format!("sha256={digits}\n"),
        ] {
            assert!(!verify(b"key", b"body", header), "{header:?} verified");
        }
    }
}
