//! Certificate-bound access tokens (RFC 8705) over mutual TLS, in one self-contained run.
//!
//! At startup the example makes a throwaway PKI with rcgen: a CA, the server's certificate and
//! two clients' (alice and mallory). It serves axum over TLS with rustls, asking every client
//! for a certificate signed by that CA (`WebPkiClientVerifier`); each connection's client
//! certificate goes into the requests' extensions as a `jwt_layer::ClientCertificate`, and
//! `/me` is protected by a `JwtAuth` with `.certificate_bound_tokens()`.
//!
//! Then it plays the clients: alice's token is bound to alice's certificate (`cnf.x5t#S256`),
//! so it works on alice's connection and nowhere else; a plain bearer token works on any
//! connection. Every answer is checked; the run exits 0 when all are as expected and 1
//! otherwise.
//!
//! ```text
//! cargo run --example mtls
//! ```
//!
//! Behind a reverse proxy that ends TLS, the server would instead set `jwt_layer::PeerAddress`
//! and call `.trust_forwarded_certificate("x-client-cert", [proxy_ip])` (see the builder).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use jsonwebtoken::{EncodingKey, Header};
use jwt_layer::keys::StaticKeys;
use jwt_layer::{Claims, ClientCertificate, JwtAuth, PeerAddress};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Any error of the setup or of a request.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The issuer's signing secret (HS256 needs at least 32 bytes). In a real deployment tokens
/// come from an authorization server that binds them to the certificate the client used on
/// its token request (RFC 8705 §3).
const SECRET: &[u8] = b"mtls-example-secret-of-at-least-32-bytes";
const ISSUER: &str = "https://login.mtls.example";
const AUDIENCE: &str = "mtls-api";

/// A throwaway PKI, made at startup.
pub struct TestPki {
    /// The CA that signed every certificate below, trusted by the server (for clients) and by
    /// the clients (for the server).
    pub ca: CertificateDer<'static>,
    /// The server's certificate, for `localhost` and 127.0.0.1.
    pub server: Party,
    /// A client whose tokens are bound to its certificate.
    pub alice: Party,
    /// Another client of the same CA, holding a copy of alice's token.
    pub mallory: Party,
}

/// A certificate and its private key.
pub struct Party {
    /// The DER of the certificate, signed by the test CA.
    pub certificate: CertificateDer<'static>,
    key: KeyPair,
}

impl Party {
    /// The certificate and key as one PEM text, as `reqwest::Identity::from_pem` takes them.
    pub fn identity_pem(&self) -> String {
        let certificate = pem::encode(&pem::Pem::new("CERTIFICATE", self.certificate.to_vec()));
        format!("{}{certificate}", self.key.serialize_pem())
    }

    fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key.serialize_der()).into()
    }
}

/// Makes the CA, then the server's certificate (for `localhost` and 127.0.0.1) and two client
/// certificates, each with a fresh P-256 key.
pub fn test_pki() -> Result<TestPki, BoxError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "mtls example CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca = ca_params.self_signed(&ca_key)?.der().clone();
    let issuer = Issuer::new(ca_params, ca_key);

    let party = |names: Vec<String>, name: &str, usage| -> Result<Party, BoxError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let certificate = params.signed_by(&key, &issuer)?.der().clone();
        Ok(Party { certificate, key })
    };
    let server_names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    Ok(TestPki {
        ca,
        server: party(server_names, "localhost", ExtendedKeyUsagePurpose::ServerAuth)?,
        alice: party(Vec::new(), "alice", ExtendedKeyUsagePurpose::ClientAuth)?,
        mallory: party(Vec::new(), "mallory", ExtendedKeyUsagePurpose::ClientAuth)?,
    })
}

/// The server's TLS configuration: its certificate, and client certificates verified against
/// the CA. Clients without a certificate may still connect (`allow_unauthenticated`), so plain
/// bearer tokens keep working; a certificate-bound token on such a connection is refused by
/// the layer.
pub fn server_tls(pki: &TestPki) -> Result<Arc<rustls::ServerConfig>, BoxError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.clone())?;
    let clients = WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(clients)
        .with_single_cert(vec![pki.server.certificate.clone()], pki.server.private_key())?;
    Ok(Arc::new(config))
}

