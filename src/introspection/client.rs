//! The introspection call (RFC 7662 §2.1): a form POST with the client's credentials, bounded
//! in time and size, and the endpoint found in configuration or in the authorization server's
//! metadata.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderValue, StatusCode, header};
use reqwest::Url;
use serde::Deserialize;
use url::form_urlencoded;

use super::cache::{Answer, AnswerCache, Flights, TokenType};
use super::{ClientAuth, Endpoint, Introspection};
use crate::clock::Clock;
use crate::keys::discovery::metadata_urls;
use crate::keys::error::chain;
use crate::keys::fetch::{Fetched, get_json, url_allowed};
use crate::reason::IntrospectionProblem;
use crate::token::token_cache::TokenKey;
use crate::warn_limit::WarnLimit;

/// The built introspection verifier: the endpoint, the credentials, the client and the cache.
pub(crate) struct Introspector {
    pub(super) opaque_only: bool,
    endpoint: Target,
    auth: ClientAuth,
    client: reqwest::Client,
    timeout: Duration,
    max_response_bytes: usize,
    cache_ttl: f64,
    negative_ttl: f64,
    allow_http: bool,
    /// Types accepted besides `Bearer` and `DPoP`.
    token_types: Box<[String]>,
    cache: AnswerCache,
    flights: Flights,
}

enum Target {
    Url(Url),
    Discover { issuer: String, issuer_url: Url, found: tokio::sync::OnceCell<Url> },
}

