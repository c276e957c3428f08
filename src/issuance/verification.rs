//! The verification code printed on a certificate: an HMAC of the permit number under a key only
//! the service holds, so a code cannot be derived from a number (numbers run 0001, 0002 …) and a
//! forged certificate that copies a real number fails the check.

use std::io::Write;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key file in the data directory, created on first start (mode 0600), never logged.
pub const KEY_FILE: &str = "verification.key";
const KEY_BYTES: usize = 32;
/// Crockford's base32 alphabet: no I, L, O or U to misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#[derive(Clone)]
pub struct VerificationKey([u8; KEY_BYTES]);

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerificationKey(…)")
    }
}

/// A 32-byte secret in `data_dir/file`, made with fresh randomness when there is none (mode 0600,
/// never logged): written whole under a temporary name, then linked into place without replacing
/// anything, so a crash leaves no short key and of two starts at once one key wins.
pub fn load_or_create_secret(data_dir: &Path, file: &str) -> std::io::Result<[u8; KEY_BYTES]> {
    let path = data_dir.join(file);
    match std::fs::read(&path) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{} is not a {KEY_BYTES}-byte key", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; KEY_BYTES] = rand::random();
            let temporary = data_dir.join(format!("{file}.{}.tmp", uuid::Uuid::new_v4()));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let written = options.open(&temporary).and_then(|mut file| {
                file.write_all(&key)?;
                file.sync_all()
            });
            let linked = written.and_then(|()| std::fs::hard_link(&temporary, &path));
            let _ = std::fs::remove_file(&temporary);
            match linked {
                Ok(()) => Ok(key),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_secret(data_dir, file),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

impl VerificationKey {
    /// The data directory's key, created with fresh randomness when there is none.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<Self> {
        Ok(Self(load_or_create_secret(data_dir, KEY_FILE)?))
    }

    /// A key for another purpose (the pages' CSRF tokens), derived from this one with the purpose
    /// as domain separation: `HMAC(key, "onewindow/" ‖ purpose)`. No permit number has that form, so
    /// no derived key is ever a certificate's code.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(b"onewindow/");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The code printed on the certificate of `number`: ten characters in two groups (ABCDE-FGHJK).
    pub fn code(&self, number: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(number.as_bytes());
        let digest = mac.finalize().into_bytes();
        // 50 bits of the digest, five at a time.
        let bits = u64::from_be_bytes(digest[..8].try_into().expect("eight bytes")) >> 14;
        let chars: String = (0..10).rev().map(|i| ALPHABET[((bits >> (5 * i)) & 31) as usize] as char).collect();
        format!("{}-{}", &chars[..5], &chars[5..])
    }

    /// Whether `code` (as a person types it: any case, with or without the dash or spaces) is the
    /// code of `number`, compared in constant time.
    pub fn check(&self, number: &str, code: &str) -> bool {
        let typed: Vec<u8> = code.bytes().filter(|b| b.is_ascii_alphanumeric()).map(|b| b.to_ascii_uppercase()).collect();
        let expected: Vec<u8> = self.code(number).bytes().filter(|b| *b != b'-').collect();
        typed.len() == expected.len() && typed.iter().zip(&expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_belongs_to_its_number_and_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = VerificationKey::load_or_create(dir.path()).unwrap();
        let code = key.code("新吴排水许字〔2026〕第0001号");
        assert_eq!(code.len(), 11);
        assert!(key.check("新吴排水许字〔2026〕第0001号", &code));
        assert!(key.check("新吴排水许字〔2026〕第0001号", &code.to_lowercase().replace('-', " ")), "as a person types it");
        assert!(!key.check("新吴排水许字〔2026〕第0002号", &code), "another number's code");
        assert_ne!(key.code("新吴排水许字〔2026〕第0002号"), code);
        // The same key after a restart; another service's key gives other codes.
        assert_eq!(VerificationKey::load_or_create(dir.path()).unwrap().code("x"), key.code("x"));
        let other = VerificationKey::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert_ne!(other.code("x"), key.code("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
