// Loopback OpenID provider for tests/oidc_provider.rs, built on panva's `oidc-provider`.
//
// Usage: node tests/oidc/provider.mjs   (after `npm ci --prefix tests/oidc`)
//
// Environment:
//   PORT                      port to listen on (default 0: any free port), always on 127.0.0.1
//   ACCESS_TOKEN_ALG          JWS alg of JWT access tokens: RS256 (default), ES256 or ES512
//   EXIT_ON_STDIN_CLOSE=1     exit when stdin reaches EOF (lets a parent that dies unexpectedly
//                             take this process with it when it holds our stdin as a pipe)
//   BROWSER_REDIRECT_URI      for tests/browser.rs: also a public client `jwt-layer-browser`
//                             (authorization code with PKCE, no secret) redirecting there, and
//                             the provider's own sign-in and consent pages, where any login and
//                             password sign in
//   STEP_UP=1                 for step-up authentication (RFC 9470): also a confidential client
//                             `jwt-layer-step-up` (authorization code, redirecting to
//                             http://127.0.0.1/callback), an end user `alice`, and JWT access
//                             tokens from a code that carry the sign-in's `acr` and `auth_time`;
//                             GET /interaction/:uid signs alice in at once (see below). Not
//                             with BROWSER_REDIRECT_URI
//
// Protocol with the test: exactly one line `{"issuer":"http://127.0.0.1:PORT"}` is written to
// stdout once the server listens; everything else (notices, warnings, request log) goes to stderr.
//
// Test-only routes, handled before the provider sees the request:
//   GET  /__test/stats   JSON counts of requests seen so far: {"discovery":n,"jwks":n,"token":n,"rotate":n}
//   POST /__test/rotate  builds a new Provider (same issuer and configuration) with freshly
//                        generated signing keys (new kids) and swaps it in; answers 204.
//                        Tokens minted before are then signed by keys no longer in the JWKS.
//   GET  /interaction/:uid  with STEP_UP=1: signs alice in, with no page. Without `acr_values`
//                        in the authorization request, a plain sign-in (acr
//                        `urn:example:acr:basic`) made 10 minutes ago; with them, a stronger one
//                        (the first value asked for) made now. The provider decides when to
//                        ask (no session yet, or a session older than the request's `max_age`);
//                        /__test/stats counts these sign-ins as `sign_in`.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

// oidc-provider prints its development NOTICEs with console.info (stdout). Stdout is reserved for
// the single issuer line, so route every console method to stderr.
for (const method of ['log', 'info', 'debug']) {
  console[method] = (...args) => console.error(...args);
}

const CLIENT_ID = 'jwt-layer-test';
const CLIENT_SECRET = 'jwt-layer-secret';
const API_RESOURCE = 'https://api.example.test/';
// Tokens for this resource are opaque (reference tokens), checked by introspection.
const OPAQUE_RESOURCE = 'https://opaque.example.test/';
const RESOURCES = new Set([API_RESOURCE, 'https://other.example.test/', OPAQUE_RESOURCE]);
const SUPPORTED_ALGS = new Set(['RS256', 'ES256', 'ES512']);
const BROWSER_REDIRECT_URI = process.env.BROWSER_REDIRECT_URI || '';
const STEP_UP = process.env.STEP_UP === '1';
const STEP_UP_REDIRECT_URI = 'http://127.0.0.1/callback';
const BASIC_ACR = 'urn:example:acr:basic';
const STRONG_ACR = 'phr';
if (STEP_UP && BROWSER_REDIRECT_URI) {
  console.error('STEP_UP=1 and BROWSER_REDIRECT_URI both answer /interaction: set one of them');
  process.exit(2);
}

const ACCESS_TOKEN_ALG = process.env.ACCESS_TOKEN_ALG || 'RS256';
if (!SUPPORTED_ALGS.has(ACCESS_TOKEN_ALG)) {
  console.error(`ACCESS_TOKEN_ALG must be one of ${[...SUPPORTED_ALGS].join(', ')}, got ${ACCESS_TOKEN_ALG}`);
  process.exit(2);
}

const requestedPort = process.env.PORT === undefined || process.env.PORT === '' ? 0 : Number(process.env.PORT);
if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
  console.error(`PORT must be an integer in 0..65535, got ${process.env.PORT}`);
  process.exit(2);
}

let generation = 0;

// Fresh signing keys: one RSA 2048 (RS256), one P-256 (ES256) and one P-521 (ES512) key, each with a distinct kid
// that also names the generation, so rotated keys are easy to tell apart in logs.
function generateSigningKeys() {
  generation += 1;
  const tag = `g${generation}-${crypto.randomBytes(6).toString('hex')}`;
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const p521 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey.export({ format: 'jwk' });
  return [
    { ...rsa, kid: `rs256-${tag}`, alg: 'RS256', use: 'sig' },
    { ...ec, kid: `es256-${tag}`, alg: 'ES256', use: 'sig' },
    { ...p521, kid: `es512-${tag}`, alg: 'ES512', use: 'sig' },
  ];
}

