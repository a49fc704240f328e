//! Typed reasons inside [`crate::AuthError`]: why a token is malformed, why a request is
//! malformed, why a DPoP proof is refused, which registered claim has the wrong type, how a
//! service is misconfigured. Each has a short lower-case text; match on the
//! variant, never on the text.

use std::fmt;

macro_rules! reasons {
    (
        $(#[$doc:meta])*
        $name:ident {
            $( $(#[$variant_doc:meta])* $variant:ident => $text:literal, )*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$variant_doc])* $variant, )*
        }

        impl $name {
            /// A short lower-case text, safe to show to the caller.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

reasons! {
    /// Why a token is not a well-formed compact JWS ([`crate::AuthError::Malformed`]).
    MalformedReason {
        /// The token is empty.
        EmptyToken => "empty token",
        /// The token is not an RFC 6750 `b64token`.
        NotB64Token => "token is not a b64token",
        /// The token holds characters outside base64url and `.`.
        NotBase64Url => "token has characters outside base64url",
        /// Not exactly three segments (a JWE has five).
        NotThreeSegments => "token is not three dot-separated segments",
        /// The header or payload segment is empty.
        EmptySegment => "empty header or payload segment",
        /// The header segment is not strict base64url.
        HeaderNotBase64Url => "header is not base64url",
        /// The header is not a JSON object.
        HeaderNotJsonObject => "header is not a JSON object",
        /// A header member name appears twice (RFC 7515 §4).
        DuplicateHeaderMember => "duplicate header member",
        /// The header has no `alg`.
        NoAlg => "header has no alg",
        /// `alg` is not a string.
        AlgNotString => "alg is not a string",
        /// `kid` is not a string.
        KidNotString => "kid is not a string",
        /// `typ` is not a string.
        TypNotString => "typ is not a string",
        /// The payload segment is not strict base64url.
        PayloadNotBase64Url => "payload is not base64url",
        /// The payload is not a JSON object (or is nested too deeply).
        PayloadNotJsonObject => "payload is not a JSON object",
        /// A claim name appears twice at some depth (RFC 7519 §4).
        DuplicateClaim => "duplicate claim",
    }
}

reasons! {
    /// Why a request's credentials are malformed ([`crate::AuthError::InvalidRequest`], 400).
    RequestReason {
        /// Several `Authorization` headers.
        SeveralAuthorizationHeaders => "more than one authorization header",
        /// The `Authorization` header holds bytes that are not visible ASCII.
        NotVisibleAscii => "authorization header is not visible ASCII",
        /// `Bearer` with no token after it.
        SchemeWithoutToken => "bearer scheme without a token",
        /// The credentials after `Bearer` are not one `b64token`.
        MalformedCredentials => "malformed bearer credentials",
        /// The token query parameter is empty.
        EmptyTokenParameter => "empty token parameter",
        /// The token query parameter cannot be decoded.
        MalformedTokenParameter => "malformed token parameter",
        /// The token query parameter appears more than once.
        RepeatedTokenParameter => "token parameter given more than once",
        /// A token in more than one of header, cookie and query (RFC 6750 §2).
        SeveralTokenPlaces => "token sent in more than one place",
        /// The token cookie appears more than once (a sibling domain may have set one).
        RepeatedCookie => "token cookie given more than once",
        /// The token cookie's value is not visible ASCII, so parsers may read it differently.
        MalformedCookie => "malformed token cookie",
        /// An MCP request's body is not one strict JSON-RPC message or batch (duplicate
        /// members, no method name where one is needed), or is over the size limit.
        MalformedMcpBody => "malformed MCP request body",
        /// An MCP request's `Mcp-Method` or `Mcp-Name` header disagrees with its body.
        McpHeaderMismatch => "MCP headers do not match the request body",
    }
}

reasons! {
    /// Why a DPoP proof is refused ([`crate::AuthError::InvalidDpopProof`], RFC 9449 §4.3).
    ProofReason {
        /// No `DPoP` header.
        Missing => "missing DPoP proof",
        /// Several `DPoP` headers.
        Several => "more than one DPoP proof",
        /// Longer than the proof size limit.
        TooLarge => "proof too large",
        /// Not a compact JWS.
        Malformed => "malformed proof",
        /// The proof header is not a strict JSON object.
        MalformedHeader => "malformed proof header",
        /// The proof payload is not a strict JSON object.
        MalformedPayload => "malformed proof payload",
        /// `typ` is not `dpop+jwt`.
        NotDpopJwt => "proof typ is not dpop+jwt",
        /// The proof header carries `crit`.
        CriticalHeader => "unsupported critical header",
        /// `alg` is not an allowed asymmetric algorithm.
        AlgorithmNotAllowed => "proof algorithm not allowed",
        /// No `jwk` in the proof header.
        NoJwk => "proof has no jwk",
        /// The `jwk` holds private key material.
        PrivateJwk => "proof jwk is not a public key",
        /// The `jwk` cannot be used with the proof's algorithm.
        UnusableJwk => "proof jwk unusable",
        /// The proof's signature does not verify with its `jwk`.
        InvalidSignature => "proof signature invalid",
        /// `htm` is not the request method.
        WrongMethod => "proof htm does not match",
        /// `htu` is not a public origin plus the request path.
        WrongUrl => "proof htu does not match",
        /// No `iat`.
        NoIat => "proof iat missing",
        /// `iat` is further in the future than the leeway.
        IssuedInTheFuture => "proof issued in the future",
        /// `iat` is older than the proof's maximum age.
        TooOld => "proof too old",
        /// No `jti`.
        NoJti => "proof jti missing",
        /// `ath` is not the hash of the access token.
        WrongAccessTokenHash => "proof ath does not match the token",
        /// The proof was used before (RFC 9449 §11.1).
        Replayed => "proof already used",
        /// The request target is not an absolute path, so no URL can be checked.
        UnknownRequestUrl => "request URL cannot be determined",
    }
}

reasons! {
    /// A member of the payload (or of an introspection answer) the crate reads itself, named in
    /// [`crate::AuthError::InvalidClaimType`] when it has the wrong JSON type.
    RegisteredClaim {
        /// `exp` (RFC 7519 §4.1.4).
        Exp => "exp",
        /// `nbf` (RFC 7519 §4.1.5).
        Nbf => "nbf",
        /// `iat` (RFC 7519 §4.1.6).
        Iat => "iat",
        /// `iss` (RFC 7519 §4.1.1).
        Iss => "iss",
        /// `aud` (RFC 7519 §4.1.3).
        Aud => "aud",
        /// `sub` (RFC 7519 §4.1.2).
        Sub => "sub",
        /// `jti` (RFC 7519 §4.1.7).
        Jti => "jti",
        /// `scope` (RFC 8693 §4.2).
        Scope => "scope",
        /// `scp` (an array of scopes, as Okta and Entra ID send them).
        Scp => "scp",
        /// `cnf` (RFC 7800).
        Cnf => "cnf",
        /// `acr`, the authentication context class of the user's sign-in (OpenID Connect Core
        /// §2, RFC 9470 §4): a string.
        Acr => "acr",
        /// `auth_time`, when the user signed in (OpenID Connect Core §2, RFC 9470 §4): a
        /// NumericDate.
        AuthTime => "auth_time",
        /// `token_type` of an introspection answer (RFC 7662 §2.2).
        TokenType => "token_type",
    }
}

reasons! {
    /// How a service is set up wrong ([`crate::AuthError::Misconfigured`], answered 500 and
    /// logged, never a pass).
    Misconfiguration {
        /// A role is required of a request whose `JwtAuth` reads no roles.
        RolesNotRead => "roles are required but the JwtAuth reads none (JwtAuthBuilder::roles_claim)",
        /// A permission is required of a request whose `JwtAuth` reads no permissions.
        PermissionsNotRead => "permissions are required but the JwtAuth reads none (JwtAuthBuilder::permissions_claim)",
    }
}

reasons! {
    /// Why a resource identifier was refused ([`crate::BuildError::InvalidResource`],
    /// RFC 8707 §2, RFC 9728 §1.2).
    ResourceProblem {
        /// Not an absolute `http(s)` URL with a host, or not plain visible ASCII.
        NotAnUrl => "expected an absolute https URL",
        /// A fragment (`#…`): RFC 8707 §2 and RFC 9728 §1.2 forbid one.
        Fragment => "a resource identifier has no fragment",
        /// User info (`user@`), which an identifier has no use for.
        UserInfo => "a resource identifier has no user info",
        /// Plain `http` to a host other than loopback (RFC 9728 §1.2 asks for `https`).
        NotHttps => "plain http is allowed to loopback hosts only",
        /// A query (`?…`, even an empty one): RFC 8707 §2 says an identifier should have none,
        /// and a metadata URL with one moves the query behind the well-known path.
        Query => "a resource identifier has no query",
        /// A `.` or `..` path segment, also percent-encoded (`%2e%2e`): the identifier and its
        /// metadata URL would name another path once resolved (RFC 3986 §5.2.4).
        DotSegment => "a resource identifier has no . or .. path segment",
        /// Port 0, which no client can connect to.
        PortZero => "a resource identifier has no port 0",
    }
}

reasons! {
    /// Why a token introspection configuration was refused
    /// ([`crate::BuildError::InvalidIntrospection`], RFC 7662).
    IntrospectionProblem {
        /// Opaque tokens were asked for (`TokenKinds`) without `.introspection(..)`.
        OpaqueWithoutIntrospection => "opaque tokens need .introspection(..)",
        /// Introspection was configured but the token kinds are JWT only.
        IntrospectionWithJwtOnly => "introspection configured but token kinds are Jwt",
        /// The `private_key_jwt` key cannot sign for its algorithm (the reason is logged).
        UnusableClientKey => "the private_key_jwt key is unusable",
        /// A zero timeout.
        ZeroTimeout => "the timeout must not be zero",
        /// A zero response size cap.
        ZeroResponseCap => "the response size cap must not be zero",
        /// An accepted token type that is empty.
        EmptyTokenType => "an accepted token type must not be empty",
        /// The endpoint is not a URL.
        EndpointNotUrl => "the endpoint is not a URL",
        /// The endpoint is not `https` (or `http` to loopback, or allowed).
        EndpointNotHttps => "the endpoint is not https",
        /// The issuer to discover the endpoint from is not a URL.
        IssuerNotUrl => "the issuer is not a URL",
        /// The issuer to discover the endpoint from is not `https`.
        IssuerNotHttps => "the issuer is not https",
        /// The HTTP client could not be built (the reason is logged).
        HttpClient => "the HTTP client could not be built",
    }
}
