# An MCP client built on the official Python SDK, for interop/mcp/tests/mcp.rs. Given only the MCP
# server's URL and its client credentials, the SDK's client-credentials provider finds everything
# else by itself: the 401's challenge names the protected resource metadata (RFC 9728), that names
# the authorization server, whose metadata names the token endpoint; the token request carries
# the metadata's `resource` (RFC 8707).
#
# Usage: interop/mcp/tests/mcp/.venv/bin/python interop/mcp/tests/mcp/client.py
#   (after `python3 -m venv interop/mcp/tests/mcp/.venv` and
#    `interop/mcp/tests/mcp/.venv/bin/pip install -r interop/mcp/tests/mcp/requirements.txt`)
#
# Environment: MCP_URL, ISSUER (the authorization server the credentials belong to),
# CLIENT_ID, CLIENT_SECRET.
#
# Runs the same steps once per protocol revision: `2026-07-28`, which the SDK's default
# `mode="auto"` negotiates with `server/discover`, and `2025-11-25`, the `initialize` handshake
# (`mode="legacy"`). Each run: a client configured for `mcp:tools` connects, lists the tools,
# calls `whoami`, then `admin_echo` (which needs `mcp:admin` too); a second client configured for
# `mcp:tools mcp:admin` connects and calls `admin_echo`.
#
# Writes one JSON line to stdout:
#   {"sdk": "2.3.0", "runs": {"2026-07-28": RUN, "2025-11-25": RUN}}
# RUN: {"mode", "protocolVersion" (negotiated), "tools", "whoami", "requests",
#       "adminWithoutScope": {"result" | "error", "requests"},
#       "adminWithScope": {"result" | "error", "requests"}}
# where `requests` lists HTTP exchanges in order (the first client's up to its `admin_echo` call,
# then that call's, then every one of the second client): method, url, status, `rpc` for a POST
# to the MCP endpoint (the JSON-RPC method of its body, and the tool's name for `tools/call`),
# the `mcp-protocol-version`, `mcp-method` and `mcp-name` request headers when sent, the
# challenge of a 401 or 403, and `form` for a token request (its parameters, never the
# credentials, which go in the Authorization header). Exits non-zero on any unexpected failure.

import asyncio
import json
import os
import sys
import threading
from importlib.metadata import version
from urllib.parse import parse_qsl

import httpx2
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken


def hang_guard() -> None:
    print("the MCP client did not finish within 90 s", file=sys.stderr, flush=True)
    os._exit(3)


MODES = {"2026-07-28": "auto", "2025-11-25": "legacy"}
RECORDED_HEADERS = ("mcp-protocol-version", "mcp-method", "mcp-name")


class MemoryStorage:
    """Token storage for one client, in memory: nothing is shared between clients or runs."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def rpc(request: httpx2.Request) -> str | None:
    """The JSON-RPC method of a POST to the MCP endpoint, with the tool's name for `tools/call`."""
    try:
        body = json.loads(request.content)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("method"), str):
        return None
    name = (body.get("params") or {}).get("name") if body["method"] == "tools/call" else None
    return f"{body['method']} {name}" if isinstance(name, str) else body["method"]


def recording_hooks(requests: list, mcp_url: str, issuer: str) -> dict:
    """httpx event hooks that record each exchange, so the test can check the discovery sequence
    and the headers sent."""

    async def on_response(response: httpx2.Response) -> None:
        request = response.request
        entry = {"method": request.method, "url": str(request.url), "status": response.status_code}
        if request.method == "POST" and str(request.url) == mcp_url:
            entry["rpc"] = rpc(request)
        for name in RECORDED_HEADERS:
            if name in request.headers:
                entry[name] = request.headers[name]
        if response.status_code in (401, 403) and "www-authenticate" in response.headers:
            entry["challenge"] = response.headers["www-authenticate"]
        if request.method == "POST" and str(request.url).startswith(issuer):
            form = dict(parse_qsl(request.content.decode()))
            form.pop("client_secret", None)
            entry["form"] = form
        requests.append(entry)

    return {"response": [on_response]}


def text(result) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


async def call(client: Client, name: str, arguments: dict) -> dict:
    """Calls a tool; its text, or what the SDK raised."""
    try:
        result = await client.call_tool(name, arguments)
        return {"result": text(result), "isError": bool(result.is_error)}
    except Exception as err:  # noqa: BLE001 - the test reads what the SDK raised
        code = getattr(getattr(err, "error", None), "code", None)
        return {"error": f"{type(err).__name__}: {err}", "code": code}


class Connection:
    """One SDK client with its own OAuth provider, token storage and recorded exchanges."""

    def __init__(self, env: dict, mode: str, scope: str) -> None:
        self.requests: list = []
        self.auth = ClientCredentialsOAuthProvider(
            server_url=env["MCP_URL"],
            storage=MemoryStorage(),
            client_id=env["CLIENT_ID"],
            client_secret=env["CLIENT_SECRET"],
            scope=scope,
            issuer=env["ISSUER"],
        )
        self.http = httpx2.AsyncClient(
            auth=self.auth,
            timeout=httpx2.Timeout(15.0),
            event_hooks=recording_hooks(self.requests, env["MCP_URL"], env["ISSUER"]),
        )
        self.client = Client(streamable_http_client(env["MCP_URL"], http_client=self.http), mode=mode)

    async def __aenter__(self) -> "Connection":
        await self.http.__aenter__()
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        try:
            await self.client.__aexit__(*exc)
        finally:
            await self.http.__aexit__(*exc)


async def run(env: dict, mode: str) -> dict:
    out: dict = {"mode": mode}
    async with Connection(env, mode, "mcp:tools") as tools:
        out["protocolVersion"] = tools.client.protocol_version
        out["tools"] = sorted(t.name for t in (await tools.client.list_tools()).tools)
        out["whoami"] = text(await tools.client.call_tool("whoami", {}))
        # A tool that needs more: the server refuses the call 403 insufficient_scope, naming
        # `mcp:tools mcp:admin`. Whatever the SDK does about it is recorded.
        before = len(tools.requests)
        out["adminWithoutScope"] = await call(tools.client, "admin_echo", {"text": "hello"})
        out["adminWithoutScope"]["requests"] = tools.requests[before:]
        out["requests"] = tools.requests[:before]
    async with Connection(env, mode, "mcp:tools mcp:admin") as admin:
        out["adminWithScope"] = await call(admin.client, "admin_echo", {"text": "hello admin"})
    # Read once the client is closed, so the end of its session is in it too.
    out["adminWithScope"]["requests"] = admin.requests
    return out


async def main() -> None:
    env = {key: os.environ.get(key) for key in ("MCP_URL", "ISSUER", "CLIENT_ID", "CLIENT_SECRET")}
    if not all(env.values()):
        print("MCP_URL, ISSUER, CLIENT_ID and CLIENT_SECRET are required", file=sys.stderr)
        sys.exit(2)
    report = {"sdk": version("mcp"), "runs": {}}
    for revision, mode in MODES.items():
        report["runs"][revision] = await run(env, mode)
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    # A hang guard: the test waits for this process to exit.
    timer = threading.Timer(90, hang_guard)
    timer.daemon = True
    timer.start()
    asyncio.run(main())
