//! Credentials and trust for one source, read when the source is created,
//! and how they are handed to gix.
//!
//! - **HTTP basic and bearer**: an `Authorization` header on every request,
//!   through gix's `http::Options::extra_headers` (what `http.extraHeader`
//!   feeds). gix's own identity mechanism refuses to send basic credentials
//!   over plain `http://` unless gix-transport is built with
//!   `http-client-insecure-credentials`, and has no bearer support; a
//!   configured header also makes gix refuse to follow redirects, so the
//!   secret never travels to another host.
//! - **HTTPS trust**: reqwest gets a preconfigured rustls `ClientConfig` on
//!   ring that trusts the platform's roots plus `auth.caFile` (as go-git does
//!   for Flux's `ca.crt`), through gix's reqwest `configure_client` hook.
//!   gix's reqwest backend ignores `http.sslCAInfo`, and the repositories are
//!   opened isolated, so `GIT_SSL_CAINFO` and friends never apply.
//!   `auth.certFile`/`keyFile` (Flux's `tls.crt`/`tls.key`) become the
//!   client certificate of that same configuration (mTLS).
//! - **Proxy**: `proxy` (Flux's `proxySecretRef`) is set on the reqwest
//!   client through the same hook: `CONNECT` for https, forwarding for
//!   http, with proxy basic auth. Proxy variables of the environment never
//!   apply (the client is built with exactly this proxy or none).
//! - **SSH**: the `ssh` binary via `core.sshCommand` with an explicit option
//!   set (key, known_hosts, no agent, no prompts, no user ssh config).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use weir_config::{Config, GitAuth, GitProxy};

/// Credentials and trust settings of one source, with secrets loaded.
pub(crate) struct Auth {
    basic: Option<(String, String)>,
    bearer: Option<String>,
    ca_file: Option<PathBuf>,
    ca_certs: Vec<CertificateDer<'static>>,
    identity_file: Option<PathBuf>,
    identity_passphrase_file: Option<PathBuf>,
    known_hosts_file: Option<PathBuf>,
    client_cert: Option<ClientCert>,
    proxy: Option<Proxy>,
    tls: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
}

/// A TLS client certificate chain and its key (mTLS).
struct ClientCert {
    cert_file: PathBuf,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl PartialEq for ClientCert {
    fn eq(&self, other: &Self) -> bool {
        self.cert_file == other.cert_file && self.chain == other.chain && self.key == other.key
    }
}

/// `proxy` with its password loaded.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Proxy {
    /// `http://host:port` or `https://host:port`, without credentials.
    pub(crate) address: String,
    /// User name and password for proxy basic auth.
    basic: Option<(String, String)>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secrets themselves.
        f.debug_struct("Auth")
            .field("username", &self.basic.as_ref().map(|(u, _)| u))
            .field("bearer", &self.bearer.is_some())
            .field("ca_file", &self.ca_file)
            .field("identity_file", &self.identity_file)
            .field("identity_passphrase_file", &self.identity_passphrase_file)
            .field("known_hosts_file", &self.known_hosts_file)
            .field(
                "cert_file",
                &self.client_cert.as_ref().map(|c| c.cert_file.clone()),
            )
            .field("proxy", &self.proxy.as_ref().map(|p| p.address.clone()))
            .finish()
    }
}

