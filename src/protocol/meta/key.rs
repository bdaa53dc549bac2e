//! Base64 keys (the `b` flag): decoded on the way in as memcached decodes
//! them, encoded on the way out as memcached encodes them. The base64
//! itself is the `base64` crate's; what is memcached's own is which input
//! it accepts:
//!
//! - bytes outside the base64 alphabet (and `=`) are skipped, so
//!   `YW#Jj` reads as `YWJj`;
//! - the remaining characters must come in whole quartets (none at all is
//!   an error);
//! - decoding stops after the first quartet holding padding, and a quartet
//!   of three or four `=` is an error.
//!
//! The 250-byte key limit applies to the key as written on the line (the
//! encoded form), as in memcached, so a decoded key is at most 187 bytes.

use crate::model::KEY_MAX_LENGTH;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};

/// The standard alphabet with padding, lenient about the unused bits of
/// the last character (memcached ignores them).
const DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Room for a decoded key: the longest key memcached accepts on a line.
#[derive(Debug)]
pub struct KeyBuf([u8; KEY_MAX_LENGTH]);

impl Default for KeyBuf {
    fn default() -> KeyBuf {
        KeyBuf([0; KEY_MAX_LENGTH])
    }
}

/// Longest base64 text of a key (a 250-byte key, padded).
pub const ENCODED_MAX: usize = KEY_MAX_LENGTH.div_ceil(3) * 4;

fn in_alphabet(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

/// Decodes `token` (at most [`KEY_MAX_LENGTH`] bytes) into `buf` as
/// memcached's decoder reads it; `None` where memcached fails ("error
/// decoding key").
pub fn decode<'a>(token: &[u8], buf: &'a mut KeyBuf) -> Option<&'a [u8]> {
    debug_assert!(token.len() <= KEY_MAX_LENGTH);
    let mut text = [0u8; KEY_MAX_LENGTH];
    let mut n = 0;
    for &b in token.iter().filter(|&&b| in_alphabet(b)) {
        text[n] = b;
        n += 1;
    }
    if n == 0 || n % 4 != 0 {
        return None;
    }
    // memcached stops after the first quartet holding padding.
    let end = text[..n]
        .chunks(4)
        .position(|quartet| quartet.contains(&b'='))
        .map_or(n, |q| (q + 1) * 4);
    let len = DECODER.decode_slice(&text[..end], &mut buf.0).ok()?;
    (len > 0).then_some(&buf.0[..len])
}

/// Appends `key` base64-encoded (standard alphabet, padded) to `out`.
pub fn encode_into(key: &[u8], out: &mut Vec<u8>) {
    let mut text = [0u8; ENCODED_MAX];
    let key = &key[..key.len().min(KEY_MAX_LENGTH)];
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(key, &mut text)
        .expect("room for a key's base64");
    out.extend_from_slice(&text[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(token: &[u8]) -> Option<Vec<u8>> {
        decode(token, &mut KeyBuf::default()).map(<[u8]>::to_vec)
    }

    fn enc(key: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(key, &mut out);
        out
    }

    #[test]
    fn decodes_as_memcached() {
        assert_eq!(dec(b"YWJj").as_deref(), Some(&b"abc"[..]));
        assert_eq!(dec(b"YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(dec(b"YWI=").as_deref(), Some(&b"ab"[..]));
        // Bytes outside the alphabet are skipped.
        assert_eq!(dec(b"YW#Jj").as_deref(), Some(&b"abc"[..]));
        assert_eq!(dec(b"Y.W.J.j").as_deref(), Some(&b"abc"[..]));
        // Decoding stops after the first padded quartet (which must still
        // leave whole quartets overall).
        assert_eq!(dec(b"YQ==YWJj").as_deref(), Some(&b"a"[..]));
        // Unused low bits are ignored.
        assert_eq!(dec(b"YR==").as_deref(), Some(&b"a"[..]));
        // Binary bytes round-trip.
        assert_eq!(dec(b"AAH/").as_deref(), Some(&[0u8, 1, 255][..]));
    }

    #[test]
    fn refuses_what_memcached_refuses() {
        for bad in [
            &b""[..],
            b"Y",
            b"YQ",
            b"YWJ",
            b"YQ=",
            b"####",
            b"Y===",
            b"====",
            b"YQ==YWJ",
            b"foo",
        ] {
            assert_eq!(dec(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn encodes_padded_standard_base64() {
        assert_eq!(enc(b"abc"), b"YWJj");
        assert_eq!(enc(b"a"), b"YQ==");
        assert_eq!(enc(&[0, 1, 255]), b"AAH/");
        let long = [7u8; KEY_MAX_LENGTH];
        assert_eq!(enc(&long).len(), ENCODED_MAX);
    }

    #[test]
    fn the_longest_token_decodes_into_the_buffer() {
        let token = [b'A'; KEY_MAX_LENGTH - 2]; // 248: whole quartets
        assert_eq!(dec(&token).map(|k| k.len()), Some(186));
    }
}
