//! Certificate-bound access tokens (RFC 8705 §3): a token whose `cnf` carries `x5t#S256` is
//! accepted only on a request made with that very TLS client certificate.
//!
//! The layer takes no TLS dependency: the application's acceptor hands it the certificate of
//! each connection as a [`ClientCertificate`] in the request's extensions. Behind a reverse
//! proxy that ends TLS, the certificate the proxy forwards in a header is read only when the
//! request comes from one of the proxies' addresses ([`PeerAddress`]), and only when the
//! builder was told so ([`crate::JwtAuthBuilder::trust_forwarded_certificate`]).
//!
//! ```
//! use jwt_layer::ClientCertificate;
//!
//! # let der: &[u8] = b"the DER bytes of the peer's end-entity certificate";
//! // Once per TLS connection, from the peer's end-entity certificate
//! // (with rustls: `connection.peer_certificates()[0]`):
//! let certificate = ClientCertificate::from_der(der);
//! // Then, for each request on that connection:
//! let mut request = http::Request::new(());
//! request.extensions_mut().insert(certificate.clone());
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderName, Request};

use crate::error::AuthError;

/// The TLS client certificate of the connection a request came on, set by the application
/// (for example by its rustls acceptor, once per connection) as a request extension.
///
/// Holds only the certificate's RFC 8705 §3.1 thumbprint, computed once by
/// [`ClientCertificate::from_der`]; clones are cheap. The layer does not verify the
/// certificate: the TLS server did (a client verifier such as rustls' `WebPkiClientVerifier`),
/// and the layer only compares the thumbprint with the token's `cnf.x5t#S256`. Read only when
/// [`crate::JwtAuthBuilder::certificate_bound_tokens`] is on.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    thumbprint: Arc<str>,
}

impl ClientCertificate {
    /// The certificate whose DER encoding is `der` (the end-entity certificate the client
    /// presented in the TLS handshake). Costs one SHA-256 over `der`.
    pub fn from_der(der: impl AsRef<[u8]>) -> Self {
        let digest = digest::digest(&digest::SHA256, der.as_ref());
        ClientCertificate { thumbprint: URL_SAFE_NO_PAD.encode(digest).into() }
    }

    /// The base64url (unpadded) SHA-256 of the DER encoding, as `cnf.x5t#S256` carries it
    /// (RFC 8705 §3.1).
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate").field("x5t#S256", &self.thumbprint).finish()
    }
}

/// The address of the TCP peer a request came from, set by the application as a request
/// extension from its accept loop (axum's `ConnectInfo<SocketAddr>`, for example).
///
/// Only consulted for [`crate::JwtAuthBuilder::trust_forwarded_certificate`]: a request whose
/// peer is one of the trusted proxies has its forwarded-certificate header read. It must be
/// the socket's own peer address, never one taken from a header such as `X-Forwarded-For`
/// (which the client can write); the layer reads no other type, so an address another
/// middleware derives from headers is never mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddress(pub SocketAddr);

/// The configuration of certificate binding, checked by the builder.
#[derive(Debug, Clone)]
pub(crate) struct CertificateBinding {
    pub(crate) forwarded: Option<ForwardedCertificate>,
}

/// A header through which trusted proxies forward the client's certificate.
#[derive(Debug, Clone)]
pub(crate) struct ForwardedCertificate {
    pub(crate) header: HeaderName,
    /// In canonical form (an IPv4-mapped IPv6 address as IPv4).
    pub(crate) proxies: Vec<IpAddr>,
}

impl CertificateBinding {
    /// The thumbprint of the certificate the request was made with: the forwarded one for a
    /// request from a trusted proxy (and then only that one), the connection's otherwise.
    pub(crate) fn presented<B>(&self, request: &Request<B>) -> Option<Arc<str>> {
        let extensions = request.extensions();
        if let Some(forwarded) = &self.forwarded {
            let peer = extensions.get::<PeerAddress>().map(|peer| peer.0.ip().to_canonical());
            if peer.is_some_and(|peer| forwarded.proxies.contains(&peer)) {
                return forwarded.read(request);
            }
        }
        extensions.get::<ClientCertificate>().map(|certificate| Arc::clone(&certificate.thumbprint))
    }
}

impl ForwardedCertificate {
    /// The certificate in the header as URL-encoded PEM (nginx `$ssl_client_escaped_cert`,
    /// the AWS load balancers' `X-Amzn-Mtls-Clientcert`): exactly one `CERTIFICATE` block,
    /// nothing before or after it but one final line break. Absent, repeated, empty or
    /// anything else: no certificate.
    fn read<B>(&self, request: &Request<B>) -> Option<Arc<str>> {
        let mut values = request.headers().get_all(&self.header).iter();
        let (Some(value), None) = (values.next(), values.next()) else { return None };
        let decoded: Vec<u8> = percent_encoding::percent_decode(value.as_bytes()).collect();
        match one_certificate_block(&decoded) {
            Some(der) => Some(ClientCertificate::from_der(der).thumbprint),
            None => {
                tracing::debug!(header = %self.header, "forwarded client certificate unreadable");
                None
            }
        }
    }
}

