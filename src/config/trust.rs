//! Which certificates an https server may present: the bundled Mozilla
//! roots by default; `--cacert FILE` (every certificate of the PEM bundle),
//! `--ca-native` (the operating system's store), or `SSL_CERT_FILE` /
//! `SSL_CERT_DIR` when set, as OpenSSL-based tools read them; or none
//! checked at all with `--insecure`.

use std::fs;
use std::path::{Path, PathBuf};

use ureq::tls::{Certificate, PemItem, parse_pem};

/// The trust store, resolved.
#[derive(Clone)]
pub enum Trust {
    /// The Mozilla roots compiled into tget (webpki-roots): works in a
    /// minimal container with no certificate files.
    Bundled,
    /// Exactly these roots, and no others.
    Roots {
        /// Where they came from, for messages: `--cacert FILE` and the like.
        source: String,
        roots: Vec<Certificate<'static>>,
    },
    /// `--insecure`: no certificate is checked.
    Insecure,
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR`, found readable but not read yet:
    /// a distribution's store takes milliseconds to parse, which a batch of
    /// http URLs should not pay. `load` reads it at the first https
    /// connection.
    Environment {
        file: Option<String>,
        dirs: Option<String>,
    },
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::Bundled => write!(f, "Bundled"),
            Trust::Roots { source, roots } => write!(f, "Roots({source}, {})", roots.len()),
            Trust::Insecure => write!(f, "Insecure"),
            Trust::Environment { file, dirs } => write!(f, "Environment({file:?}, {dirs:?})"),
        }
    }
}

/// The flags that choose a trust store.
#[derive(Debug, Clone, Default)]
pub struct TrustFlags {
    pub cacert: Option<PathBuf>,
    pub native: bool,
    pub insecure: bool,
}

impl Trust {
    /// Flags win over the environment, `--insecure` over everything.
    pub fn resolve(
        flags: &TrustFlags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Trust, String> {
        if flags.insecure {
            return Ok(Trust::Insecure);
        }
        if let Some(file) = &flags.cacert {
            let roots = bundle(file).map_err(|e| format!("--cacert {}: {e}", file.display()))?;
            return Ok(roots_from(format!("--cacert {}", file.display()), roots));
        }
        if flags.native {
            return native();
        }
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let (file, dirs) = (set("SSL_CERT_FILE"), set("SSL_CERT_DIR"));
        if file.is_none() && dirs.is_none() {
            return Ok(Trust::Bundled);
        }
        // What can be checked without parsing is checked now, so a wrong
        // path or a store with nothing in it is still an input error before
        // the first request; parsing waits for the first https connection.
        let mut found = false;
        if let Some(file) = &file {
            let bytes =
                fs::read(file).map_err(|e| format!("SSL_CERT_FILE {file}: cannot read it: {e}"))?;
            found |= has_pem_certificate(&bytes);
        }
        for dir in dirs
            .iter()
            .flat_map(|d| d.split(':'))
            .filter(|d| !d.is_empty())
        {
            let entries = fs::read_dir(dir)
                .map_err(|e| format!("SSL_CERT_DIR {dir}: cannot read it: {e}"))?;
            found |= entries
                .flatten()
                .any(|e| e.file_name().to_str().is_some_and(is_hashed_name));
        }
        if !found {
            return Err(no_certificates(file.as_deref(), dirs.as_deref()));
        }
        Ok(Trust::Environment { file, dirs })
    }

    /// The store with its certificates read: `Environment` becomes
    /// `Roots`, the others are as they are.
    pub fn load(&self) -> Result<Trust, String> {
        let Trust::Environment { file, dirs } = self else {
            return Ok(self.clone());
        };
        let mut roots = Vec::new();
        if let Some(file) = file {
            roots
                .extend(bundle(Path::new(file)).map_err(|e| format!("SSL_CERT_FILE {file}: {e}"))?);
        }
        if let Some(dirs) = dirs {
            roots.extend(directories(dirs).map_err(|e| format!("SSL_CERT_DIR {dirs}: {e}"))?);
        }
        // The file and the directory are usually one store twice over.
        let mut seen = std::collections::HashSet::new();
        roots.retain(|cert| seen.insert(cert.der().to_vec()));
        let source = [
            file.as_ref().map(|f| format!("SSL_CERT_FILE {f}")),
            dirs.as_ref().map(|d| format!("SSL_CERT_DIR {d}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" and ");
        if roots.is_empty() {
            return Err(format!("{source}: no certificates found"));
        }
        Ok(roots_from(source, roots))
    }

    /// What a user is told once, before anything is fetched.
    pub fn warning(&self) -> Option<&'static str> {
        matches!(self, Trust::Insecure).then_some(
            "--insecure: TLS certificates are not verified; anyone on the path can read and change these transfers",
        )
    }
}

fn roots_from(source: String, roots: Vec<Certificate<'static>>) -> Trust {
    Trust::Roots { source, roots }
}

/// Every certificate of a PEM file (other PEM items, such as keys, are
/// skipped); a file with none is an error, as it would trust nothing.
fn bundle(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let certs = certificates(&bytes)?;
    if certs.is_empty() {
        return Err("no PEM certificate in it".into());
    }
    Ok(certs)
}

fn certificates(pem: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    let mut certs = Vec::new();
    for item in parse_pem(pem) {
        match item.map_err(|e| format!("not a PEM file: {e}"))? {
            PemItem::Certificate(cert) => certs.push(cert),
            _ => continue,
        }
    }
    Ok(certs)
}

/// `SSL_CERT_DIR`: directories separated by `:`, as OpenSSL reads it. Only
/// the names OpenSSL looks up are read (`HASH.N`, eight hex digits): a
/// distribution's directory also holds every certificate under its own
/// name and the whole bundle again, and reading those tripled tget's start.
fn directories(list: &str) -> Result<Vec<Certificate<'static>>, String> {
    let mut certs = Vec::new();
    for dir in list.split(':').filter(|d| !d.is_empty()) {
        let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {dir}: {e}"))?;
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_hashed_name)
            })
            .collect();
        paths.sort();
        for path in paths.iter().filter(|p| p.is_file()) {
            if let Ok(found) = fs::read(path)
                .map_err(drop)
                .and_then(|b| certificates(&b).map_err(drop))
            {
                certs.extend(found);
            }
        }
    }
    Ok(certs)
}

/// A PEM certificate's first line, looked for without parsing.
fn has_pem_certificate(bytes: &[u8]) -> bool {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    bytes.windows(BEGIN.len()).any(|w| w == BEGIN)
}

fn no_certificates(file: Option<&str>, dirs: Option<&str>) -> String {
    let mut said = Vec::new();
    if let Some(file) = file {
        said.push(format!("SSL_CERT_FILE {file} holds no PEM certificate"));
    }
    if let Some(dirs) = dirs {
        said.push(format!(
            "SSL_CERT_DIR {dirs} has no HASH.N file (OpenSSL's names: make them with \
             `openssl rehash DIR` or c_rehash)"
        ));
    }
    format!("no certificates found: {}", said.join("; "))
}

/// `5ad8a5d6.0`: the subject hash OpenSSL files a certificate under.
fn is_hashed_name(name: &str) -> bool {
    let Some((hash, n)) = name.split_once('.') else {
        return false;
    };
    hash.len() == 8
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
}

/// The operating system's store (on Linux the distribution's bundle).
fn native() -> Result<Trust, String> {
    let found = rustls_native_certs::load_native_certs();
    let roots: Vec<Certificate<'static>> = found
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_string(), ToString::to_string);
        return Err(format!(
            "--ca-native: the system's certificates cannot be read: {why}"
        ));
    }
    Ok(roots_from("--ca-native".into(), roots))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: &dyn Fn(&str) -> Option<String> = &|_| None;

    #[test]
    fn the_default_is_the_bundled_roots_and_insecure_wins() {
        assert!(matches!(
            Trust::resolve(&TrustFlags::default(), NONE),
            Ok(Trust::Bundled)
        ));
        let flags = TrustFlags {
            insecure: true,
            cacert: Some("/nonexistent".into()),
            native: false,
        };
        assert!(matches!(Trust::resolve(&flags, NONE), Ok(Trust::Insecure)));
        assert!(Trust::Insecure.warning().is_some() && Trust::Bundled.warning().is_none());
    }

    #[test]
    fn only_the_names_openssl_looks_up_are_read_from_a_directory() {
        for name in ["5ed36f99.0", "002C0B4F.12"] {
            assert!(is_hashed_name(name), "{name}");
        }
        for name in [
            "ca-certificates.crt",
            "GlobalSign.pem",
            "5ed36f9.0",
            "5ed36f99.",
            "5ed36f99.r0",
        ] {
            assert!(!is_hashed_name(name), "{name}");
        }
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        fs::write(&empty, "no certificates here\n").unwrap();
        let flags = |path: &Path| TrustFlags {
            cacert: Some(path.to_path_buf()),
            ..TrustFlags::default()
        };
        let missing = Trust::resolve(&flags(&dir.path().join("gone.pem")), NONE).unwrap_err();
        assert!(
            missing.starts_with("--cacert ") && missing.contains("gone.pem: cannot read it"),
            "{missing}"
        );
        let error = Trust::resolve(&flags(&empty), NONE).unwrap_err();
        assert!(
            error.ends_with("empty.pem: no PEM certificate in it"),
            "{error}"
        );
        // An environment store with nothing in it is found before any
        // request, without parsing the store.
        let env = |name: &str| (name == "SSL_CERT_DIR").then(|| dir.path().display().to_string());
        let error = Trust::resolve(&TrustFlags::default(), &env).unwrap_err();
        assert!(
            error.starts_with("no certificates found: SSL_CERT_DIR ")
                && error.contains("openssl rehash"),
            "{error}"
        );
        let env = |name: &str| (name == "SSL_CERT_FILE").then(|| empty.display().to_string());
        let error = Trust::resolve(&TrustFlags::default(), &env).unwrap_err();
        assert!(
            error.contains("empty.pem holds no PEM certificate"),
            "{error}"
        );
    }
}
