//! The verification sequence, written once and read top to bottom in
//! [`Authenticator::authenticate`]: every check of a token and of the request that brought it.
//! The layer, [`crate::JwtAuth::verify`], [`crate::JwtAuth::explain`] and introspection all run
//! it; `explain` through an observer that records every outcome, the others through
//! [`Silent`] (see [`crate::observe`]), so an explanation cannot disagree with a verdict.
//!
//! 1. size, before anything else;
//! 2. a token introspection takes (RFC 7662): the authorization server's answer, then its
//!    members judged as a payload is (step 8 on);
//! 3. shape: three base64url segments ([`split`]);
//! 4. the JOSE header ([`parse_header`]), trusted only to pick a key;
//! 5. with several trusted issuers, the route chosen by the unverified `iss`;
//! 6. the keys, through the [`crate::keys::KeyProvider`]: the one wait before the payload;
//! 7. the signature, with a key pinned to the header's `alg`;
//! 8. the payload: one strict pass over the registered claims (duplicate members refused at
//!    any depth), then `exp`, `nbf`, `iss`, `aud`, required claims and `cnf` ([`CLAIM_CHECKS`]);
//! 9. the application's claims type, by `serde_json` alone;
//! 10. the header `typ`, the custom validators, the grants (roles and permissions);
//! 11. the request: the DPoP proof and its binding, the client certificate's binding, the
//!     proof's single use and revocation (the stores are the other waits).
//!
//! Nothing in the payload is trusted before step 7 (RFC 8725 §3.1). A verified token is
//! cached (when the cache is on) after step 10; the request's checks run on every request.

use std::borrow::Cow;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::authenticator::Authenticator;
use crate::check::Check;
use crate::dpop::check_proof;
use crate::error::AuthError;
use crate::jose::header::{DecodeBuffer, TokenHeader, parse_header};
use crate::keys::KeyLookup;
use crate::observe::{Observer, Run};
use crate::request::certificate::check_certificate;
use crate::request::rules::{Presented, check_binding, check_revocation, first_use};
use crate::token::registered::{CLAIM_CHECKS, Registered};
use crate::token::token_cache::TokenCache;
use crate::token::verified::{OwnedState, Verified};
use crate::token::verify::{
    PAYLOAD_STACK_BYTES, Route, Segments, decode_payload, keys_unavailable, read_claims, split,
    verify_signature,
};

/// Why the checks of a JWS did not run on a token that was introspected.
#[cfg(feature = "remote")]
const NOT_A_JWS: &str = "introspected, not verified as a JWT";