function buildProvider(issuer) {
  const keys = generateSigningKeys();
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      // Its token endpoint answers this client's page across origins (the default
      // clientBasedCORS: a client without a secret, from the origin of its redirect URI).
      ...(BROWSER_REDIRECT_URI ? [{
        client_id: 'jwt-layer-browser',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [BROWSER_REDIRECT_URI],
        token_endpoint_auth_method: 'none',
      }] : []),
      ...(STEP_UP ? [{
        client_id: 'jwt-layer-step-up',
        client_secret: CLIENT_SECRET,
        application_type: 'native',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [STEP_UP_REDIRECT_URI],
        token_endpoint_auth_method: 'client_secret_basic',
      }] : []),
    ],
    ...(STEP_UP ? {
      acrValues: [BASIC_ACR, STRONG_ACR],
      // RFC 9470 §6.1 and RFC 9068 §2.2.1: the access token says how and when the user signed
      // in, from the authorization code it was exchanged for.
      extraTokenClaims: async (ctx, token) => {
        const code = ctx.oidc.entities.AuthorizationCode;
        if (token.kind !== 'AccessToken' || !code) return undefined;
        return { acr: code.acr, auth_time: code.authTime };
      },
    } : {}),
    jwks: { keys },
    // Cookie signing keys only silence a development warning: this grant uses no cookies.
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: Boolean(BROWSER_REDIRECT_URI) },
      clientCredentials: { enabled: true },
      // RFC 7662 introspection and RFC 7009 revocation, for opaque tokens.
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A token request without `resource` gets a token for the API.
        defaultResource: async () => API_RESOURCE,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx, resource) => {
          if (!RESOURCES.has(resource)) {
            throw new errors.InvalidTarget(`unknown resource ${resource}`);
          }
          if (resource === OPAQUE_RESOURCE) {
            return {
              scope: 'read admin', audience: resource, accessTokenTTL: 5 * 60, accessTokenFormat: 'opaque',
            };
          }
          return {
            scope: 'read admin',
            audience: resource,
            accessTokenTTL: 5 * 60,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: ACCESS_TOKEN_ALG } },
          };
        },
      },
    },
    ttl: {
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 5 * 60,
    },
    // Without BROWSER_REDIRECT_URI or STEP_UP only client_credentials is used: no end-user accounts.
    findAccount: async (_ctx, sub) => (BROWSER_REDIRECT_URI || STEP_UP ? { accountId: sub, claims: async () => ({ sub }) } : undefined),
  });

  provider.on('server_error', (_ctx, err) => console.error('[oidc] server_error:', err));
  for (const event of ['grant.error', 'discovery.error', 'jwks.error']) {
    provider.on(event, (_ctx, err) => console.error(`[oidc] ${event}: ${err.name}: ${err.error_description ?? err.message}`));
  }
  provider.on('grant.success', (ctx) => console.error(`[oidc] token issued to ${ctx.oidc.client?.clientId}`));
  console.error(`[oidc] provider generation ${generation}: kids ${keys.map((k) => k.kid).join(', ')}; access token alg ${ACCESS_TOKEN_ALG}`);
  return provider;
}

let issuer;
let current; // the current provider; swapped on rotation
let handler; // its request listener

// Requests seen per endpoint, so a test can tell how often a client fetched discovery and JWKS.
const hits = {
  discovery: 0, jwks: 0, token: 0, rotate: 0, sign_in: 0,
};
const COUNTED = new Map([
  ['/.well-known/openid-configuration', 'discovery'],
  ['/jwks', 'jwks'],
  ['/token', 'token'],
]);

const server = http.createServer((req, res) => {
  const path = (req.url || '/').split('?')[0];
  if (path === '/__test/stats') {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      .end(JSON.stringify(hits));
    return;
  }
  if (path === '/__test/rotate') {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    req.resume();
    try {
      current = buildProvider(issuer);
      handler = current.callback();
      hits.rotate += 1;
      res.writeHead(204).end();
    } catch (err) {
      console.error('[oidc] rotation failed:', err);
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
    }
    return;
  }
  if (STEP_UP && path.startsWith('/interaction/') && req.method === 'GET' && current) {
    signIn(current, req, res).catch((err) => {
      console.error('[oidc] sign-in failed:', err);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
    });
    return;
  }
  const counted = COUNTED.get(path);
  if (counted) hits[counted] += 1;
  if (!handler) {
    res.writeHead(503).end();
    return;
  }
  handler(req, res);
});

// STEP_UP=1: the sign-in an interaction asks for, finished at once (see the top of this file).
async function signIn(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { params } = details;
  const asked = typeof params.acr_values === 'string' ? params.acr_values.split(' ')[0] : undefined;
  const now = Math.floor(Date.now() / 1000);
  const login = asked
    ? { accountId: 'alice', acr: asked, ts: now }
    : { accountId: 'alice', acr: BASIC_ACR, ts: now - 600 };
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: 'alice', clientId: params.client_id });
  grant.addOIDCScope('openid');
  grant.addResourceScope(API_RESOURCE, 'read');
  const grantId = await grant.save();
  hits.sign_in += 1;
  console.error(`[oidc] ${details.prompt.name} (${details.prompt.reasons.join(', ')}): alice signs in, acr ${login.acr}`);
  await provider.interactionFinished(req, res, { login, consent: { grantId } }, { mergeWithLastSubmission: false });
}

server.on('error', (err) => {
  console.error('[oidc] server error:', err);
  process.exit(1);
});

server.listen(requestedPort, '127.0.0.1', () => {
  const { port } = server.address();
  issuer = `http://127.0.0.1:${port}`;
  current = buildProvider(issuer);
  handler = current.callback();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

function shutdown(signal) {
  console.error(`[oidc] ${signal}: shutting down`);
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

if (process.env.EXIT_ON_STDIN_CLOSE === '1') {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}