impl Auth {
    /// Reads the credential files named in `a` (paths already resolved
    /// against the config file's directory, see [`resolved`]) and checks
    /// that the combination makes sense. Called when the source is made and
    /// again at every fetch.
    ///
    /// # Errors
    /// A message naming the field and, for files, the path and the I/O error.
    pub(crate) fn from_spec(a: &GitAuth, proxy: Option<&GitProxy>) -> Result<Self, String> {
        let read = |field: &str, p: &Path| -> Result<String, String> {
            let path = p.to_owned();
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read auth.{field} {}: {e}", path.display()))
        };
        let password = match (&a.password, &a.password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(f)) => Some(
                read("passwordFile", f)?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let basic = match (&a.username, password) {
            (Some(u), Some(p)) => Some((u.clone(), p)),
            (None, None) => None,
            (Some(_), None) => {
                return Err("auth.username needs auth.password or auth.passwordFile".to_owned());
            }
            (None, Some(_)) => {
                return Err("auth.password needs auth.username".to_owned());
            }
        };
        let bearer = match (&a.bearer_token, &a.bearer_token_file) {
            (Some(t), _) => Some(t.trim().to_owned()),
            (None, Some(f)) => Some(read("bearerTokenFile", f)?.trim().to_owned()),
            (None, None) => None,
        };
        if basic.is_some() && bearer.is_some() {
            return Err(
                "set either auth.username/password or auth.bearerToken, not both (both use the Authorization header)"
                    .to_owned(),
            );
        }
        for (field, value) in [
            ("username", basic.as_ref().map(|(u, _)| u.as_str())),
            ("password", basic.as_ref().map(|(_, p)| p.as_str())),
            ("bearerToken", bearer.as_deref()),
        ] {
            if value.is_some_and(|v| v.contains(['\r', '\n'])) {
                return Err(format!("auth.{field} must not contain line breaks"));
            }
        }
        if basic.as_ref().is_some_and(|(u, _)| u.contains(':')) {
            return Err("auth.username must not contain ':' (HTTP basic auth)".to_owned());
        }
        if bearer.as_deref() == Some("") {
            return Err("auth.bearerToken is empty".to_owned());
        }

        let ca_file = a.ca_file.clone();
        let ca_certs = match &ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("cannot read auth.caFile {}: {e}", path.display()))?;
                if certs.is_empty() {
                    return Err(format!(
                        "auth.caFile {} holds no PEM certificate",
                        path.display()
                    ));
                }
                certs
            }
            None => Vec::new(),
        };

        let check_readable = |field: &str,
                              p: &Option<PathBuf>|
         -> Result<Option<PathBuf>, String> {
            p.as_deref()
                .map(|p| {
                    let path = p.to_owned();
                    std::fs::File::open(&path)
                        .map(|_| path.clone())
                        .map_err(|e| format!("cannot read auth.{field} {}: {e}", path.display()))
                })
                .transpose()
        };
        let identity_file = check_readable("identityFile", &a.identity_file)?;
        let identity_passphrase_file =
            check_readable("identityPassphraseFile", &a.identity_passphrase_file)?;
        if identity_passphrase_file.is_some() && identity_file.is_none() {
            return Err("auth.identityPassphraseFile needs auth.identityFile".to_owned());
        }
        let known_hosts_file = check_readable("knownHostsFile", &a.known_hosts_file)?;
        let client_cert = match (&a.cert_file, &a.key_file) {
            (Some(cert), Some(key)) => Some(load_client_cert(cert, key)?),
            (None, None) => None,
            (Some(_), None) => return Err("auth.certFile needs auth.keyFile".to_owned()),
            (None, Some(_)) => return Err("auth.keyFile needs auth.certFile".to_owned()),
        };
        let proxy = proxy.map(load_proxy).transpose()?;

        Ok(Auth {
            basic,
            bearer,
            ca_file,
            ca_certs,
            identity_file,
            identity_passphrase_file,
            known_hosts_file,
            client_cert,
            proxy,
            tls: OnceLock::new(),
        })
    }

    /// What distinguishes one set of credentials from another for the cache
    /// key: the user name, whether a token is used and the key file's path.
    /// Never a secret itself.
    pub(crate) fn cache_identity(&self) -> String {
        let mut id = format!(
            "user={}\nbearer={}\nidentityFile={}",
            self.basic.as_ref().map(|(u, _)| u.as_str()).unwrap_or(""),
            self.bearer.is_some(),
            self.identity_file
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        // A client certificate is a credential too; added only when set, so
        // that caches made before mTLS support keep their names.
        if let Some(c) = &self.client_cert {
            let _ = write!(id, "\ncertFile={}", c.cert_file.display());
        }
        id
    }

    /// The secret strings, to scrub from any text that leaves this crate.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut s = Vec::new();
        if let Some((u, p)) = &self.basic {
            s.push(basic_value(u, p));
            if !p.is_empty() {
                s.push(p.clone());
            }
        }
        if let Some(t) = &self.bearer {
            s.push(t.clone());
        }
        if let Some((u, p)) = self.proxy.as_ref().and_then(|p| p.basic.as_ref()) {
            s.push(basic_value(u, p));
            if !p.is_empty() {
                s.push(p.clone());
            }
        }
        s
    }

    /// `auth.certFile`, resolved, if set.
    pub(crate) fn cert_file(&self) -> Option<&Path> {
        self.client_cert.as_ref().map(|c| c.cert_file.as_path())
    }

    /// The proxy, if one is configured.
    pub(crate) fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }

    /// The reqwest proxy for this source's client, if one is configured.
    ///
    /// # Errors
    /// When reqwest does not take the address.
    pub(crate) fn reqwest_proxy(&self) -> Result<Option<reqwest::Proxy>, String> {
        let Some(p) = &self.proxy else {
            return Ok(None);
        };
        let proxy = reqwest::Proxy::all(p.address.as_str())
            .map_err(|e| format!("invalid proxy.address {:?}: {e}", p.address))?;
        Ok(Some(match &p.basic {
            Some((u, pw)) => proxy.basic_auth(u, pw),
            None => proxy,
        }))
    }

    /// Whether proxy credentials are configured.
    pub(crate) fn has_proxy_credentials(&self) -> bool {
        self.proxy.as_ref().is_some_and(|p| p.basic.is_some())
    }

    /// `auth.caFile`, resolved, if set.
    pub(crate) fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// `auth.identityFile`, resolved, if set.
    pub(crate) fn identity_file(&self) -> Option<&Path> {
        self.identity_file.as_deref()
    }

    /// `auth.knownHostsFile`, resolved, if set.
    pub(crate) fn known_hosts_file(&self) -> Option<&Path> {
        self.known_hosts_file.as_deref()
    }

    /// Whether any HTTP credentials are configured.
    pub(crate) fn has_http_credentials(&self) -> bool {
        self.basic.is_some() || self.bearer.is_some()
    }

    /// The `Authorization` header lines to send with every HTTP request.
    pub(crate) fn http_headers(&self) -> Vec<String> {
        match (&self.basic, &self.bearer) {
            (Some((u, p)), _) => vec![format!("Authorization: Basic {}", basic_value(u, p))],
            (None, Some(t)) => vec![format!("Authorization: Bearer {t}")],
            (None, None) => Vec::new(),
        }
    }

    /// The rustls client configuration for HTTPS, built once per source:
    /// ring as the crypto provider; the platform's roots (on Linux what
    /// rustls-native-certs finds, which follows the OpenSSL conventions
    /// including `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus the certificates of
    /// `auth.caFile`.
    ///
    /// reqwest is built without a default crypto provider, so every client
    /// (plain `http://` too) needs this configuration.
    ///
    /// # Errors
    /// When no root certificate at all could be loaded.
    pub(crate) fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        self.tls
            .get_or_init(|| {
                build_tls_config(&self.ca_certs, self.client_cert.as_ref()).map(Arc::new)
            })
            .clone()
    }

    /// The `core.sshCommand` value: the `ssh` binary with options that make it
    /// use exactly the configured key and known_hosts file, never an agent,
    /// the user's `~/.ssh/config` or a prompt, and write its messages to
    /// `stderr_file` so errors can be explained (gix would otherwise pass
    /// most of them to weir's own stderr).
    ///
    /// gix runs the command through `sh -c`, appending the connection
    /// arguments where `"$@"` stands.
    ///
    /// With `auth.identityPassphraseFile`, ssh reads the passphrase through
    /// `askpass` (a script that prints that file, see
    /// [`Auth::askpass_script`]): `SSH_ASKPASS_REQUIRE=force` makes ssh use
    /// it without a terminal, which needs `BatchMode=no`; every other prompt
    /// stays off (host keys strict, no passwords, one passphrase attempt).
    pub(crate) fn ssh_command(
        &self,
        stderr_file: &Path,
        connect_timeout: Duration,
        askpass: Option<&Path>,
    ) -> String {
        let mut cmd = String::new();
        if let Some(script) = askpass {
            let _ = write!(
                cmd,
                "SSH_ASKPASS={} SSH_ASKPASS_REQUIRE=force DISPLAY=none ",
                sh_quote(script)
            );
        }
        cmd.push_str("exec ssh -F /dev/null");
        let batch = if askpass.is_some() { "no" } else { "yes" };
        let opts: [(&str, String); 12] = [
            ("BatchMode", batch.into()),
            ("NumberOfPasswordPrompts", "1".into()),
            ("StrictHostKeyChecking", "yes".into()),
            ("UpdateHostKeys", "no".into()),
            ("GlobalKnownHostsFile", "/dev/null".into()),
            ("IdentitiesOnly", "yes".into()),
            ("IdentityAgent", "none".into()),
            ("PasswordAuthentication", "no".into()),
            ("KbdInteractiveAuthentication", "no".into()),
            (
                "ConnectTimeout",
                connect_timeout.as_secs().max(1).to_string(),
            ),
            ("ServerAliveInterval", "15".into()),
            ("ServerAliveCountMax", "4".into()),
        ];
        for (k, v) in opts {
            let _ = write!(cmd, " -o {k}={v}");
        }
        match &self.known_hosts_file {
            Some(kh) => {
                let _ = write!(cmd, " -o UserKnownHostsFile={}", sh_quote(kh));
            }
            // The config crate requires knownHostsFile for ssh URLs; without
            // one nothing is trusted.
            None => cmd.push_str(" -o UserKnownHostsFile=/dev/null"),
        }
        if let Some(key) = &self.identity_file {
            let _ = write!(cmd, " -i {}", sh_quote(key));
        }
        let _ = write!(cmd, " \"$@\" 2>{}", sh_quote(stderr_file));
        cmd
    }
}