/// The DER of `text` when it is exactly one PEM `CERTIFICATE` block (RFC 7468 §5.1) with
/// lines broken by `\n` or `\r\n`: no text before the block or after it (one final line break
/// aside), no spaces in place of line breaks, no headers, no second block. What the proxy
/// wrote is then the only reading of it.
fn one_certificate_block(text: &[u8]) -> Option<Vec<u8>> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let body = text.strip_prefix(BEGIN).and_then(|rest| rest.strip_suffix(END))?;
    if !body.iter().all(|&b| b.is_ascii_graphic() || b == b'\n' || b == b'\r') {
        return None;
    }
    let mut blocks = pem::parse_many(text).ok()?;
    let block = blocks.pop().filter(|_| blocks.is_empty())?;
    let plain = block.tag() == "CERTIFICATE" && block.headers().iter().next().is_none();
    plain.then(|| block.into_contents())
}

/// RFC 8705 §3: a token bound to a certificate (`cnf.x5t#S256`) is accepted only when the
/// request was made with that certificate; the thumbprints are compared exactly, so a padded
/// or standard-alphabet value never matches.
pub(crate) fn check_certificate(
    x5t_s256: Option<&str>,
    presented: Option<&str>,
) -> Result<(), AuthError> {
    match x5t_s256 {
        Some(bound) if presented != Some(bound) => Err(AuthError::CertificateBindingMismatch),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_token_needs_its_own_certificate() {
        assert_eq!(check_certificate(None, None), Ok(()));
        assert_eq!(check_certificate(None, Some("c")), Ok(()));
        assert_eq!(check_certificate(Some("c"), Some("c")), Ok(()));
        assert_eq!(check_certificate(Some("c"), None), Err(AuthError::CertificateBindingMismatch));
        assert_eq!(
            check_certificate(Some("c"), Some("d")),
            Err(AuthError::CertificateBindingMismatch)
        );
    }

    #[test]
    fn the_thumbprint_is_unpadded_base64url_sha256_of_the_der() {
        // SHA-256("abc"), RFC 6234 / FIPS 180-2 test vector.
        let certificate = ClientCertificate::from_der(b"abc");
        assert_eq!(certificate.thumbprint(), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    }

    fn forwarded_request(peer: &str, value: &str) -> Request<()> {
        let mut request = Request::builder().header("x-client-cert", value).body(()).unwrap();
        request.extensions_mut().insert(PeerAddress(peer.parse().unwrap()));
        request
    }

    #[test]
    fn a_forwarded_certificate_is_read_from_trusted_proxies_only() {
        let der = b"not really a certificate, only bytes to hash";
        let escape = |tag: &str| -> String {
            let pem = pem::encode(&pem::Pem::new(tag, der.to_vec()));
            percent_encoding::utf8_percent_encode(&pem, percent_encoding::NON_ALPHANUMERIC)
                .collect()
        };
        let escaped = escape("CERTIFICATE");
        let binding = CertificateBinding {
            forwarded: Some(ForwardedCertificate {
                header: HeaderName::from_static("x-client-cert"),
                proxies: vec!["10.0.0.1".parse().unwrap()],
            }),
        };
        let expected = ClientCertificate::from_der(der);
        let from = |peer| binding.presented(&forwarded_request(peer, &escaped));
        assert_eq!(from("10.0.0.1:4000").as_deref(), Some(expected.thumbprint()));
        // An IPv4-mapped IPv6 peer is the same proxy.
        assert_eq!(from("[::ffff:10.0.0.1]:4000").as_deref(), Some(expected.thumbprint()));
        assert_eq!(from("10.0.0.2:4000"), None);
        // Not a certificate block, not PEM, empty (nginx without a client certificate).
        let key = escape("PRIVATE KEY");
        for value in [key.as_str(), "garbage", ""] {
            assert_eq!(binding.presented(&forwarded_request("10.0.0.1:1", value)), None);
        }
    }

    /// Exactly one `CERTIFICATE` block and nothing else: junk before or after it, spaces for
    /// line breaks, a second block (of any kind) or headers are no certificate.
    #[test]
    fn only_one_plain_certificate_block_is_a_certificate() {
        let der = b"not really a certificate, only bytes to hash".to_vec();
        let block = pem::encode(&pem::Pem::new("CERTIFICATE", der.clone()));
        let key = pem::encode(&pem::Pem::new("PRIVATE KEY", der.clone()));
        assert_eq!(one_certificate_block(block.as_bytes()), Some(der.clone()));
        assert_eq!(one_certificate_block(block.trim_end().as_bytes()), Some(der.clone()));
        let lf = block.replace("\r\n", "\n");
        assert_eq!(one_certificate_block(lf.as_bytes()), Some(der.clone()));
        let mut headers = pem::Pem::new("CERTIFICATE", der.clone());
        headers.headers_mut().add("Comment", "x").unwrap();
        for text in [
            format!("junk{block}"),
            format!("{block}junk"),
            format!("{block}\n"),
            lf.replace('\n', " "),
            format!("{block}{block}"),
            format!("{block}{key}"),
            format!("{key}{block}"),
            pem::encode(&headers),
            key,
        ] {
            assert_eq!(one_certificate_block(text.as_bytes()), None, "{text:?}");
        }
    }
}
