//! The Certificates pane: one row per watched certificate.
//!
//! Part of [`crate::view`]: pure rows from the inventory, the state, the verdicts and `now`.

use super::*;

/// One watched certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct CertRow {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// Host name.
    pub host_name: String,
    /// Certificate name.
    pub name: String,
    /// PEM path on the host.
    pub path: String,
    /// Days to expiry (negative: expired).
    pub days_left: Option<i64>,
    /// `23d`, `expired 3d ago`, `n/a`, `-`.
    pub expires_in: String,
    /// Expiry date, `2027-03-01`.
    pub not_after: String,
    /// Subject.
    pub subject: String,
    /// Expired critical, within `cert_warn_days` warning.
    pub status: Status,
    /// Why it could not be read.
    pub error: Option<String>,
    /// Freshness of the certificate readings.
    pub fresh: Freshness,
}

impl CertRow {
    /// Fields a filter looks at.
    pub fn filter_fields(&self) -> impl Iterator<Item = &str> {
        [
            self.host_name.as_str(),
            self.name.as_str(),
            self.path.as_str(),
        ]
        .into_iter()
    }
}

fn date(epoch_secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch_secs)
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
        .unwrap_or_else(|_| "-".into())
}

/// The watched certificates of `hosts`.
pub fn cert_rows(ctx: &Ctx, hosts: &[usize]) -> Vec<CertRow> {
    let mut out = Vec::new();
    for &i in hosts {
        let (host, hs, _) = ctx.host(i);
        let hnow = host_now(hs.probed.as_ref(), ctx.now);
        let certs = certs_of(hs);
        let fresh = Part::Certs.freshness(host, hs, ctx.now);
        for (k, c) in host.certs.iter().enumerate() {
            let mut row = CertRow {
                host: i,
                host_name: host.name.clone(),
                name: c.name.clone(),
                path: c.path.clone(),
                days_left: None,
                expires_in: "-".into(),
                not_after: "-".into(),
                subject: String::new(),
                status: Status::Unknown,
                error: None,
                fresh,
            };
            match certs.and_then(|cs| cs.get(k)).map(|o| &o.info) {
                Some(Metric::Value(info)) => {
                    let days = (info.not_after - hnow).div_euclid(86_400);
                    row.days_left = Some(days);
                    row.expires_in = if info.not_after <= hnow {
                        format!("expired {}d ago", (hnow - info.not_after) / 86_400)
                    } else {
                        format!("{days}d")
                    };
                    row.not_after = date(info.not_after);
                    row.subject = info.subject.clone();
                    row.status = if info.not_after <= hnow {
                        Status::Critical
                    } else if days < host.thresholds.cert_warn_days as i64 {
                        Status::Warning
                    } else {
                        Status::Ok
                    };
                }
                Some(Metric::Unavailable(why)) => {
                    row.expires_in = "n/a".into();
                    row.error = Some(why.clone());
                }
                Some(Metric::Error(e)) => {
                    row.expires_in = "err".into();
                    row.error = Some(e.clone());
                    row.status = Status::Warning;
                }
                None => {}
            }
            out.push(row);
        }
    }
    out
}