/// `auth` with every file path resolved against the config file's
/// directory.
pub(crate) fn resolved(config: &Config, auth: &GitAuth) -> GitAuth {
    let r = |p: &Option<PathBuf>| p.as_deref().map(|p| config.resolve(p));
    GitAuth {
        password_file: r(&auth.password_file),
        bearer_token_file: r(&auth.bearer_token_file),
        ca_file: r(&auth.ca_file),
        cert_file: r(&auth.cert_file),
        key_file: r(&auth.key_file),
        identity_file: r(&auth.identity_file),
        identity_passphrase_file: r(&auth.identity_passphrase_file),
        known_hosts_file: r(&auth.known_hosts_file),
        ..auth.clone()
    }
}

/// `proxy` with its password file resolved against the config file's
/// directory.
pub(crate) fn resolved_proxy(config: &Config, proxy: &GitProxy) -> GitProxy {
    GitProxy {
        password_file: proxy.password_file.as_deref().map(|p| config.resolve(p)),
        ..proxy.clone()
    }
}

/// Reads the client certificate chain and key, and checks that they belong
/// together and that the key's type is supported.
fn load_client_cert(cert_file: &Path, key_file: &Path) -> Result<ClientCert, String> {
    let chain = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read auth.certFile {}: {e}", cert_file.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "auth.certFile {} holds no PEM certificate",
            cert_file.display()
        ));
    }
    // The key's bytes never appear in a message: only its file's name.
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
        format!(
            "cannot read auth.keyFile {}: {}",
            key_file.display(),
            pem_error_text(&e)
        )
    })?;
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider).map_err(
        |e| {
            format!(
                "auth.keyFile {} does not fit auth.certFile {}: {e}",
                key_file.display(),
                cert_file.display()
            )
        },
    )?;
    Ok(ClientCert {
        cert_file: cert_file.to_owned(),
        chain,
        key,
    })
}