/// Serves `app` over TLS on `listener`, one task per connection. The client certificate of
/// each connection (verified by rustls during the handshake) and the peer's address go into
/// every request of that connection.
pub async fn serve_tls(listener: TcpListener, tls: Arc<rustls::ServerConfig>, app: Router) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, peer)) = listener.accept().await else { continue };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else { return };
            // The end-entity certificate comes first (RFC 8446 §4.4.2).
            let certificate = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(ClientCertificate::from_der);
            let service = tower::ServiceExt::map_request(app, move |mut r: Request<Incoming>| {
                if let Some(certificate) = &certificate {
                    r.extensions_mut().insert(certificate.clone());
                }
                r.extensions_mut().insert(PeerAddress(peer));
                r
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
}

async fn me(Claims(claims): Claims<Value>) -> String {
    claims["sub"].as_str().unwrap_or_default().to_owned()
}

/// The API: `/me` behind a layer that accepts certificate-bound tokens.
pub fn app() -> Result<Router, BoxError> {
    let auth = JwtAuth::<Value>::builder()
        .keys(StaticKeys::hmac(SECRET)?)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .certificate_bound_tokens()
        .build()?;
    Ok(Router::new().route("/me", get(me)).layer(auth.layer()))
}

/// A token for `sub`, bound to `certificate` when one is given (`cnf.x5t#S256`, the
/// base64url SHA-256 of its DER, RFC 8705 §3.1).
pub fn token(sub: &str, certificate: Option<&CertificateDer<'_>>) -> Result<String, BoxError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut claims =
        json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600});
    if let Some(certificate) = certificate {
        let thumbprint = ClientCertificate::from_der(certificate).thumbprint().to_owned();
        claims["cnf"] = json!({ "x5t#S256": thumbprint });
    }
    Ok(jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET)?)?)
}

/// An HTTPS client that trusts only the test CA and presents `identity`'s certificate.
pub fn client(pki: &TestPki, identity: Option<&Party>) -> Result<reqwest::Client, BoxError> {
    let mut builder =
        reqwest::Client::builder().tls_certs_only([reqwest::Certificate::from_der(&pki.ca)?]);
    if let Some(party) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(party.identity_pem().as_bytes())?);
    }
    Ok(builder.build()?)
}

/// Starts the server on a free loopback port.
pub async fn start(pki: &TestPki) -> Result<SocketAddr, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve_tls(listener, server_tls(pki)?, app()?));
    Ok(addr)
}

/// `GET /me` with `token` over `client`: the status.
pub async fn get_me(
    client: &reqwest::Client,
    addr: SocketAddr,
    token: &str,
) -> Result<StatusCode, BoxError> {
    let url = format!("https://localhost:{}/me", addr.port());
    let response = client.get(url).bearer_auth(token).send().await?;
    Ok(StatusCode::from_u16(response.status().as_u16())?)
}

#[tokio::main]
async fn main() {
    // jsonwebtoken 11 needs its crypto backend named when feature unification enables two.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    if let Err(err) = run().await {
        eprintln!("mtls example failed: {err}");
        std::process::exit(1);
    }
    println!("all answers as expected");
}

async fn run() -> Result<(), BoxError> {
    let pki = test_pki()?;
    let addr = start(&pki).await?;
    let alice = client(&pki, Some(&pki.alice))?;
    let mallory = client(&pki, Some(&pki.mallory))?;
    let anonymous = client(&pki, None)?;
    let bound = token("alice", Some(&pki.alice.certificate))?;
    let bearer = token("bob", None)?;
    let cases = [
        ("alice's bound token on alice's connection", &alice, &bound, StatusCode::OK),
        ("alice's bound token on mallory's connection", &mallory, &bound, StatusCode::UNAUTHORIZED),
        ("alice's bound token without a certificate", &anonymous, &bound, StatusCode::UNAUTHORIZED),
        ("a plain bearer token without a certificate", &anonymous, &bearer, StatusCode::OK),
        ("a plain bearer token on mallory's connection", &mallory, &bearer, StatusCode::OK),
    ];
    for (what, client, token, expected) in cases {
        let status = get_me(client, addr, token).await?;
        println!("{what}: {status}");
        if status != expected {
            return Err(format!("{what}: {status}, expected {expected}").into());
        }
    }
    Ok(())
}
