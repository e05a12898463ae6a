//! Whether a hook comes from the service that holds the repository's
//! webhook secret, as each service defines it: GitHub's
//! `X-Hub-Signature-256: sha256=<hex>` and Gitea's `X-Gitea-Signature:
//! <hex>` are HMAC-SHA256 of the raw body; GitLab sends the secret itself
//! in `X-Gitlab-Token`. Every comparison takes constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::HookService;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header does not match the webhook secret of a configured repository")]
    Wrong(&'static str),
}

pub(crate) fn header(service: HookService) -> &'static str {
    match service {
        HookService::Github => "x-hub-signature-256",
        HookService::Gitlab => "x-gitlab-token",
        HookService::Gitea => "x-gitea-signature",
    }
}

/// `presented`: the signature header's value, if the hook had one.
pub(crate) fn verify(
    service: HookService,
    presented: Option<&str>,
    body: &[u8],
    secret: &str,
) -> Result<(), SignatureError> {
    let name = header(service);
    let presented = presented.ok_or(SignatureError::Missing(name))?.trim();
    let matches = match service {
        HookService::Gitlab => bool::from(presented.as_bytes().ct_eq(secret.as_bytes())),
        HookService::Github => presented
            .strip_prefix("sha256=")
            .is_some_and(|hex| hmac_matches(hex, body, secret)),
        HookService::Gitea => hmac_matches(presented, body, secret),
    };
    matches.then_some(()).ok_or(SignatureError::Wrong(name))
}

fn hmac_matches(hex_digest: &str, body: &[u8], secret: &str) -> bool {
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The header value a service would send for `body`: what tests sign with.
#[cfg(test)]
pub(crate) fn sign(service: HookService, body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    let hex = hex::encode(mac.finalize().into_bytes());
    match service {
        HookService::Github => format!("sha256={hex}"),
        HookService::Gitea => hex,
        HookService::Gitlab => secret.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"zen":"Keep it logically awesome."}"#;

    #[test]
    fn each_service_accepts_its_own_signature_only() {
        for service in [HookService::Github, HookService::Gitlab, HookService::Gitea] {
            let good = sign(service, BODY, "s3cret");
            assert_eq!(verify(service, Some(&good), BODY, "s3cret"), Ok(()));
            let other_key = sign(service, BODY, "other");
            assert_eq!(
                verify(service, Some(&other_key), BODY, "s3cret"),
                Err(SignatureError::Wrong(header(service))),
                "{service:?}"
            );
            assert_eq!(
                verify(service, None, BODY, "s3cret"),
                Err(SignatureError::Missing(header(service)))
            );
        }
    }

    #[test]
    fn a_changed_body_or_a_mangled_header_is_refused() {
        let github = sign(HookService::Github, BODY, "k");
        assert!(verify(HookService::Github, Some(&github), b"{}", "k").is_err());
        // GitHub's value without its `sha256=` prefix, GitHub's with it to Gitea.
        let bare = github.trim_start_matches("sha256=");
        assert!(verify(HookService::Github, Some(bare), BODY, "k").is_err());
        assert!(verify(HookService::Gitea, Some(&github), BODY, "k").is_err());
        for junk in ["", "sha256=", "sha256=zz", "sha1=abc", "\u{0}"] {
            assert!(verify(HookService::Github, Some(junk), BODY, "k").is_err());
            assert!(verify(HookService::Gitea, Some(junk), BODY, "k").is_err());
        }
        assert!(verify(HookService::Gitlab, Some("k2"), BODY, "k").is_err());
        assert!(verify(HookService::Gitlab, Some(""), BODY, "k").is_err());
    }

    #[test]
    fn the_documented_github_example_verifies() {
        // GitHub's "Validating webhook deliveries" example: secret
        // "It's a Secret to Everybody", payload "Hello, World!".
        let presented = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let verified = verify(
            HookService::Github,
            Some(presented),
            b"Hello, World!",
            "It's a Secret to Everybody",
        );
        assert_eq!(verified, Ok(()));
    }
}