impl<C: DeserializeOwned + Send + Sync + 'static> Authenticator<C> {
    /// Every check of `token` and of what the request `presented` with it, in order.
    /// `for_layer`: the verdict goes into a request, whose route layers read `scope` and whose
    /// handlers share the claims (so the verified-token cache may serve it); `verify` hands
    /// out the claims alone.
    pub(crate) async fn authenticate<O: Observer>(
        &self,
        token: &str,
        presented: &Presented,
        for_layer: bool,
        observer: &mut O,
    ) -> Result<Verified<C>, AuthError> {
        let mut run = Run::new(observer);
        let verifier = &self.verifier;
        #[cfg(feature = "remote")]
        let introspector = self.introspector_for(token);
        #[cfg(feature = "remote")]
        if introspector.is_some() {
            run.observer.introspected();
        }
        // 1. Size.
        run.gate(Check::Size, verifier.check_size(token), "the token is over the size limit")?;

        // 2. A token introspection takes.
        #[cfg(feature = "remote")]
        if let Some(introspector) = introspector {
            let key = TokenCache::<C>::key(token);
            // Boxed: the call's future is large, and every request would otherwise carry room
            // for it in the layer's own boxed verification.
            let call = Box::pin(introspector.introspect(key, token, verifier.clock.clone()));
            let answer = call.await;
            for check in
                [Check::Shape, Check::Header, Check::IssuerRoute, Check::Key, Check::Signature]
            {
                run.skip(check, NOT_A_JWS);
            }
            let active = crate::introspection::active(verifier, &answer);
            let active = run.gate(Check::Introspection, active, "no active answer")?;
            let judged = self.judge_payload(
                active.body,
                &active.route,
                None,
                for_layer,
                active.dpop,
                &mut run,
            )?;
            return self.check_request(judged, token, presented, run).await;
        }
        run.skip(
            Check::Introspection,
            if self.introspects() { "verified as a JWT" } else { "no introspection configured" },
        );

        // The verified-token cache serves the layer, whose handlers share the claims;
        // `verify` hands out its own copy, and `explain` looks at every check.
        let cache = verifier.cache.as_ref().filter(|_| for_layer && !O::EVERY_CHECK);
        let cache_key = cache.map(|_| TokenCache::<C>::key(token));
        let mut hit = match (cache, &cache_key) {
            (Some(cache), Some(key)) => {
                let at = verifier.moment();
                cache.get(key, at.now, at.leeway)
            }
            _ => None,
        };

        // 3. Shape.
        let segments = run.gate(Check::Shape, split(token), "not a compact JWS")?;
        run.observer.segments(&segments);
        // 4. Header.
        let mut buffer = DecodeBuffer::default();
        let header = run.check(Check::Header, parse_header(segments.header, &mut buffer))?;
        if let Some(header) = &header {
            run.observer.header(header);
        }
        // 5. Issuer route (with tenants, the resolver may be awaited).
        let routed = self.route(&segments).await;
        let (route, routed_payload) = match self.routes_by_issuer() {
            false => {
                run.skip(Check::IssuerRoute, "one issuer");
                routed?
            }
            true => run.gate(Check::IssuerRoute, routed, "no trusted issuer")?,
        };
        // 6 and 7. Key and signature.
        let mut verified_by = None;
        match &header {
            None => {
                run.skip(Check::Key, "no header");
                run.skip(Check::Signature, "no header");
            }
            Some(header) => {
                let keys = match route.keys.lookup(header) {
                    KeyLookup::Ready(keys) => keys,
                    KeyLookup::Pending(fetch) => fetch.await,
                };
                match run.check(Check::Key, keys.map_err(keys_unavailable))? {
                    None => run.skip(Check::Signature, "no key"),
                    Some(keys) => {
                        // A cached token matched byte for byte and passed steps 7 to 10 when
                        // it was verified, by a key still in the set; `exp` and `nbf` were
                        // judged again. A key rotated out or revoked ends its entries.
                        if let Some((verified, key)) = hit.take() {
                            if keys.keys().iter().any(|found| found.same_key(&key)) {
                                return self
                                    .check_request(Some(verified), token, presented, run)
                                    .await;
                            }
                            if let (Some(cache), Some(cache_key)) = (cache, &cache_key) {
                                cache.remove(cache_key);
                            }
                        }
                        match verify_signature(&keys, header, &segments) {
                            Ok(key) => {
                                run.passed(Check::Signature);
                                run.observer.key(key);
                                verified_by = cache.map(|_| key.clone());
                            }
                            Err(err @ AuthError::InvalidSignature) => {
                                run.check(Check::Signature, Err::<(), _>(err))?;
                            }
                            // No key of the set fits the header: the key check's refusal.
                            Err(err) => {
                                run.check(Check::Key, Err::<(), _>(err))?;
                                run.skip(Check::Signature, "no key");
                            }
                        }
                    }
                }
            }
        }
        // 8 to 10. From here on the payload is authentic (for `explain`, checked even when
        // the signature failed: every problem shows at once).
        let judged = self.judge_jws_payload(
            &segments,
            routed_payload,
            &route,
            header.as_ref(),
            for_layer,
            &mut run,
        )?;
        if let (Some(cache), Some(cache_key), Some(key), Some(verified)) =
            (cache, cache_key, &verified_by, &judged)
        {
            let at = verifier.moment();
            cache.insert(cache_key, verified, key, token.len(), (at.now, at.leeway));
        }
        self.check_request(judged, token, presented, run).await
    }

    /// Steps 8 to 10 for a compact JWS: its payload, decoded on the stack when it fits
    /// (unless the issuer route decoded it already).
    fn judge_jws_payload<O: Observer>(
        &self,
        segments: &Segments<'_>,
        routed_payload: Option<String>,
        route: &Route,
        header: Option<&TokenHeader<'_>>,
        keep_scope: bool,
        run: &mut Run<'_, O>,
    ) -> Result<Option<Verified<C>>, AuthError> {
        let mut stack = [0u8; PAYLOAD_STACK_BYTES];
        let mut heap = Vec::new();
        let payload = match &routed_payload {
            Some(payload) => Ok(payload.as_str()),
            None => decode_payload(segments.payload, &mut stack, &mut heap),
        };
        let payload = run.gate(Check::Payload, payload, "the payload could not be read")?;
        self.judge_payload(payload, route, header, keep_scope, false, run)
    }

    /// Steps 8 to 10 on a payload: a JWS's, or an active introspection answer's (then there is
    /// no header, and `must_be_bound` when its `token_type` is `DPoP`). `None` when a check
    /// refused and the observer goes on.
    fn judge_payload<O: Observer>(
        &self,
        payload: &str,
        route: &Route,
        header: Option<&TokenHeader<'_>>,
        keep_scope: bool,
        must_be_bound: bool,
        run: &mut Run<'_, O>,
    ) -> Result<Option<Verified<C>>, AuthError> {
        let verifier = &self.verifier;
        let rules = &route.rules;
        // 8. Payload and registered claims.
        let read = Registered::read(payload, rules);
        let registered = run.gate(Check::Payload, read, "the payload could not be read")?;
        run.observer.registered(&registered);
        let at = verifier.moment();
        for (check, rule) in CLAIM_CHECKS {
            match check {
                Check::Issuer if rules.issuers.is_empty() => run.skip(check, "any issuer accepted"),
                Check::Audience if rules.audiences.is_empty() => {
                    run.skip(check, "any audience accepted");
                }
                _ => _ = run.check(check, rule(&registered, rules, at))?,
            }
        }
        // RFC 9449 §6: a DPoP token is bound to a key; without `cnf.jkt` no proof can be held
        // to it, so it is refused rather than taken as a bearer token.
        if must_be_bound && registered.jkt.is_none() {
            run.check(Check::Confirmation, Err::<(), _>(AuthError::UnsupportedConfirmation))?;
        }
        // 9. The claims type.
        let claims = run.check(Check::ClaimsType, read_claims::<C>(payload))?;
        // 10. `typ`, validators, grants.
        match header {
            Some(header) if verifier.typ.is_some() => {
                run.check(Check::TokenType, verifier.check_type(header))?;
            }
            Some(_) => run.skip(Check::TokenType, "no type required"),
            None => run.skip(Check::TokenType, "no header"),
        }
        let Some(claims) = claims else {
            run.skip(Check::Validators, "no claims");
            run.skip(Check::Grants, "no claims");
            return Ok(None);
        };
        if verifier.validators.is_empty() {
            run.skip(Check::Validators, "no validators");
        } else {
            run.check(Check::Validators, verifier.run_validators(&claims))?;
        }
        let grants = match verifier.grants(payload, &claims) {
            Ok(None) => {
                run.skip(Check::Grants, "no roles or permissions configured");
                None
            }
            grants => run.check(Check::Grants, grants)?.flatten(),
        };

        let state = verifier.keep_state.then(|| {
            Box::new(OwnedState {
                jti: registered.jti.as_deref().map(str::to_owned),
                sub: registered.sub.as_deref().map(str::to_owned),
                iat: registered.iat,
            })
        });
        Ok(Some(Verified {
            claims: Arc::new(claims),
            exp: registered.exp,
            nbf: registered.nbf,
            scope: registered.scope.as_deref().filter(|_| keep_scope).map(Arc::from),
            authentication: registered.authentication(),
            jkt: registered.jkt.map(Cow::into_owned),
            x5t_s256: registered.x5t_s256.map(Cow::into_owned),
            state,
            grants,
        }))
    }

    /// Step 11: what the request brought with the token. A token bound both ways (`jkt` and
    /// `x5t#S256`) must pass both. `explain` and `verify` bring no proof and no certificate.
    async fn check_request<O: Observer>(
        &self,
        judged: Option<Verified<C>>,
        token: &str,
        presented: &Presented,
        mut run: Run<'_, O>,
    ) -> Result<Verified<C>, AuthError> {
        let Some(verified) = judged else {
            return Err(run.stop_refused("the claims could not be read"));
        };
        let rules = &self.request;
        let proof = match (&presented.dpop, &rules.dpop) {
            (Some(input), Some(config)) => {
                let target = input.target(token);
                let checked = check_proof(config, input.proof(), &target, self.verifier.now());
                run.check(Check::Binding, checked)?
            }
            _ => None,
        };
        let thumbprint = proof.as_ref().map(|proof| proof.thumbprint.as_str());
        let binding = check_binding(verified.jkt.as_deref(), thumbprint).and_then(|()| {
            check_certificate(verified.x5t_s256.as_deref(), presented.certificate.as_deref())
        });
        run.check(Check::Binding, binding)?;
        if let (Some(proof), Some(config)) = (&proof, &rules.dpop) {
            run.check(Check::Binding, first_use(config, proof).await)?;
        }
        match &rules.revocation {
            None => run.skip(Check::Revocation, "no revocation store"),
            Some(store) => {
                let revoked = check_revocation(store.as_ref(), verified.state.as_deref()).await;
                run.check(Check::Revocation, revoked)?;
            }
        }
        run.finish(verified)
    }

    /// Step 5 with tenants: the unverified `iss` resolved to a tenant's route (boxed, as
    /// introspection's call is: only tenants' requests make room for it); the verifier's
    /// fixed routes otherwise.
    async fn route(
        &self,
        segments: &Segments<'_>,
    ) -> Result<(Arc<Route>, Option<String>), AuthError> {
        #[cfg(feature = "remote")]
        if let Some(tenants) = &self.tenants {
            use crate::token::verify::{peek_issuer, routing_payload};
            let payload = routing_payload(segments)?;
            let issuer = peek_issuer(&payload)?;
            let route = Box::pin(tenants.route(&issuer, self.verifier.moment().now)).await?;
            return Ok((route, Some(payload)));
        }
        self.verifier.route(segments)
    }

    /// Whether the route depends on the token's issuer (several trusted issuers, or tenants).
    fn routes_by_issuer(&self) -> bool {
        #[cfg(feature = "remote")]
        return self.verifier.by_issuer || self.tenants.is_some();
        #[cfg(not(feature = "remote"))]
        self.verifier.by_issuer
    }

    /// Whether any token may be introspected.
    fn introspects(&self) -> bool {
        #[cfg(feature = "remote")]
        return self.introspection.is_some();
        #[cfg(not(feature = "remote"))]
        false
    }
}
