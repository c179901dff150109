//! The SHA-256 of a file's bytes, in lower-case hex: how a journal names the exact plan
//! (or journal) its run replayed, and how an evidence report names the files it is
//! made from.

use sha2::Digest as _;

/// The SHA-256 of `bytes`, in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
