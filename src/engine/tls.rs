//! TLS for https URLs (and https proxies): ureq's rustls settings from the
//! run's trust store, and certificate errors in words a user can act on.

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, CipherSuite};
use ureq::config::Config;
use ureq::tls::{RootCerts, TlsConfig};
use ureq::unversioned::transport::{ConnectionDetails, Connector, RustlsConnector, Transport};

use crate::config::trust::Trust;

/// The TLS settings every connection of the run uses.
pub fn config(trust: &Trust) -> TlsConfig {
    let builder = TlsConfig::builder().unversioned_rustls_crypto_provider(provider());
    match trust {
        Trust::Bundled => builder.root_certs(RootCerts::WebPki),
        Trust::Roots { roots, .. } => builder.root_certs(RootCerts::new_with_certs(roots)),
        Trust::Insecure => builder.disable_verification(true),
        // Not read yet: `Tls` puts the loaded store in. Until then nothing
        // is trusted, so a connection that missed it fails rather than
        // trusting the wrong roots.
        Trust::Environment { .. } => builder.root_certs(RootCerts::new_with_certs(&[])),
    }
    .build()
}

/// ureq's TLS connector, with a store that is read at the first https
/// connection (`Trust::Environment`) put into the settings it sees. Clones
/// share that store, read once.
#[derive(Clone)]
pub struct Tls {
    rustls: Arc<RustlsConnector>,
    store: Arc<LateStore>,
}

struct LateStore {
    trust: Trust,
    /// The agent's settings with a given TLS part.
    settings: Box<dyn Fn(TlsConfig) -> Config + Send + Sync>,
    loaded: OnceLock<Result<Config, TrustError>>,
}

impl Tls {
    pub fn new(
        trust: &Trust,
        settings: impl Fn(TlsConfig) -> Config + Send + Sync + 'static,
    ) -> Tls {
        Tls {
            rustls: Arc::new(RustlsConnector::default()),
            store: Arc::new(LateStore {
                trust: trust.clone(),
                settings: Box::new(settings),
                loaded: OnceLock::new(),
            }),
        }
    }

    fn loaded(&self) -> Result<&Config, ureq::Error> {
        let store = &self.store;
        let loaded = store.loaded.get_or_init(|| {
            let trust = store.trust.load().map_err(TrustError)?;
            Ok((store.settings)(config(&trust)))
        });
        loaded
            .as_ref()
            .map_err(|e| ureq::Error::Other(Box::new(e.clone())))
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tls({:?})", self.store.trust)
    }
}

impl<In: Transport> Connector<In> for Tls {
    type Out = <RustlsConnector as Connector<In>>::Out;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if !details.needs_tls() || !matches!(self.store.trust, Trust::Environment { .. }) {
            return self.rustls.connect(details, chained);
        }
        let details = ConnectionDetails {
            config: self.loaded()?,
            ..copy(details)
        };
        self.rustls.connect(&details, chained)
    }
}

/// `details` as they are, to be changed in a field or two.
pub fn copy<'a>(details: &ConnectionDetails<'a>) -> ConnectionDetails<'a> {
    ConnectionDetails {
        uri: details.uri,
        addrs: details.addrs.clone(),
        config: details.config,
        request_level: details.request_level,
        resolver: details.resolver,
        now: details.now,
        timeout: details.timeout,
        current_time: details.current_time.clone(),
        run_connector: details.run_connector.clone(),
        register_shutdown: details.register_shutdown.clone(),
    }
}

/// A trust store from the environment that could not be read.
#[derive(Debug, Clone)]
pub struct TrustError(String);

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS: {}", self.0)
    }
}

impl std::error::Error for TrustError {}

/// The trust store error behind a failed connection, if that is what failed.
pub fn trust_error(error: &ureq::Error) -> Option<&TrustError> {
    match error {
        ureq::Error::Other(e) => e.downcast_ref(),
        _ => None,
    }
}

/// ring (ureq's own provider) with AES-128-GCM offered first, as browsers
/// and Go do: servers mostly take the client's order, and for bulk
/// transfers it costs less CPU than AES-256-GCM on both ends.
fn provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.sort_by_key(|suite| {
        !matches!(
            suite.suite(),
            CipherSuite::TLS13_AES_128_GCM_SHA256
                | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        )
    });
    Arc::new(provider)
}