/// A PEM reading error in words, without any of the file's content.
fn pem_error_text(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as E;
    match e {
        E::NoItemsFound => "no PEM private key found".to_owned(),
        E::Io(io) => io.to_string(),
        _ => "not a valid PEM private key".to_owned(),
    }
}

/// `proxy` with its password read.
fn load_proxy(p: &GitProxy) -> Result<Proxy, String> {
    let password = match (&p.password, &p.password_file) {
        (Some(pw), _) => Some(pw.clone()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read proxy.passwordFile {}: {e}", f.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        ),
        (None, None) => None,
    };
    let basic = match (&p.username, password) {
        (Some(u), Some(pw)) => Some((u.clone(), pw)),
        (None, None) => None,
        _ => {
            return Err(
                "proxy.username and proxy.password (or proxy.passwordFile) go together".to_owned(),
            );
        }
    };
    if let Some((u, pw)) = &basic {
        if u.contains(':') {
            return Err("proxy.username must not contain ':' (HTTP basic auth)".to_owned());
        }
        if u.contains(['\r', '\n']) || pw.contains(['\r', '\n']) {
            return Err(
                "proxy.username and proxy password must not contain line breaks".to_owned(),
            );
        }
    }
    Ok(Proxy {
        address: p.address.trim_end_matches('/').to_owned(),
        basic,
    })
}

impl Auth {
    /// Whether `other` holds the same credentials and trust as `self`, so
    /// that `self` (with its TLS configuration built) can be kept.
    pub(crate) fn same_as(&self, other: &Auth) -> bool {
        self.basic == other.basic
            && self.bearer == other.bearer
            && self.ca_certs == other.ca_certs
            && self.identity_file == other.identity_file
            && self.identity_passphrase_file == other.identity_passphrase_file
            && self.known_hosts_file == other.known_hosts_file
            && self.client_cert == other.client_cert
            && self.proxy == other.proxy
    }
}

impl Auth {
    /// `auth.identityPassphraseFile`, resolved, if set.
    pub(crate) fn identity_passphrase_file(&self) -> Option<&Path> {
        self.identity_passphrase_file.as_deref()
    }

    /// The askpass script for the key passphrase: it prints the passphrase
    /// file at each connection (so a rotated passphrase applies), and holds
    /// no secret itself.
    pub(crate) fn askpass_script(&self) -> Option<String> {
        self.identity_passphrase_file
            .as_deref()
            .map(|f| format!("#!/bin/sh\nexec cat {}\n", sh_quote(f)))
    }
}

fn basic_value(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

fn build_tls_config(
    extra: &[CertificateDer<'static>],
    client_cert: Option<&ClientCert>,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    let mut config = match rustls_platform_verifier::Verifier::new_with_extra_roots(
        extra.iter().cloned(),
        provider,
    ) {
        Ok(verifier) => with_client_auth(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier)),
            client_cert,
        )?,
        // No system roots at all (a minimal container) and no caFile:
        // plain http still works, and https fails verification with a
        // message that points at auth.caFile.
        Err(e) => {
            tracing::warn!(error = %e, "no TLS root certificates found on this system");
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(extra.iter().cloned());
            with_client_auth(builder.with_root_certificates(roots), client_cert)?
        }
    };
    // gix speaks HTTP/1.1 (it sets title-case headers); say so in ALPN.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Finishes `builder` with the client certificate, or without one.
fn with_client_auth(
    builder: rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>,
    client_cert: Option<&ClientCert>,
) -> Result<rustls::ClientConfig, String> {
    match client_cert {
        Some(c) => builder
            .with_client_auth_cert(c.chain.clone(), c.key.clone_key())
            .map_err(|e| {
                format!(
                    "cannot use auth.certFile {} as TLS client certificate: {e}",
                    c.cert_file.display()
                )
            }),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// Quotes `p` for `sh` with single quotes.
fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(auth: &str) -> (Config, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "version = 1\n[[git]]\nname = \"a\"\nurl = \"https://127.0.0.1/a.git\"\n[git.auth]\n{auth}\n"
        );
        let c = Config::parse(&text, &dir.path().join("weir.toml")).expect("config");
        (c, dir)
    }

    fn load(auth: &str) -> Result<Auth, String> {
        let (c, _dir) = config(auth);
        Auth::from_spec(&resolved(&c, &c.git[0].auth), None)
    }

    #[test]
    fn a_missing_credential_file_is_named() {
        let err = load("passwordFile = \"nope/pw\"\nusername = \"u\"").expect_err("missing");
        assert!(err.contains("auth.passwordFile"), "{err}");
        assert!(err.contains("nope/pw"), "{err}");
        let err = load("caFile = \"ca.pem\"").expect_err("missing");
        assert!(
            err.contains("auth.caFile") && err.contains("ca.pem"),
            "{err}"
        );
    }

    #[test]
    fn files_are_read_relative_to_the_config_and_trimmed() {
        let (c, dir) = config("username = \"u\"\npasswordFile = \"pw\"");
        std::fs::write(dir.path().join("pw"), "s3cret\n").expect("write");
        let a = Auth::from_spec(&resolved(&c, &c.git[0].auth), None).expect("auth");
        assert_eq!(
            a.http_headers(),
            vec![format!(
                "Authorization: Basic {}",
                basic_value("u", "s3cret")
            )]
        );
        assert!(!a.cache_identity().contains("s3cret"));
        assert!(a.cache_identity().contains("user=u"));
    }

    #[test]
    fn bearer_tokens_become_a_header_and_are_secret() {
        let a = load("bearerToken = \"tok\"").expect("auth");
        assert_eq!(
            a.http_headers(),
            vec!["Authorization: Bearer tok".to_owned()]
        );
        assert!(a.secrets().contains(&"tok".to_owned()));
        assert!(!format!("{a:?}").contains("tok\""));
    }

    #[test]
    fn half_basic_auth_and_mixed_schemes_are_refused() {
        assert!(load("username = \"u\"").is_err());
        assert!(load("password = \"p\"").is_err());
        assert!(load("username = \"u\"\npassword = \"p\"\nbearerToken = \"t\"").is_err());
    }

    #[test]
    fn ssh_command_quotes_paths_and_never_prompts() {
        let a = Auth {
            basic: None,
            bearer: None,
            ca_file: None,
            ca_certs: Vec::new(),
            identity_file: Some("/k/it's key".into()),
            identity_passphrase_file: None,
            known_hosts_file: Some("/k/known_hosts".into()),
            client_cert: None,
            proxy: None,
            tls: OnceLock::new(),
        };
        let cmd = a.ssh_command(Path::new("/s/err"), Duration::from_secs(30), None);
        assert!(cmd.contains(r"-i '/k/it'\''s key'"), "{cmd}");
        assert!(
            cmd.contains("-o UserKnownHostsFile='/k/known_hosts'"),
            "{cmd}"
        );
        assert!(cmd.contains("-o BatchMode=yes"), "{cmd}");
        assert!(cmd.contains("-o StrictHostKeyChecking=yes"), "{cmd}");
        assert!(cmd.ends_with("\"$@\" 2>'/s/err'"), "{cmd}");
    }
}
