"""HTTP hardening: Host and Origin against DNS rebinding and cross-site pages, clear refusals of a non-ASCII
bearer token and of names with a trailing newline, and an upper bound on every timeout argument.

The HTTP checks go to real `seer-mcp serve` processes with raw requests; the tool checks go through an
in-memory client.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from seer_mcp.experiments.config import ConfigError, ExperimentConfig
from seer_mcp.server.origin import HostOriginGuard
from seer_mcp.limits import (
    MAX_CELL_TIMEOUT_S,
    MAX_EXEC_TIMEOUT_S,
    MAX_INTERFACE_CALL_TIMEOUT_S,
    MAX_SANDBOX_LIFETIME_S,
)
from seer_mcp.settings import Settings
from tests.conftest import (free_port, server_env, start_http_server, stdio_server_with_ui, stop_http_server,
                            text_of)
from tests.ui.harness import wait_for

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "hardening-test", "version": "0"}}}
ACCEPT = {"Accept": "application/json, text/event-stream"}


class Served:
    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.base = f"http://127.0.0.1:{self.port}"

    def post_mcp(self, headers: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.base}/mcp", json=INITIALIZE, headers={**ACCEPT, **self.auth, **headers})

    def get_ui(self, headers: dict[str, Any]) -> httpx.Response:
        return httpx.get(f"{self.base}/ui/api/sandboxes", headers={**self.auth, **headers})

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _serve(tmp: Path, **env_extra: str) -> Iterator[Served]:
    settings = Settings(state_dir=tmp / "state", outputs_dir=tmp / "outputs", terminate_on_exit=True, _env_file=None)
    token = "hardening-" + os.urandom(8).hex()
    env = {**server_env(settings), "SEER_HTTP_TOKEN": token, **env_extra}
    port = free_port()
    proc = start_http_server(env, port, tmp / "http.err")
    try:
        yield Served(port, token)
    finally:
        stop_http_server(proc)


@pytest.fixture(scope="module")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`seer-mcp serve --http` as it starts by default: on 127.0.0.1."""
    yield from _serve(tmp_path_factory.mktemp("loopback"))


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Bound to every address, with the one name it is reached by listed."""
    yield from _serve(tmp_path_factory.mktemp("public"), SEER_HTTP_HOST="0.0.0.0",
                      SEER_HTTP_ALLOWED_HOSTS='["seer.example.org"]')


def _refusal(response: httpx.Response, status: int, error: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    return body["error_description"]


# ----- Host: DNS rebinding ----------------------------------------------------------


def test_the_mcp_endpoint_refuses_a_host_that_is_not_the_served_address(loopback: Served) -> None:
    said = _refusal(loopback.post_mcp({"Host": f"rebind.example:{loopback.port}"}), 421, "invalid_host")
    assert f"'rebind.example:{loopback.port}'" in said and f"127.0.0.1:{loopback.port}" in said
    assert "DNS rebinding" in said and "SEER_HTTP_ALLOWED_HOSTS" in said


def test_the_host_check_comes_before_the_token_check(loopback: Served) -> None:
    response = httpx.post(f"{loopback.base}/mcp", json=INITIALIZE,
                          headers={**ACCEPT, "Host": f"rebind.example:{loopback.port}"})
    _refusal(response, 421, "invalid_host")  # not a 401 that tells a rebinding page a token would do


def test_the_web_ui_refuses_a_host_that_is_not_the_served_address(loopback: Served) -> None:
    _refusal(loopback.get_ui({"Host": f"rebind.example:{loopback.port}"}), 421, "invalid_host")


def test_the_served_host_on_another_port_is_refused(loopback: Served) -> None:
    _refusal(loopback.post_mcp({"Host": f"127.0.0.1:{loopback.port + 1}"}), 421, "invalid_host")


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]"])
def test_every_loopback_name_of_the_served_port_passes(loopback: Served, name: str) -> None:
    response = loopback.post_mcp({"Host": f"{name}:{loopback.port}"})
    assert response.status_code == 200, response.text
    assert loopback.get_ui({"Host": f"{name}:{loopback.port}"}).json() == {"sandboxes": []}


def test_bound_to_every_address_a_listed_name_passes(public: Served) -> None:
    assert public.post_mcp({"Host": "seer.example.org"}).status_code == 200
    assert public.post_mcp({"Host": f"127.0.0.1:{public.port}"}).status_code == 200


def test_bound_to_every_address_with_names_listed_any_other_name_is_refused(public: Served) -> None:
    said = _refusal(public.post_mcp({"Host": f"rebind.example:{public.port}"}), 421, "invalid_host")
    assert "seer.example.org" in said


async def test_bound_to_every_address_with_no_names_listed_any_host_passes() -> None:
    app = HostOriginGuard(Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))]),
                          host="0.0.0.0", port=8765)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://10.1.2.3:8765") as client:
        assert (await client.get("/", headers={"Host": "anything.example:8765"})).text == "ok"
        response = await client.get("/", headers={"Host": "anything.example:8765", "Origin": "http://other.example"})
        assert response.status_code == 403  # still: a page of another site


async def test_a_listed_name_without_a_port_passes_on_any_port_as_through_an_ssh_tunnel() -> None:
    app = HostOriginGuard(Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))]),
                          host="127.0.0.1", port=8765, allowed_hosts=["localhost"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost:9000") as client:
        assert (await client.get("/", headers={"Origin": "http://localhost:9000"})).text == "ok"
        assert (await client.get("/", headers={"Host": "127.0.0.1:9000"})).status_code == 421


def test_an_allowed_host_that_is_not_a_host_name_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="not host names"):
        Settings(http_allowed_hosts=["http://seer.example.org/"], _env_file=None)


# ----- Origin: other sites' pages ---------------------------------------------------


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:3000"])
def test_a_page_of_another_site_is_refused(loopback: Served, origin: str) -> None:
    said = _refusal(loopback.post_mcp({"Origin": origin}), 403, "invalid_origin")
    assert repr(origin) in said and f"127.0.0.1:{loopback.port}" in said
    _refusal(loopback.get_ui({"Origin": origin}), 403, "invalid_origin")


def test_the_served_address_as_origin_passes(loopback: Served) -> None:
    assert loopback.post_mcp({"Origin": loopback.base}).status_code == 200
    assert loopback.get_ui({"Origin": loopback.base}).status_code == 200


def test_behind_a_tls_proxy_the_listed_name_is_its_own_origin(public: Served) -> None:
    response = public.post_mcp({"Host": "seer.example.org", "Origin": "https://seer.example.org"})
    assert response.status_code == 200


async def test_a_client_that_sends_no_origin_works_as_before(loopback: Served) -> None:
    async with Client(StreamableHttpTransport(f"{loopback.base}/mcp", auth=loopback.token)) as client:
        assert "execute_code" in {tool.name for tool in await client.list_tools()}


def test_the_web_ui_beside_a_stdio_server_checks_host_and_origin_too(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", outputs_dir=tmp_path / "outputs", _env_file=None)
    port = free_port()
    env = {**server_env(settings), "SEER_HTTP_TOKEN": "stdio-ui-token"}
    with stdio_server_with_ui(env, port, tmp_path / "server.err"):
        url, auth = f"http://127.0.0.1:{port}/ui/api/sandboxes", {"Authorization": "Bearer stdio-ui-token"}
        wait_for(lambda: httpx.get(url, headers=auth).status_code == 200, 60, interval=0.1, what="the UI to listen")
        _refusal(httpx.get(url, headers={**auth, "Host": f"rebind.example:{port}"}), 421, "invalid_host")
        _refusal(httpx.get(url, headers={**auth, "Origin": "http://evil.example"}), 403, "invalid_origin")


# ----- a bearer token that is not ASCII ---------------------------------------------


def test_a_non_ascii_bearer_token_is_a_clear_400(loopback: Served) -> None:
    response = loopback.post_mcp({"Authorization": "Bearer tok\u00e9n".encode()})
    said = _refusal(response, 400, "invalid_request")
    assert "non-ASCII" in said and "Authorization: Bearer <token>" in said


def test_the_web_ui_answers_a_non_ascii_bearer_token_with_401_not_500(loopback: Served) -> None:
    response = loopback.get_ui({"Authorization": "Bearer tok\u00e9n".encode()})
    assert response.status_code == 401 and "not logged in" in response.json()["error"]


# ----- names with a trailing newline ------------------------------------------------


async def test_an_interface_name_with_a_trailing_newline_is_a_clear_tool_error_over_http(loopback: Served) -> None:
    async with Client(StreamableHttpTransport(f"{loopback.base}/mcp", auth=loopback.token)) as client:
        result = await client.call_tool("serve_interface", {"name": "calc\n", "code": "x = 1\n"},
                                        raise_on_error=False)
    assert result.is_error
    said = text_of(result)
    assert "interface name 'calc\\n' must be a Python identifier" in said and "internal error" not in said


@pytest.mark.parametrize(("tool", "arguments", "expected"), [
    ("create_sandbox", {"name": "probe\n"}, "name 'probe\\n' must be 1-63 letters"),
    ("create_sandbox", {"env": {"SEED\n": "0"}}, "env key 'SEED\\n' is not a valid environment variable name"),
    ("create_sandbox", {"workspace": {"libraries": [{"name": "consts\n", "code": "SEED = 0"}]}},
     "library name 'consts\\n' is not a Python module name"),
    ("start_session", {"name": "probing\n"}, "session name 'probing\\n' has a line break"),
])
async def test_a_name_with_a_trailing_newline_is_refused_before_anything_is_made(
        client: Client, tool: str, arguments: dict[str, Any], expected: str) -> None:
    result = await client.call_tool(tool, arguments, raise_on_error=False)
    assert result.is_error and expected in text_of(result), text_of(result)
    assert (await client.call_tool("list_sandboxes", {})).structured_content == {"sandboxes": []}


def test_a_config_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('[experiment]\nname = "probe\\n"\n[sandbox]\n[session]\nname = "notebook\\n"\n')
    with pytest.raises(ConfigError) as caught:
        ExperimentConfig.load(path)
    problems = "\n".join(caught.value.problems)
    assert "name 'probe\\n' must be" in problems and "name 'notebook\\n' must be" in problems


# ----- an upper bound on every timeout argument -------------------------------------


@pytest.mark.parametrize(("tool", "arguments", "limit"), [
    ("execute_code", {"code": "1", "timeout": MAX_CELL_TIMEOUT_S + 1}, MAX_CELL_TIMEOUT_S),
    ("edit_cell", {"cell_index": 0, "code": "1", "timeout": MAX_CELL_TIMEOUT_S + 1}, MAX_CELL_TIMEOUT_S),
    ("sandbox_exec", {"command": "true", "timeout": MAX_EXEC_TIMEOUT_S + 1}, MAX_EXEC_TIMEOUT_S),
    ("serve_interface", {"name": "calc", "code": "x = 1\n", "call_timeout": MAX_INTERFACE_CALL_TIMEOUT_S + 1},
     MAX_INTERFACE_CALL_TIMEOUT_S),
    ("create_sandbox", {"timeout": MAX_SANDBOX_LIFETIME_S + 1}, MAX_SANDBOX_LIFETIME_S),
    ("create_sandbox", {"idle_timeout": MAX_SANDBOX_LIFETIME_S + 1}, MAX_SANDBOX_LIFETIME_S),
])
async def test_a_timeout_over_its_limit_is_refused_with_the_limit_named(
        client: Client, tool: str, arguments: dict[str, Any], limit: float) -> None:
    result = await client.call_tool(tool, arguments, raise_on_error=False)
    assert result.is_error
    assert f"less than or equal to {limit:g}" in text_of(result), text_of(result)


async def test_a_timeout_at_its_limit_is_accepted(client: Client) -> None:
    result = await client.call_tool("execute_code", {"code": "1", "timeout": MAX_CELL_TIMEOUT_S},
                                    raise_on_error=False)
    assert result.is_error and "less than or equal" not in text_of(result)  # refused for want of a session


async def test_every_timeout_argument_of_every_tool_has_an_upper_bound(client: Client) -> None:
    unbounded = []
    for tool in await client.list_tools():
        for name, schema in tool.input_schema.get("properties", {}).items():
            bounded = "maximum" in schema or any("maximum" in s for s in schema.get("anyOf", []))
            if "timeout" in name and not bounded:
                unbounded.append(f"{tool.name}.{name}")
    assert unbounded == []


def test_a_config_timeout_over_its_limit_is_refused_with_the_limit_named(tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text("")
    path = tmp_path / "x.toml"
    path.write_text(textwrap.dedent(f"""\
        [experiment]
        name = "x"
        [sandbox]
        timeout = {MAX_SANDBOX_LIFETIME_S + 1}
        [[interfaces]]
        name = "tools"
        path = "tools.py"
        call_timeout = {MAX_INTERFACE_CALL_TIMEOUT_S + 1}
    """))
    with pytest.raises(ConfigError) as caught:
        ExperimentConfig.load(path)
    problems = "\n".join(caught.value.problems)
    assert f"less than or equal to {MAX_SANDBOX_LIFETIME_S:g}" in problems
    assert f"less than or equal to {MAX_INTERFACE_CALL_TIMEOUT_S:g}" in problems