/// The certificate error behind a failed handshake, if that is what failed.
/// rustls reports it inside an `io::Error` that ureq passes on.
pub fn certificate_error(error: &ureq::Error) -> Option<&CertificateError> {
    let rustls = match error {
        ureq::Error::Rustls(e) => e,
        ureq::Error::Io(e) => e.get_ref()?.downcast_ref::<rustls::Error>()?,
        _ => return None,
    };
    match rustls {
        rustls::Error::InvalidCertificate(e) => Some(e),
        _ => None,
    }
}

/// A certificate error in words a user can act on.
pub fn describe(error: &CertificateError) -> String {
    match error {
        CertificateError::UnknownIssuer => {
            "TLS: the server's certificate is not signed by a trusted \
             authority (unknown issuer); trust its CA with --cacert FILE, or the system's \
             store with --ca-native"
                .into()
        }
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "TLS: the server's certificate is for {}, not {}",
            names(presented),
            expected.to_str()
        ),
        CertificateError::NotValidForName => {
            "TLS: the server's certificate is not for this host name".into()
        }
        CertificateError::ExpiredContext { not_after, .. } => format!(
            "TLS: the server's certificate expired on {}",
            date(not_after.as_secs())
        ),
        CertificateError::Expired => "TLS: the server's certificate has expired".into(),
        CertificateError::NotValidYetContext { not_before, .. } => format!(
            "TLS: the server's certificate is not valid before {}",
            date(not_before.as_secs())
        ),
        CertificateError::Other(other)
            if matches!(
                other.0.downcast_ref::<webpki::Error>(),
                Some(webpki::Error::CaUsedAsEndEntity)
            ) =>
        {
            "TLS: the server's certificate is a CA certificate (a self-signed one made \
             with CA:TRUE); give the server a certificate signed by that CA, or use \
             --insecure"
                .into()
        }
        CertificateError::Revoked => "TLS: the server's certificate has been revoked".into(),
        CertificateError::BadSignature => {
            "TLS: the server's certificate is not signed by the trusted CA of its \
             issuer's name (another CA with the same name, or a damaged certificate)"
                .into()
        }
        CertificateError::BadEncoding => "TLS: the server's certificate is damaged".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "TLS: the server's certificate is not one for a server (its key usage)".into()
        }
        other => format!("TLS: the server's certificate was refused: {other}"),
    }
}

/// `a`, `a and b`, `a, b and c`: the names a certificate is for.
fn names(presented: &[String]) -> String {
    let bare: Vec<&str> = presented.iter().map(|name| bare_name(name)).collect();
    match bare.as_slice() {
        [] => "no host name".into(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// webpki writes a presented name as `DnsName("host")` or
/// `IpAddress(1.2.3.4)`; the name alone.
fn bare_name(presented: &str) -> &str {
    presented
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .map_or(presented, |inner| inner.trim_matches('"'))
}

/// Seconds since 1970 as `YYYY-MM-DD HH:MM:SS UTC` (the proleptic Gregorian
/// calendar, by Howard Hinnant's `civil_from_days`).
fn date(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let time = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(date(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(date(1_577_836_799), "2019-12-31 23:59:59 UTC");
        assert_eq!(date(4_102_444_800), "2100-01-01 00:00:00 UTC");
    }

    #[test]
    fn names_read_as_a_list() {
        let list = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(names(&list(&["a"])), "a");
        assert_eq!(names(&list(&["a", "b", "c"])), "a, b and c");
        assert_eq!(
            names(&list(&["DnsName(\"h.example\")", "IpAddress(1.2.3.4)"])),
            "h.example and 1.2.3.4"
        );
    }

    #[test]
    fn a_ca_certificate_served_as_the_servers_own_is_said_in_words() {
        let webpki = Arc::new(webpki::Error::CaUsedAsEndEntity);
        let error = CertificateError::Other(rustls::OtherError(webpki));
        let text = describe(&error);
        assert!(
            text.contains("CA:TRUE") && text.contains("--insecure"),
            "{text}"
        );
        assert!(!text.contains("Other("), "{text}");
    }

    #[test]
    fn a_certificate_error_is_found_inside_an_io_error() {
        let rustls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let error = ureq::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, rustls));
        let found = certificate_error(&error).unwrap();
        assert!(describe(found).contains("--cacert"));
        assert!(certificate_error(&ureq::Error::HostNotFound).is_none());
    }
}