impl Introspector {
    pub(super) fn new(
        config: Introspection,
        opaque_only: bool,
    ) -> Result<Self, IntrospectionProblem> {
        use IntrospectionProblem as Problem;
        let endpoint = match config.endpoint {
            Endpoint::Url(text) => {
                let url = Url::parse(&text).map_err(|_| Problem::EndpointNotUrl)?;
                if !url_allowed(&url, config.allow_http) {
                    return Err(Problem::EndpointNotHttps);
                }
                Target::Url(url)
            }
            Endpoint::Discover(issuer) => {
                let issuer_url = Url::parse(&issuer).map_err(|_| Problem::IssuerNotUrl)?;
                if !url_allowed(&issuer_url, config.allow_http) {
                    return Err(Problem::IssuerNotHttps);
                }
                Target::Discover { issuer, issuer_url, found: tokio::sync::OnceCell::new() }
            }
        };
        let client = match config.client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("jwt-layer/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|err| {
                    tracing::warn!(error = %err, "the introspection HTTP client could not be built");
                    Problem::HttpClient
                })?,
        };
        Ok(Introspector {
            opaque_only,
            endpoint,
            auth: config.auth,
            client,
            timeout: config.timeout,
            max_response_bytes: config.max_response_bytes,
            cache_ttl: config.cache_ttl.as_secs_f64(),
            negative_ttl: config.negative_ttl.as_secs_f64(),
            allow_http: config.allow_http,
            token_types: config.token_types.into(),
            cache: AnswerCache::new(config.max_cache_entries),
            flights: Flights::default(),
        })
    }

    /// The answer for `token`: one call per token at a time, whatever the number of requests
    /// waiting; the answer is cached before the waiters see it.
    pub(crate) async fn introspect(
        &self,
        key: TokenKey,
        token: &str,
        clock: Option<std::sync::Arc<dyn Clock>>,
    ) -> Answer {
        let now =
            || seconds(clock.as_ref().map_or_else(SystemTime::now, |clock| clock.system_time()));
        // Another request may have cached the answer since this one looked.
        if let Some(found) = self.cache.get(&key, now()) {
            return found;
        }
        // Landed however this request ends: a client that disconnects mid-call must not leave
        // its flight behind (another waiter, if any, takes the call over).
        let flight = self.flights.join(key);
        let answer = flight
            .get_or_init(|| async {
                let answer = self.call(token).await;
                let now = now();
                let until = match &answer {
                    Answer::Active(body, _) => {
                        let ttl = now + self.cache_ttl;
                        expiry(body).map_or(ttl, |exp| exp.min(ttl))
                    }
                    Answer::Inactive => now + self.negative_ttl,
                    Answer::Unavailable => now,
                };
                self.cache.insert(key, answer.clone(), now, until);
                answer
            })
            .await
            .clone();
        drop(flight);
        answer
    }

    /// One call, within the timeout; every failure is `Unavailable`, logged.
    async fn call(&self, token: &str) -> Answer {
        match tokio::time::timeout(self.timeout, self.post(token)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(why)) => unavailable(&why),
            Err(_) => unavailable(&format!("no answer within {:?}", self.timeout)),
        }
    }

    async fn post(&self, token: &str) -> Result<Answer, String> {
        let endpoint = self.endpoint().await?;
        let mut request = self
            .client
            .post(endpoint.clone())
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let ClientAuth::Basic { id, secret } = &self.auth {
            request = request.header(header::AUTHORIZATION, basic(id, secret)?);
        }
        let assertion = match &self.auth {
            ClientAuth::PrivateKeyJwt { id, key } => Some(key.assertion(id, endpoint.as_str())?),
            _ => None,
        };
        let mut response = request
            .body(form(token, &self.auth, assertion.as_deref()))
            .send()
            .await
            .map_err(|err| format!("request failed: {}", chain(&err)))?;
        let status = response.status();
        if status != StatusCode::OK {
            return Err(format!("HTTP status {status}"));
        }
        let max = self.max_response_bytes;
        if response.content_length().is_some_and(|len| len > max as u64) {
            return Err(format!("response larger than {max} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|err| format!("reading failed: {}", chain(&err)))?
        {
            if body.len() + chunk.len() > max {
                return Err(format!("response larger than {max} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        read_answer(body, &self.token_types)
    }

    /// The configured endpoint, or the one the metadata names (fetched once; a failure is
    /// retried by the next call).
    async fn endpoint(&self) -> Result<&Url, String> {
        match &self.endpoint {
            Target::Url(url) => Ok(url),
            Target::Discover { issuer, issuer_url, found } => {
                found.get_or_try_init(|| self.discover(issuer, issuer_url)).await
            }
        }
    }

    async fn discover(&self, issuer: &str, issuer_url: &Url) -> Result<Url, String> {
        #[derive(Deserialize)]
        struct Metadata {
            issuer: String,
            introspection_endpoint: Option<String>,
        }
        let mut failures = Vec::new();
        for url in metadata_urls(issuer_url) {
            let body = match get_json(&self.client, &url, self.max_response_bytes, None).await {
                Ok(Fetched::Body { body, .. }) => body,
                Ok(Fetched::NotModified { .. }) => unreachable!("no validators were sent"),
                Err(err) => {
                    failures.push(format!("{url}: {}", chain(&err)));
                    continue;
                }
            };
            let metadata: Metadata = serde_json::from_slice(&body)
                .map_err(|err| format!("{url}: not a metadata document: {err}"))?;
            // RFC 8414 §3.3: a document for another issuer is not this issuer's.
            if metadata.issuer != issuer {
                return Err(format!("{url} names issuer {:?}", metadata.issuer));
            }
            let endpoint = metadata
                .introspection_endpoint
                .ok_or_else(|| format!("{url} names no introspection_endpoint"))?;
            let endpoint = Url::parse(&endpoint)
                .map_err(|_| format!("introspection_endpoint {endpoint:?} is not a URL"))?;
            if !url_allowed(&endpoint, self.allow_http) {
                return Err(format!("introspection_endpoint {endpoint} is not https"));
            }
            return Ok(endpoint);
        }
        Err(format!("no metadata document: {}", failures.join("; ")))
    }
}

/// The form body (RFC 7662 §2.1), with the client's credentials for `client_secret_post` and
/// `private_key_jwt`.
fn form(token: &str, auth: &ClientAuth, assertion: Option<&str>) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token).append_pair("token_type_hint", "access_token");
    match auth {
        ClientAuth::Post { id, secret } => {
            form.append_pair("client_id", id).append_pair("client_secret", secret);
        }
        ClientAuth::PrivateKeyJwt { id, .. } => {
            form.append_pair("client_id", id)
                .append_pair("client_assertion_type", super::assertion::ASSERTION_TYPE)
                .append_pair("client_assertion", assertion.unwrap_or_default());
        }
        ClientAuth::None | ClientAuth::Basic { .. } | ClientAuth::Invalid(_) => {}
    }
    form.finish()
}

/// RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and encoded.
fn basic(id: &str, secret: &str) -> Result<HeaderValue, String> {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = STANDARD.encode(format!("{}:{}", encode(id), encode(secret)));
    let mut value = HeaderValue::from_str(&format!("Basic {credentials}"))
        .map_err(|_| "client credentials do not fit a header".to_owned())?;
    value.set_sensitive(true);
    Ok(value)
}

/// RFC 7662 §2.2: a JSON object whose `active` is a boolean; anything else is no answer. The
/// `token_type` of an active one is read here, once (`accepted`: the application's types
/// besides `Bearer` and `DPoP`).
fn read_answer(body: Vec<u8>, accepted: &[String]) -> Result<Answer, String> {
    #[derive(Deserialize)]
    struct Status {
        active: bool,
        #[serde(default)]
        token_type: Member,
    }
    let body = String::from_utf8(body).map_err(|_| "response is not UTF-8".to_owned())?;
    let status: Status = serde_json::from_str(&body)
        .map_err(|err| format!("not an introspection response: {err}"))?;
    Ok(match status.active {
        true => Answer::Active(body.into(), token_type(status.token_type, accepted)),
        false => Answer::Inactive,
    })
}

/// A member that may be absent; `null` is present (and not a string).
#[derive(Default)]
enum Member {
    #[default]
    Absent,
    Present(serde_json::Value),
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: serde::Deserializer<'de>>(json: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(json).map(Member::Present)
    }
}

/// What `token_type` names. Token types compare case-insensitively (RFC 6749 §5.1); absent, the
/// token is taken for an access token, as RFC 7662 §2.2 makes the member optional.
fn token_type(member: Member, accepted: &[String]) -> TokenType {
    let name = match member {
        Member::Absent => return TokenType::Bearer,
        Member::Present(serde_json::Value::String(name)) => name,
        Member::Present(_) => return TokenType::NotAString,
    };
    if name.eq_ignore_ascii_case("DPoP") {
        TokenType::Dpop
    } else if name.eq_ignore_ascii_case("Bearer")
        || accepted.iter().any(|type_| type_.eq_ignore_ascii_case(&name))
    {
        TokenType::Bearer
    } else {
        TokenType::Other
    }
}

/// The `exp` of an active answer, if it has a numeric one (the claim checks judge the rest).
fn expiry(body: &str) -> Option<f64> {
    #[derive(Deserialize)]
    struct Exp {
        exp: Option<serde_json::Value>,
    }
    serde_json::from_str::<Exp>(body).ok()?.exp?.as_f64()
}

/// The authorization server could not answer: logged at WARN once a minute, DEBUG otherwise.
fn unavailable(why: &str) -> Answer {
    static WARNING: WarnLimit = WarnLimit::new();
    if WARNING.allow() {
        tracing::warn!(error = why, "token introspection failed: refusing opaque tokens");
    } else {
        tracing::debug!(error = why, "token introspection failed");
    }
    Answer::Unavailable
}

fn seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        let value = basic("my client", "p@ss:word").unwrap();
        let encoded = value.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, "my+client:p%40ss%3Aword");
    }

    #[test]
    fn an_answer_needs_a_boolean_active() {
        let read = |body: &[u8]| read_answer(body.to_vec(), &[]);
        assert!(matches!(read(br#"{"active":true}"#), Ok(Answer::Active(_, TokenType::Bearer))));
        assert!(matches!(read(br#"{"active":false}"#), Ok(Answer::Inactive)));
        assert!(read(br#"{"active":"true"}"#).is_err());
        assert!(read(br#"{}"#).is_err());
        assert!(read(b"<html>").is_err());
        assert!(read(br#"{"active":true,"active":false}"#).is_err());
    }

    #[test]
    fn token_types_are_read_once_case_insensitively() {
        let accepted = ["urn:example:at".to_owned()];
        let read = |body: &str| match read_answer(body.as_bytes().to_vec(), &accepted) {
            Ok(Answer::Active(_, token_type)) => token_type,
            other => panic!("{other:?}"),
        };
        assert_eq!(read(r#"{"active":true,"token_type":"BEARER"}"#), TokenType::Bearer);
        assert_eq!(read(r#"{"active":true,"token_type":"dpop"}"#), TokenType::Dpop);
        assert_eq!(read(r#"{"active":true,"token_type":"URN:example:AT"}"#), TokenType::Bearer);
        assert_eq!(read(r#"{"active":true,"token_type":"refresh_token"}"#), TokenType::Other);
        assert_eq!(read(r#"{"active":true,"token_type":"Bearer "}"#), TokenType::Other);
        assert_eq!(read(r#"{"active":true,"token_type":null}"#), TokenType::NotAString);
        assert_eq!(read(r#"{"active":true,"token_type":["Bearer"]}"#), TokenType::NotAString);
        // An inactive answer's type does not matter.
        let inactive = read_answer(br#"{"active":false,"token_type":7}"#.to_vec(), &accepted);
        assert!(matches!(inactive, Ok(Answer::Inactive)));
    }
}
