//! Key loading against the committed fixtures (tests/fixtures/keys, made by `ssh-keygen`):
//! every short-scalar ECDSA key loads, signs verifiably, and keeps its integer; every other key
//! loads exactly as russh alone loads it.

use super::*;
use russh::keys::ssh_key::{HashAlg, PublicKey};

const PASSPHRASE: &str = "fleetdeck test passphrase";

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../../tests/fixtures/keys/", $name)),
            include_str!(concat!("../../../tests/fixtures/keys/", $name, ".pub")),
        )
    };
}

/// (name, private key file, public key file) of the short-scalar fixtures.
const SHORT: [(&str, &str, &str); 5] = [
    fixture!("ecdsa-p256-short"),
    fixture!("ecdsa-p384-short"),
    fixture!("ecdsa-p521-short"),
    fixture!("ecdsa-p256-short-aes256"),
    fixture!("ecdsa-p256-short-chacha20"),
];

/// Keys the decoder always accepted.
const ORDINARY: [(&str, &str, &str); 2] = [fixture!("ecdsa-p256"), fixture!("rsa-3072")];

fn passphrase_for(name: &str) -> Option<&'static str> {
    (name.ends_with("aes256") || name.ends_with("chacha20")).then_some(PASSPHRASE)
}

/// The scalar as stored in an unencrypted fixture (or its decrypted section), and the field size.
fn stored_scalar(text: &str, passphrase: Option<&str>) -> (Vec<u8>, usize) {
    let OpensshBlob(blob) = OpensshBlob::decode_pem(text.trim()).unwrap();
    let parsed = parse_blob(&blob).unwrap();
    let size = ecdsa_field_size(&parsed.public_key).unwrap();
    let section = match passphrase {
        None => parsed.private_section.clone(),
        Some(p) => decrypt(&parsed, Cipher::new(&parsed.cipher_name).unwrap(), p).unwrap(),
    };
    let mut r = &section[8..];
    for _ in 0..3 {
        Vec::<u8>::decode(&mut r).unwrap();
    }
    (Vec::<u8>::decode(&mut r).unwrap(), size)
}

#[test]
fn the_fixtures_really_have_short_scalars() {
    for (name, text, _) in SHORT {
        let (scalar, size) = stored_scalar(text, passphrase_for(name));
        assert!(
            scalar.len() < size,
            "{name}: {} of {size} bytes",
            scalar.len()
        );
    }
    let (scalar, size) = stored_scalar(ORDINARY[0].1, None);
    assert_eq!(
        (scalar.len(), scalar[0]),
        (size + 1, 0),
        "the ordinary P-256 fixture has a full-size scalar with its sign byte"
    );
}

/// Why this module exists: russh's own decoder rejects the short P-256 key. When this starts
/// failing, a russh release has taken an `ssh-key` that accepts it, and the repair can go.
#[test]
fn russh_alone_rejects_the_short_p256_key() {
    let err = russh::keys::decode_secret_key(SHORT[0].1, None).unwrap_err();
    assert!(err.to_string().contains("length invalid"), "{err}");
    let err = russh::keys::decode_secret_key(SHORT[3].1, Some(PASSPHRASE)).unwrap_err();
    assert!(err.to_string().contains("length invalid"), "{err}");
    // P-521 is not affected: its key two bytes short (64 of 66) loads with russh alone, and the
    // repair must leave such a key exactly as russh reads it.
    let alone = russh::keys::decode_secret_key(SHORT[2].1, None).expect("russh loads short P-521");
    let repaired = decode_secret_key(SHORT[2].1, None).expect("repair loads short P-521");
    assert_eq!(alone.public_key(), repaired.public_key());
}

#[test]
fn short_scalar_keys_load_with_the_same_integer_and_sign_verifiably() {
    for (name, text, public) in SHORT {
        let passphrase = passphrase_for(name);
        let key = decode_secret_key(text, passphrase).unwrap_or_else(|e| panic!("{name}: {e}"));
        let public = PublicKey::from_openssh(public).unwrap();
        assert_eq!(key.public_key().key_data(), public.key_data(), "{name}");
        let (scalar, size) = stored_scalar(text, passphrase);
        let bytes = key.key_data().ecdsa().unwrap().private_key_bytes();
        assert_eq!(bytes.len(), size, "{name}");
        // Zero-padded at the most significant end: the same big-endian integer.
        assert_eq!(&bytes[size - scalar.len()..], scalar.as_slice(), "{name}");
        assert!(
            bytes[..size - scalar.len()].iter().all(|b| *b == 0),
            "{name}"
        );
        // A signature that verifies against the public key proves d·G = Q.
        let sig = key.sign("fleetdeck-test", HashAlg::Sha256, b"msg").unwrap();
        public
            .verify("fleetdeck-test", b"msg", &sig)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(key.comment(), public.comment(), "{name}: comment kept");
    }
}

#[test]
fn ordinary_keys_load_exactly_as_russh_loads_them() {
    for (name, text, _) in ORDINARY {
        let ours = decode_secret_key(text, None).unwrap();
        let theirs = russh::keys::decode_secret_key(text, None).unwrap();
        assert_eq!(ours, theirs, "{name}");
        assert!(
            normalised_ecdsa(text, None).unwrap().is_none(),
            "{name}: untouched"
        );
    }
}

#[test]
fn encrypted_keys_need_the_right_passphrase() {
    for (name, text, _) in &SHORT[3..] {
        assert!(
            matches!(
                decode_secret_key(text, None),
                Err(russh::keys::Error::KeyIsEncrypted)
            ),
            "{name}"
        );
        let err = decode_secret_key(text, Some("wrong")).unwrap_err();
        assert!(
            matches!(err, russh::keys::Error::SshKey(ssh_key::Error::Crypto)),
            "{name}: {err:?}"
        );
    }
}

/// Cut or damaged files fail as errors (from russh's decoder, which gets them back), never a
/// panic and never a key.
#[test]
fn damaged_files_are_errors() {
    let (_, text, _) = SHORT[0];
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    for cut in (0..body.len()).step_by(7) {
        let mut damaged = body.clone();
        damaged.truncate(cut);
        let pem = format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{damaged}\n-----END OPENSSH PRIVATE KEY-----\n"
        );
        assert!(decode_secret_key(&pem, None).is_err(), "cut at {cut}");
    }
    assert!(decode_secret_key("", None).is_err());
    assert!(decode_secret_key("not a key", Some("x")).is_err());
}
