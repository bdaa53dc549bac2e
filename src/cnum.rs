//! C's number conversions as memcached uses them (`safe_strtoull`,
//! `safe_strtoul`, `safe_strtol`): leading white space, an optional sign, at
//! least one digit, then only white space or the end; the sign and range
//! rules of each. Every protocol, text auth and the counters of `incr` read
//! numbers this way, so they share one copy. A leaf: it imports nothing.

/// C's `isspace` in the "C" locale.
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Splits a token as C's strto* family reads it: whether a `-` was
/// written, and the digits.
fn c_number(tok: &[u8]) -> Option<(bool, &[u8])> {
    let start = tok.iter().take_while(|&&b| is_c_space(b)).count();
    let mut rest = &tok[start..];
    let negative = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'-' | b'+')) {
        rest = &rest[1..];
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || rest[digits..].first().is_some_and(|&b| !is_c_space(b)) {
        return None;
    }
    Some((negative, &rest[..digits]))
}

fn digits_value(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add((d - b'0') as u64)
    })
}

/// memcached's `safe_strtoull`: must fit 64 bits; `strtoull` negates
/// "-N", and memcached refuses the result only when it looks negative as a
/// signed number (so "-0" reads as 0).
pub fn c_strtoull(tok: &[u8]) -> Option<u64> {
    let (negative, digits) = c_number(tok)?;
    let v = digits_value(digits)?;
    if negative {
        let wrapped = v.wrapping_neg();
        return ((wrapped as i64) >= 0).then_some(wrapped);
    }
    Some(v)
}

/// memcached's `safe_strtoul`: C's `strtoul` (64-bit `long`), negative
/// numbers refused, the result then *truncated* to 32 bits as memcached's
/// `*out = l` does (so flags 4294967297 are stored as 1).
pub fn c_strtoul32(tok: &[u8]) -> Option<u32> {
    c_strtoull(tok).map(|v| v as u32)
}

/// memcached's `safe_strtol`: C's `strtol` (64-bit `long`, out-of-range
/// refused), then truncated to 32 bits as memcached's `*out = l` does (so an
/// exptime of 2147483648 wraps to a negative, already-expired time).
pub fn c_strtol32(tok: &[u8]) -> Option<i32> {
    let (negative, digits) = c_number(tok)?;
    let v = digits_value(digits)? as i128;
    let v = if negative { -v } else { v };
    i64::try_from(v).ok().map(|l| l as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_number_rules() {
        assert_eq!(c_strtol32(b"-5"), Some(-5));
        assert_eq!(c_strtol32(b"+5"), Some(5));
        assert_eq!(c_strtol32(b"\t5"), Some(5));
        assert_eq!(c_strtol32(b"5x"), None);
        assert_eq!(c_strtol32(b""), None);
        assert_eq!(c_strtol32(b"2147483648"), Some(i32::MIN));
        assert_eq!(c_strtol32(b"99999999999999999999"), None);
        assert_eq!(c_strtoul32(b"4294967297"), Some(1));
        assert_eq!(c_strtoul32(b"-1"), None);
        assert_eq!(c_strtoul32(b"4294967295"), Some(u32::MAX));
        assert_eq!(c_strtoull(b"-1"), None);
        assert_eq!(c_strtoull(b"-0"), Some(0));
        assert_eq!(c_strtoull(b"18446744073709551616"), None);
        assert_eq!(c_strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(c_strtoull(b" 42\r\n"), Some(42));
        assert_eq!(c_strtoull(b"4 2"), Some(4));
    }
}
