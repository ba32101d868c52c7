//! Certificates: reading a PEM certificate's validity with the host's own `openssl`.
//!
//! This module owns the command (`openssl x509 -noout -enddate -startdate -subject -issuer`)
//! and the pure parser of its output, including the dates in openssl's
//! `Nov 22 04:45:50 2027 GMT` form. Only the first certificate of a file is read: in a chain
//! file (a FISCO BCOS `node.crt` holds the node's certificate, then its agency's) that is the
//! leaf, the one that expires first in practice.
//!
//! It must not judge expiry (days left and the `cert_warn_days` rule are `health`'s) nor read
//! clocks or files. Callers: [`super::script`], on polls whose plan includes certificates.

use time::macros::format_description;
use time::{Month, PrimitiveDateTime};

use super::parse::{ParseError, first_line, shorten};
use crate::observation::CertInfo;

/// Arguments after `openssl x509` (the path follows `-in`).
pub const OPENSSL_ARGS: &str = "x509 -noout -enddate -startdate -subject -issuer";

/// `openssl x509 -noout -enddate -startdate -subject -issuer` output: `notAfter=…`,
/// `notBefore=…`, `subject=…`, `issuer=…` lines in any order. OpenSSL 1.0 prints
/// `subject= /CN=x/O=y`, 1.1 and 3.x `subject=CN = x, O = y`; both are kept as printed.
pub fn parse_x509_dates(text: &str) -> Result<CertInfo, ParseError> {
    let mut not_after = None;
    let mut not_before = None;
    let mut subject = None;
    let mut issuer = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "notAfter" => {
                not_after =
                    Some(parse_openssl_time(value).ok_or_else(|| {
                        ParseError::new("notAfter=MON DD HH:MM:SS YYYY GMT", line)
                    })?)
            }
            "notBefore" => not_before = parse_openssl_time(value),
            "subject" => subject = Some(shorten(value, 200)),
            "issuer" => issuer = Some(shorten(value, 200)),
            _ => {}
        }
    }
    let not_after = not_after
        .ok_or_else(|| ParseError::new("a notAfter= line from openssl x509", first_line(text)))?;
    Ok(CertInfo {
        not_after,
        not_before,
        subject: subject.unwrap_or_default(),
        issuer,
    })
}

/// `Nov 22 04:45:50 2027 GMT` (ASN.1 time as OpenSSL prints it; single-digit days are padded
/// with a space, `Jan  5 …`) → epoch seconds.
pub fn parse_openssl_time(v: &str) -> Option<i64> {
    let toks: Vec<&str> = v.split_whitespace().collect();
    let [mon, day, clock, year, zone] = toks.as_slice() else {
        return None;
    };
    if *zone != "GMT" && *zone != "UTC" {
        return None;
    }
    let month = match *mon {
        "Jan" => Month::January,
        "Feb" => Month::February,
        "Mar" => Month::March,
        "Apr" => Month::April,
        "May" => Month::May,
        "Jun" => Month::June,
        "Jul" => Month::July,
        "Aug" => Month::August,
        "Sep" => Month::September,
        "Oct" => Month::October,
        "Nov" => Month::November,
        "Dec" => Month::December,
        _ => return None,
    };
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let text = format!(
        "{year}-{:02}-{:0>2} {clock}",
        u8::from(month),
        day.parse::<u8>().ok()?
    );
    PrimitiveDateTime::parse(&text, &fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// A one-line reason from openssl's stderr, which starts with the useful sentence and then
/// lists library error stacks.
pub fn openssl_failure(stderr: &str) -> String {
    let useful = stderr
        .lines()
        .map(str::trim)
        .find(|l| {
            !l.is_empty() && !l.contains(":error:") && !l.starts_with("Unable to load certificate")
        })
        .or_else(|| stderr.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("openssl failed");
    // "… from /nonexistent" says less than the errno line hidden in the stack.
    if stderr.contains("No such file or directory") {
        return "no such file".to_string();
    }
    if stderr.contains("Permission denied") {
        return "permission denied".to_string();
    }
    shorten(useful, 160)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded with OpenSSL 3.0.19 on a certificate made by
    // `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365
    //  -subj "/CN=node0/O=fisco-bcos/OU=agency"`.
    const OPENSSL3: &str = "notAfter=Nov 22 04:45:50 2027 GMT\nnotBefore=Nov 22 04:45:50 2026 GMT\nsubject=CN = node0, O = fisco-bcos, OU = agency\nissuer=CN = node0, O = fisco-bcos, OU = agency\n";
    const MISSING: &str = "Could not open file or uri for loading certificate from /nonexistent\n804BE4D23B7F0000:error:16000069:STORE routines:ossl_store_get0_loader_int:unregistered scheme:../crypto/store/store_register.c:237:scheme=file\n804BE4D23B7F0000:error:80000002:system library:file_open:No such file or directory:../providers/implementations/storemgmt/file_store.c:266:calling stat(/nonexistent)\nUnable to load certificate\n";
    const NOT_PEM: &str = "Could not read certificate from bad.crt\nUnable to load certificate\n";

    #[test]
    fn reads_openssl_3_output() {
        let c = parse_x509_dates(OPENSSL3).unwrap();
        assert_eq!(c.not_after, 1_826_858_750);
        assert_eq!(c.not_before, Some(1_826_858_750 - 365 * 86_400));
        assert_eq!(c.subject, "CN = node0, O = fisco-bcos, OU = agency");
        assert_eq!(c.issuer.as_deref(), Some(c.subject.as_str()));
        // OpenSSL 1.0 style, only the two fields asked by older scripts.
        let old = "notAfter=Jan  5 00:00:00 2030 GMT\nsubject= /C=CN/O=org/CN=sdk\n";
        let c = parse_x509_dates(old).unwrap();
        assert_eq!(c.not_after, 1_893_801_600);
        assert_eq!(c.subject, "/C=CN/O=org/CN=sdk");
        assert_eq!(c.not_before, None);
    }

    #[test]
    fn bad_output_is_an_error() {
        assert!(parse_x509_dates("").is_err());
        assert!(parse_x509_dates("subject=CN = x\n").is_err());
        assert!(parse_x509_dates("notAfter=tomorrow\n").is_err());
        assert_eq!(parse_openssl_time("Feb 30 00:00:00 2030 GMT"), None);
        assert_eq!(parse_openssl_time("Nov 22 04:45:50 2027 CET"), None);
    }

    #[test]
    fn failures_read_well() {
        assert_eq!(openssl_failure(MISSING), "no such file");
        assert_eq!(
            openssl_failure(NOT_PEM),
            "Could not read certificate from bad.crt"
        );
        assert_eq!(openssl_failure(""), "openssl failed");
    }
}
