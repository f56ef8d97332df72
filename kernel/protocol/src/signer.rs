use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Signs outgoing and verifies incoming messages with HMAC-SHA256.
///
/// An empty key means "no signing", as the messaging spec says: signatures are
/// empty and every message is accepted.
#[derive(Clone)]
pub struct Signer {
    mac: Option<HmacSha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("signing", &self.mac.is_some())
            .finish()
    }
}

impl Signer {
    /// A signer for `key`; an empty key disables signing.
    pub fn new(key: &[u8]) -> Signer {
        let mac = if key.is_empty() {
            None
        } else {
            // HMAC accepts keys of any length, so this cannot fail.
            HmacSha256::new_from_slice(key).ok()
        };
        Signer { mac }
    }

    /// The hex signature of the four JSON frames.
    pub fn sign(&self, parts: [&[u8]; 4]) -> String {
        match &self.mac {
            None => String::new(),
            Some(mac) => {
                let mut mac = mac.clone();
                for part in parts {
                    mac.update(part);
                }
                hex::encode(mac.finalize().into_bytes())
            }
        }
    }

    /// Whether `signature` (hex) matches the four JSON frames, compared in constant time.
    pub fn verify(&self, signature: &[u8], parts: [&[u8]; 4]) -> bool {
        let Some(mac) = &self.mac else {
            return true;
        };
        let Ok(expected) = hex::decode(signature) else {
            return false;
        };
        let mut mac = mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(&expected).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trips_and_rejects_tampering() {
        let signer = Signer::new(b"secret");
        let parts: [&[u8]; 4] = [b"{\"a\":1}", b"{}", b"{}", b"{\"code\":\"1\"}"];
        let signature = signer.sign(parts);
        assert_eq!(signature.len(), 64);
        assert!(signer.verify(signature.as_bytes(), parts));
        let tampered: [&[u8]; 4] = [b"{\"a\":1}", b"{}", b"{}", b"{\"code\":\"2\"}"];
        assert!(!signer.verify(signature.as_bytes(), tampered));
        assert!(!signer.verify(b"not hex", parts));
        assert!(!Signer::new(b"other").verify(signature.as_bytes(), parts));
    }

    #[test]
    fn empty_key_means_no_signing() {
        let signer = Signer::new(b"");
        let parts: [&[u8]; 4] = [b"{}", b"{}", b"{}", b"{}"];
        assert_eq!(signer.sign(parts), "");
        assert!(signer.verify(b"", parts));
    }
}
