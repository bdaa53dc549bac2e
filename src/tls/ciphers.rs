//! `ssl_ciphers`: an OpenSSL cipher list mapped onto rustls's suites.
//!
//! Names are OpenSSL's (`ECDHE-RSA-AES128-GCM-SHA256`) or IANA's
//! (`TLS_AES_128_GCM_SHA256`). `DEFAULT`, `ALL`, `HIGH` and `SECURE`
//! stand for every suite rustls has (all of them are strong), and an
//! exclusion of something rustls never offers (`!aNULL`, `!MD5`, `!RC4`,
//! ...) is already so. As with OpenSSL's cipher list, naming only TLS 1.2
//! suites leaves the TLS 1.3 suites on; naming a TLS 1.3 suite limits
//! TLS 1.3 to the suites named. Anything else is refused with the list
//! of names rustls has.

use rustls::{CipherSuite, SupportedCipherSuite};

/// OpenSSL's name, IANA's name, the suite.
const NAMES: &[(&str, &str, CipherSuite)] = &[
    (
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_256_GCM_SHA384",
        CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_128_GCM_SHA256",
        CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// Words that mean every suite rustls has.
const EVERYTHING: &[&str] = &["DEFAULT", "ALL", "HIGH", "SECURE", "@STRENGTH"];

/// Exclusions of what rustls never offers.
const NEVER_OFFERED: &[&str] = &[
    "aNULL", "eNULL", "NULL", "MD5", "RC4", "DES", "3DES", "EXPORT", "EXP", "LOW", "MEDIUM", "PSK",
    "SRP", "DSS", "CAMELLIA", "SEED", "IDEA", "aDSS", "kRSA", "RSA", "SHA1", "CBC", "ADH", "AECDH",
    "kDHE", "DHE", "EDH",
];

/// The suites an `ssl_ciphers` value allows, in rustls's preference
/// order; all of `available` without one.
pub fn select(
    available: &[SupportedCipherSuite],
    list: Option<&str>,
) -> Result<Vec<SupportedCipherSuite>, String> {
    let Some(list) = list else {
        return Ok(available.to_vec());
    };
    let mut named: Vec<CipherSuite> = Vec::new();
    let mut everything = false;
    for word in list
        .split([':', ',', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_start_matches('+'))
    {
        if EVERYTHING.contains(&word) {
            everything = true;
        } else if let Some(excluded) = word.strip_prefix(['!', '-']) {
            if !NEVER_OFFERED.contains(&excluded) {
                return Err(format!(
                    "ssl_ciphers={list}: rustls cannot exclude {excluded:?}: name the suites to keep instead (rustls has {})",
                    all_names()
                ));
            }
        } else if let Some((_, _, suite)) = NAMES.iter().find(|(o, i, _)| *o == word || *i == word)
        {
            named.push(*suite);
        } else {
            return Err(format!(
                "ssl_ciphers={list}: rustls has no cipher suite {word:?} (it has {})",
                all_names()
            ));
        }
    }
    let is13 = |s: &SupportedCipherSuite| matches!(s, SupportedCipherSuite::Tls13(_));
    let names13 = named
        .iter()
        .any(|n| available.iter().any(|s| s.suite() == *n && is13(s)));
    let picked: Vec<SupportedCipherSuite> = available
        .iter()
        .filter(|s| everything || named.contains(&s.suite()) || (is13(s) && !names13))
        .copied()
        .collect();
    if !picked.iter().any(|s| !is13(s)) && !names13 && !everything {
        return Err(format!(
            "ssl_ciphers={list}: no suite rustls has is named (it has {})",
            all_names()
        ));
    }
    Ok(picked)
}

fn all_names() -> String {
    NAMES
        .iter()
        .map(|(o, _, _)| *o)
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Vec<SupportedCipherSuite> {
        rustls::crypto::ring::default_provider().cipher_suites
    }

    fn names(list: &str) -> Result<Vec<CipherSuite>, String> {
        select(&ring(), Some(list)).map(|v| v.iter().map(|s| s.suite()).collect())
    }

    #[test]
    fn no_list_and_keywords_keep_every_suite() {
        assert_eq!(select(&ring(), None).unwrap().len(), ring().len());
        assert_eq!(names("HIGH:!aNULL:!MD5").unwrap().len(), ring().len());
    }

    #[test]
    fn tls12_names_restrict_tls12_and_keep_tls13_as_openssl_does() {
        let got = names("ECDHE-RSA-AES128-GCM-SHA256").unwrap();
        assert!(got.contains(&CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256));
        assert!(!got.contains(&CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384));
        assert!(got.contains(&CipherSuite::TLS13_AES_256_GCM_SHA384));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn a_tls13_name_restricts_tls13() {
        let got = names("TLS_AES_128_GCM_SHA256").unwrap();
        assert_eq!(got, [CipherSuite::TLS13_AES_128_GCM_SHA256]);
    }

    #[test]
    fn what_rustls_lacks_is_refused_naming_what_it_has() {
        let e = names("AES128-SHA").unwrap_err();
        assert!(
            e.contains("AES128-SHA") && e.contains("ECDHE-RSA-AES128-GCM-SHA256"),
            "{e}"
        );
        assert!(names("HIGH:!ECDHE").is_err());
        assert!(!names("RC4-MD5").unwrap_err().contains('\n'));
    }
}
