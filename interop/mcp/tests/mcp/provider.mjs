// Loopback authorization server for interop/mcp/tests/mcp.rs, built on panva's `oidc-provider`:
// the client
// credentials grant with resource indicators (RFC 8707), issuing JWT access tokens (RFC 9068)
// for the requested MCP server.
//
// Usage: node interop/mcp/tests/mcp/provider.mjs   (after `npm ci --prefix interop/mcp/tests/mcp`)
//
// Environment:
//   EXIT_ON_STDIN_CLOSE=1   exit when stdin reaches EOF (lets a parent that dies unexpectedly
//                           take this process with it when it holds our stdin as a pipe)
//
// Protocol with the test: exactly one line `{"issuer":"http://127.0.0.1:PORT"}` is written to
// stdout once the server listens; everything else goes to stderr.
//
// Resources: any MCP endpoint on loopback (`http://127.0.0.1:PORT/mcp`, the port being the
// test server's, unknown here in advance) and `https://other.example.test/mcp`, another
// resource the MCP server must refuse tokens for. A token request names its resource; one
// without gets no token. Scopes: `mcp:tools` and `mcp:admin`.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

// oidc-provider prints its development notices with console.info (stdout), which is reserved
// for the issuer line.
for (const method of ['log', 'info', 'debug']) {
  console[method] = (...args) => console.error(...args);
}

const CLIENT_ID = 'mcp-client';
const CLIENT_SECRET = 'mcp-client-secret';
const OTHER_CLIENT_ID = 'mcp-other-client';
const OTHER_CLIENT_SECRET = 'mcp-other-client-secret';
const SCOPES = 'mcp:tools mcp:admin';
const LOOPBACK_MCP = /^http:\/\/127\.0\.0\.1:[0-9]{1,5}\/mcp$/;
const OTHER_RESOURCE = 'https://other.example.test/mcp';

function buildProvider(issuer) {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: SCOPES,
      },
      // A second client: another caller, whose token must not be taken on the first one's
      // MCP session.
      {
        client_id: OTHER_CLIENT_ID,
        client_secret: OTHER_CLIENT_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: SCOPES,
      },
    ],
    jwks: { keys: [{ ...rsa, kid: `rs256-${crypto.randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' }] },
    // Cookie signing keys only silence a development warning: this grant uses no cookies.
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    scopes: SCOPES.split(' '),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx, resource) => {
          if (!LOOPBACK_MCP.test(resource) && resource !== OTHER_RESOURCE) {
            throw new errors.InvalidTarget(`unknown resource ${resource}`);
          }
          return {
            scope: SCOPES,
            audience: resource,
            accessTokenTTL: 5 * 60,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    ttl: {
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 5 * 60,
    },
    // Only client_credentials is used; there are no end-user accounts.
    findAccount: async () => undefined,
  });
  provider.on('server_error', (_ctx, err) => console.error('[as] server_error:', err));
  provider.on('grant.error', (_ctx, err) => console.error(`[as] grant.error: ${err.name}: ${err.error_description ?? err.message}`));
  provider.on('grant.success', (ctx) => console.error(`[as] token issued to ${ctx.oidc.client?.clientId}`));
  return provider;
}

let handler;
const server = http.createServer((req, res) => {
  console.error(`[as] ${req.method} ${req.url}`);
  if (!handler) {
    res.writeHead(503).end();
    return;
  }
  handler(req, res);
});

server.on('error', (err) => {
  console.error('[as] server error:', err);
  process.exit(1);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  handler = buildProvider(issuer).callback();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

function shutdown(reason) {
  console.error(`[as] ${reason}: shutting down`);
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
