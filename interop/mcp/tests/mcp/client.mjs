// An MCP client built on the official TypeScript SDK, for interop/mcp/tests/mcp.rs. Given only the
// MCP server's URL and its client credentials, the SDK finds everything else by itself: the 401's
// challenge names the protected resource metadata (RFC 9728), that names the authorization
// server, whose metadata names the token endpoint; the token request carries the metadata's
// `resource` (RFC 8707).
//
// Usage: node interop/mcp/tests/mcp/client.mjs   (after `npm ci --prefix interop/mcp/tests/mcp`)
//
// Environment: MCP_URL, ISSUER (the authorization server the credentials belong to),
// CLIENT_ID, CLIENT_SECRET.
//
// Writes one JSON line to stdout:
//   {"whoami": "...", "tools": [...], "adminWithoutScope": {"error": "..."},
//    "adminWithScope": "...", "requests": [{"method", "url", "status", "form"?}, ...]}
// where `requests` lists every HTTP exchange of the first client in order (`form`: the token
// request's parameters, without credentials). Exits non-zero on any unexpected failure.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';

for (const method of ['log', 'info', 'debug', 'warn']) {
  console[method] = (...args) => console.error(...args);
}

// A hang guard: the test waits for this process to exit.
setTimeout(() => {
  console.error('the MCP client did not finish within 90 s');
  process.exit(3);
}, 90_000).unref();

const { MCP_URL, ISSUER, CLIENT_ID, CLIENT_SECRET } = process.env;
if (!MCP_URL || !ISSUER || !CLIENT_ID || !CLIENT_SECRET) {
  console.error('MCP_URL, ISSUER, CLIENT_ID and CLIENT_SECRET are required');
  process.exit(2);
}

// A fetch that records each exchange, so the test can check the discovery sequence.
function recordingFetch(requests) {
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const response = await fetch(input, init);
    const entry = { method, url, status: response.status };
    if (init?.body instanceof URLSearchParams) {
      entry.form = Object.fromEntries(init.body);
    } else if (typeof init?.body === 'string' && url.startsWith(ISSUER)) {
      entry.form = Object.fromEntries(new URLSearchParams(init.body));
    }
    requests.push(entry);
    return response;
  };
}

async function connect(scope, requests) {
  const authProvider = new ClientCredentialsProvider({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    expectedIssuer: ISSUER,
    scope,
  });
  const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), {
    authProvider,
    fetch: recordingFetch(requests),
  });
  const client = new Client({ name: 'jwt-layer-test-client', version: '0.0.0' });
  await client.connect(transport);
  return client;
}

function text(result) {
  return result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

const out = { requests: [] };

// A client that asks for the scope every call needs.
const client = await connect('mcp:tools', out.requests);
out.tools = (await client.listTools()).tools.map((t) => t.name).sort();
out.whoami = text(await client.callTool({ name: 'whoami', arguments: {} }));

// A tool that needs more: the server refuses the call 403 insufficient_scope. This SDK's
// client-credentials provider asks for its configured scope again, gets the same token
// scopes, and gives up after one try.
const before = out.requests.length;
try {
  const result = await client.callTool({ name: 'admin_echo', arguments: { text: 'hello' } });
  out.adminWithoutScope = { result: text(result), isError: result.isError ?? false };
} catch (err) {
  out.adminWithoutScope = { error: String(err?.message ?? err), code: err?.code };
}
out.adminWithoutScope.requests = out.requests.splice(before);
await client.close();

// A client configured with the further scope reaches the tool.
const admin = await connect('mcp:tools mcp:admin', []);
out.adminWithScope = text(await admin.callTool({ name: 'admin_echo', arguments: { text: 'hello admin' } }));
await admin.close();

process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
