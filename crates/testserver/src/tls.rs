//! HTTPS for the tests: certificates made for the run (rcgen), and the
//! server's TLS settings (rustls). Compiled only with the `tls` feature.
//!
//! [`Pki::new`] makes a CA no system trusts, and leaves signed by it: one
//! for `127.0.0.1` and `localhost`, one that expired on 2020-01-01, and one
//! for another name. [`Server::https`] serves the usual generated files over
//! TLS with one of them.

use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A leaf certificate with its key, and the CA that signed it, as a server
/// presents them.
#[derive(Debug)]
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

impl Identity {
    /// The server side of TLS with this identity.
    pub fn server_config(&self) -> io::Result<Arc<ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|builder| {
                builder
                    .with_no_client_auth()
                    .with_single_cert(self.chain.clone(), key)
            })
            .map_err(io::Error::other)?;
        Ok(Arc::new(config))
    }
}

/// A CA made for this run and the leaves it signed.
pub struct Pki {
    /// The CA's certificate in PEM, for `--cacert` and `SSL_CERT_FILE`.
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
}

impl Pki {
    /// A fresh CA.
    ///
    /// # Panics
    ///
    /// If rcgen cannot make a key or a certificate (it always can).
    pub fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "tget test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a CA key");
        let cert = params.self_signed(&key).expect("a CA certificate");
        Pki {
            ca_pem: cert.pem(),
            ca_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `127.0.0.1` and `localhost`, valid now.
    pub fn good(&self) -> Identity {
        self.leaf(&["127.0.0.1", "localhost"], None)
    }

    /// A leaf for `127.0.0.1` and `localhost` that expired on 2020-01-01.
    pub fn expired(&self) -> Identity {
        self.leaf(&["127.0.0.1", "localhost"], Some((2019, 2020)))
    }

    /// A leaf valid now, but for `wrong.example` only.
    pub fn wrong_name(&self) -> Identity {
        self.leaf(&["wrong.example"], None)
    }

    /// A leaf for `names`, valid from January 1 of the first year to
    /// January 1 of the second when given.
    fn leaf(&self, names: &[&str], years: Option<(i32, i32)>) -> Identity {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "tget test server");
        if let Some((from, to)) = years {
            params.not_before = date_time_ymd(from, 1, 1);
            params.not_after = date_time_ymd(to, 1, 1);
        }
        let key = KeyPair::generate().expect("a leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("a leaf certificate");
        Identity {
            chain: vec![cert.der().clone(), self.ca_der.clone()],
            key: key.serialize_der(),
        }
    }
}

impl Default for Pki {
    fn default() -> Pki {
        Pki::new()
    }
}
