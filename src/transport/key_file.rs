//! Loading an identity file into a russh private key, repairing the one thing russh's
//! decoder rejects that OpenSSH accepts: an ECDSA private scalar shorter than its curve.
//!
//! OpenSSH stores the ECDSA private scalar as an `mpint`, which drops leading zero bytes, so
//! about one P-256 key in 512 that `ssh-keygen` makes has a 31-byte scalar (P-384 and P-521
//! likewise, less often). The `ssh-key` release that russh 0.65 pins exactly
//! (`=0.7.0-rc.11`, and rc.12, the newest on crates.io) pads short scalars since RustCrypto/SSH
//! #351/#356 but still refuses any scalar under 32 bytes, so such a P-256 key failed with
//! "SshKey: length invalid" while `ssh` logged in with it (issue 10). No compatible release
//! fixes it, and russh's exact pin means we cannot take another `ssh-key` ourselves, so the key
//! is normalised before decoding: the scalar is left-padded to the curve's field size (32, 48
//! or 66 bytes), which is the same integer, and the OpenSSH key blob is rebuilt around it.
//!
//! Only OpenSSH-format (`openssh-key-v1`) ECDSA keys take this path, and an unencrypted key only
//! when its scalar is short; everything else — other key types, PEM/PKCS#8/PuTTY files, and
//! anything this module does not understand — goes to `russh::keys::decode_secret_key`
//! unchanged. An encrypted ECDSA key is decrypted here with `ssh-key`'s own KDF and cipher
//! (the decoder that would reject it runs only after decryption) and then decoded as the
//! equivalent unencrypted blob; a wrong passphrase still fails as a cryptographic error.
//!
//! Keys offered by an ssh-agent never pass through here (the agent signs; russh only parses
//! public keys and signatures, which handle short values), and neither do host keys.
//!
//! Callers: [`super::ssh`] (identity files). It reads one file and never logs key material.

use std::path::Path;

use russh::keys::ssh_key::encoding::pem::PemLabel;
use russh::keys::ssh_key::encoding::{self, Decode, DecodePem, Encode, Reader};
use russh::keys::ssh_key::{self, Cipher, Kdf, PrivateKey};

/// The magic at the start of every `openssh-key-v1` blob (PROTOCOL.key).
const AUTH_MAGIC: &[u8] = b"openssh-key-v1\0";

/// Block size of the unencrypted private section (PROTOCOL.key: 8 when there is no cipher).
const PLAIN_BLOCK: usize = 8;

/// Loads the private key at `path` like `russh::keys::load_secret_key`, but accepting the short
/// ECDSA scalars OpenSSH accepts. `passphrase` is used only when the key is encrypted; an
/// encrypted key without one is `Error::KeyIsEncrypted`, as from russh.
pub fn load_secret_key(
    path: &Path,
    passphrase: Option<&str>,
) -> Result<PrivateKey, russh::keys::Error> {
    let text = std::fs::read_to_string(path)?;
    decode_secret_key(&text, passphrase)
}

/// [`load_secret_key`] on the text of a key file.
pub fn decode_secret_key(
    text: &str,
    passphrase: Option<&str>,
) -> Result<PrivateKey, russh::keys::Error> {
    match normalised_ecdsa(text, passphrase)? {
        Some(blob) => Ok(PrivateKey::from_bytes(&blob)?),
        None => russh::keys::decode_secret_key(text, passphrase),
    }
}

/// The whole base64 body of an `OPENSSH PRIVATE KEY` PEM document, decoded with the same PEM
/// reader `ssh-key` uses.
struct OpensshBlob(Vec<u8>);

impl PemLabel for OpensshBlob {
    const PEM_LABEL: &'static str = "OPENSSH PRIVATE KEY";
}

impl Decode for OpensshBlob {
    type Error = encoding::Error;

    fn decode(reader: &mut impl Reader) -> Result<Self, encoding::Error> {
        let mut bytes = vec![0u8; reader.remaining_len()];
        reader.read(&mut bytes)?;
        Ok(OpensshBlob(bytes))
    }
}

/// The parts of an `openssh-key-v1` blob this module needs.
struct Parsed {
    cipher_name: String,
    kdf: Kdf,
    public_key: Vec<u8>,
    private_section: Vec<u8>,
    /// AEAD tag after the private section (chacha20-poly1305), else empty.
    tag: Vec<u8>,
}

/// `Ok(Some(blob))`: an unencrypted `openssh-key-v1` blob of the same key with its ECDSA scalar
/// padded to the field size, for `PrivateKey::from_bytes`. `Ok(None)`: not a key this module
/// repairs (or nothing to repair): decode it the ordinary way. `Err`: an encrypted ECDSA key
/// whose passphrase is wrong.
fn normalised_ecdsa(
    text: &str,
    passphrase: Option<&str>,
) -> Result<Option<Vec<u8>>, ssh_key::Error> {
    let Ok(OpensshBlob(blob)) = OpensshBlob::decode_pem(text.trim()) else {
        return Ok(None);
    };
    let Some(parsed) = parse_blob(&blob) else {
        return Ok(None);
    };
    let Some(field_size) = ecdsa_field_size(&parsed.public_key) else {
        return Ok(None);
    };
    let encrypted = parsed.cipher_name != "none";
    let plain = if encrypted {
        let (Some(passphrase), Ok(cipher)) = (passphrase, Cipher::new(&parsed.cipher_name)) else {
            return Ok(None);
        };
        decrypt(&parsed, cipher, passphrase)?
    } else {
        parsed.private_section.clone()
    };
    match rebuild_section(&plain, field_size) {
        // An encrypted key is rebuilt even when its scalar was full-size: it is decrypted
        // already, and the KDF is deliberately slow.
        Some((section, short)) if short || encrypted => {
            Ok(Some(unencrypted_blob(&parsed.public_key, &section)?))
        }
        _ => Ok(None),
    }
}

