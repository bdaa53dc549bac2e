//! A certificate's subject as one line (`CN=client,O=Example`), read
//! from its DER with just enough ASN.1 to find the name: for the logs of
//! mutual TLS, without a certificate parsing library.

/// One DER element: tag, contents, and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The short name of an attribute type, or its dotted OID.
fn attribute_name(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x0a] => "O".into(),
        [0x55, 0x04, 0x0b] => "OU".into(),
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress".into(),
        _ => oid.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// The subject of a DER certificate, `None` if it cannot be read.
pub fn subject(cert: &[u8]) -> Option<String> {
    let (_, certificate, _) = element(cert)?;
    let (_, tbs, _) = element(certificate)?;
    let mut rest = tbs;
    // [0] version, when present.
    if rest.first() == Some(&0xa0) {
        rest = element(rest)?.2;
    }
    // serial, signature algorithm, issuer, validity: skipped.
    for _ in 0..4 {
        rest = element(rest)?.2;
    }
    let (_, mut name, _) = element(rest)?;
    let mut parts = Vec::new();
    while !name.is_empty() {
        let (_, set, after) = element(name)?;
        name = after;
        let (_, pair, _) = element(set)?;
        let (_, oid, value) = element(pair)?;
        let (_, value, _) = element(value)?;
        parts.push(format!(
            "{}={}",
            attribute_name(oid),
            String::from_utf8_lossy(value)
        ));
    }
    Some(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_none_not_a_panic() {
        assert_eq!(subject(b""), None);
        assert_eq!(subject(&[0x30, 0x82, 0xff]), None);
        assert_eq!(subject(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
    }
}