/// Splits a blob into its fields (PROTOCOL.key §1); `None` when it is not a single-key
/// `openssh-key-v1` blob.
fn parse_blob(blob: &[u8]) -> Option<Parsed> {
    let mut r = blob.strip_prefix(AUTH_MAGIC)?;
    let cipher_name = String::decode(&mut r).ok()?;
    let kdf = Kdf::decode(&mut r).ok()?;
    if u32::decode(&mut r).ok()? != 1 {
        return None;
    }
    let public_key = Vec::<u8>::decode(&mut r).ok()?;
    let private_section = Vec::<u8>::decode(&mut r).ok()?;
    Some(Parsed {
        cipher_name,
        kdf,
        public_key,
        private_section,
        tag: r.to_vec(),
    })
}

/// The field size in bytes of an ECDSA public key blob's curve; `None` for other key types.
fn ecdsa_field_size(public_key: &[u8]) -> Option<usize> {
    let mut r = public_key;
    match String::decode(&mut r).ok()?.as_str() {
        "ecdsa-sha2-nistp256" => Some(32),
        "ecdsa-sha2-nistp384" => Some(48),
        "ecdsa-sha2-nistp521" => Some(66),
        _ => None,
    }
}

/// Decrypts the private section with the key's own KDF and cipher, and checks the two
/// check-ints (equal only when the passphrase was right; PROTOCOL.key §3).
fn decrypt(parsed: &Parsed, cipher: Cipher, passphrase: &str) -> Result<Vec<u8>, ssh_key::Error> {
    let (key, iv) = parsed.kdf.derive_key_and_iv(cipher, passphrase)?;
    let tag = if cipher.has_tag() {
        let bytes: [u8; 16] = parsed
            .tag
            .as_slice()
            .try_into()
            .map_err(|_| ssh_key::Error::Crypto)?;
        Some(ssh_key::cipher::Tag::from(bytes))
    } else {
        None
    };
    let mut plain = parsed.private_section.clone();
    cipher.decrypt(&key, &iv, &mut plain, tag)?;
    if plain.len() < 8 || plain[..4] != plain[4..8] {
        return Err(ssh_key::Error::Crypto);
    }
    Ok(plain)
}

/// The private section rebuilt for the unencrypted block size, with the ECDSA scalar in the
/// form `ssh-key` writes and reads (big-endian, left-padded to `field_size` bytes, a zero byte
/// in front when the top bit is set), and whether the scalar was short. `None` when the
/// section is not one ECDSA keypair laid out as OpenSSH writes it.
fn rebuild_section(section: &[u8], field_size: usize) -> Option<(Vec<u8>, bool)> {
    let mut r = section;
    let checkints = <[u8; 8]>::decode(&mut r).ok()?;
    let key_type = Vec::<u8>::decode(&mut r).ok()?;
    let curve = Vec::<u8>::decode(&mut r).ok()?;
    let point = Vec::<u8>::decode(&mut r).ok()?;
    let scalar = Vec::<u8>::decode(&mut r).ok()?;
    let comment = Vec::<u8>::decode(&mut r).ok()?;
    if !r.iter().enumerate().all(|(i, b)| usize::from(*b) == i + 1) {
        return None;
    }
    let first = scalar.iter().position(|b| *b != 0).unwrap_or(scalar.len());
    let magnitude = &scalar[first..];
    if magnitude.len() > field_size {
        return None;
    }
    let mut padded = vec![0u8; field_size - magnitude.len()];
    padded.extend_from_slice(magnitude);
    if padded[0] & 0x80 != 0 {
        padded.insert(0, 0);
    }
    let short = padded != scalar;

    let mut out = Vec::with_capacity(section.len() + field_size);
    out.extend_from_slice(&checkints);
    for field in [&key_type, &curve, &point, &padded, &comment] {
        field.as_slice().encode(&mut out).ok()?;
    }
    let mut n = 1u8;
    while out.len() % PLAIN_BLOCK != 0 {
        out.push(n);
        n += 1;
    }
    Some((out, short))
}

/// An unencrypted single-key `openssh-key-v1` blob.
fn unencrypted_blob(public_key: &[u8], section: &[u8]) -> Result<Vec<u8>, ssh_key::Error> {
    let mut out = AUTH_MAGIC.to_vec();
    "none".encode(&mut out)?;
    "none".encode(&mut out)?;
    b"".as_slice().encode(&mut out)?;
    1u32.encode(&mut out)?;
    public_key.encode(&mut out)?;
    section.encode(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
