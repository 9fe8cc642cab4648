"""Serving interface files through MCP: as tools of the server, or as a library a notebook imports."""

from __future__ import annotations

import ast
import json
import importlib.util
import textwrap
from pathlib import Path
from typing import Any

import httpx
import mcp.types as mcp_types
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests.conftest import REPO, fields_of, open_session, output_of, status_of, text_of
from tests.toolkit.conftest import build_tokenizer, tiny_llama

pytestmark = pytest.mark.slow

CALC = textwrap.dedent('''
    @expose
    def add(a: int, b: int = 2) -> int:
        """Add two integers."""
        return a + b

    @expose
    def divide(a: float, b: float) -> float:
        """Divide a by b."""
        return a / b
''')


async def tool_names(client: Client) -> set[str]:
    return {tool.name for tool in await client.list_tools()}


async def test_exposed_functions_become_tools_and_clients_are_told(settings: Settings) -> None:
    notifications: list[Any] = []

    async def on_message(message: Any) -> None:
        notifications.append(message)

    for mode in ("legacy", "auto"):
        notifications.clear()
        async with Client(build_server(settings), mode=mode, message_handler=on_message) as client:
            await client.call_tool("create_sandbox", {})
            served = await client.call_tool("serve_interface", {"name": "calc", "code": CALC})
            assert [f["tool"] for f in served.structured_content["functions"]] == ["calc_add", "calc_divide"]
            assert any(isinstance(n, mcp_types.ToolListChangedNotification) for n in notifications), mode
            tools = {tool.name: tool for tool in await client.list_tools()}
            assert tools["calc_add"].description.startswith("Add two integers.")
            assert tools["calc_add"].input_schema["properties"]["b"] == {"type": "integer", "default": 2}
            result = await client.call_tool("calc_add", {"a": 40})
            assert result.structured_content is None
            assert text_of(result) == "42\n[calc.add · returned JSON]"
            assert fields_of(result) == {"interface": "calc", "function": "add", "chars": 2, "chars_cut": 0}


async def test_a_failing_call_is_an_error_result_with_the_files_traceback(client: Client) -> None:
    await client.call_tool("create_sandbox", {})
    await client.call_tool("serve_interface", {"name": "calc", "code": CALC})
    await client.list_tools()
    result = await client.call_tool("calc_divide", {"a": 1, "b": 0}, raise_on_error=False)
    assert result.is_error
    text = text_of(result)
    assert "calc.divide failed: ZeroDivisionError" in text and 'calc.py", line 10, in divide' in text
    with pytest.raises(ToolError, match="invalid arguments for add: a: Input should be a valid integer"):
        await client.call_tool("calc_add", {"a": "forty"})


async def test_call_interface_and_list_interfaces_reach_the_same_functions(client: Client) -> None:
    await client.call_tool("create_sandbox", {})
    await client.call_tool("serve_interface", {"name": "calc", "code": CALC})
    result = await client.call_tool("call_interface", {"name": "calc", "function": "add",
                                                       "arguments": {"a": 1, "b": 5}})
    assert result.structured_content is None
    assert _value(result) == 6 and status_of(result) == "[calc.add · returned JSON]"
    listed = (await client.call_tool("list_interfaces", {})).structured_content["interfaces"]
    assert listed[0]["name"] == "calc" and listed[0]["expose_as"] == "mcp"
    assert listed[0]["functions"][0] == {"name": "add", "signature": "add(a: int, b: int = 2) -> int",
                                         "doc": "Add two integers.", "tool": "calc_add"}
    with pytest.raises(ToolError, match="no exposed function 'nope'"):
        await client.call_tool("call_interface", {"name": "calc", "function": "nope"})
    with pytest.raises(ToolError, match="no interface 'other' is served"):
        await client.call_tool("call_interface", {"name": "other", "function": "add"})


async def test_reload_picks_up_the_changed_file_and_stop_removes_the_tools(client: Client) -> None:
    await client.call_tool("create_sandbox", {})
    await client.call_tool("write_file", {"path": "tools.py", "content": CALC})
    await client.call_tool("serve_interface", {"name": "calc", "path": "tools.py"})
    assert {"calc_add", "calc_divide"} <= await tool_names(client)
    await client.call_tool("write_file", {"path": "tools.py",
                                          "content": "@expose\ndef add(a: int) -> int:\n    return a + 100\n"})
    await client.call_tool("reload_interface", {"name": "calc"})
    names = await tool_names(client)
    assert "calc_add" in names and "calc_divide" not in names
    assert _value(await client.call_tool("calc_add", {"a": 1})) == 101
    await client.call_tool("stop_interface", {"name": "calc"})
    assert not {n for n in await tool_names(client) if n.startswith("calc_")}
    with pytest.raises(ToolError):
        await client.call_tool("calc_add", {"a": 1})


async def test_a_file_that_fails_to_load_says_where(client: Client) -> None:
    await client.call_tool("create_sandbox", {})
    with pytest.raises(ToolError) as raised:
        await client.call_tool("serve_interface", {"name": "broken", "code": "import os\n\nos.nope()\n"})
    message = str(raised.value)
    assert "failed to load broken.py" in message and 'broken.py", line 3' in message and "AttributeError" in message
    assert (await client.call_tool("list_interfaces", {})).structured_content["interfaces"] == []


async def test_bad_names_are_refused_with_a_reason(client: Client) -> None:
    await client.call_tool("create_sandbox", {})
    with pytest.raises(ToolError, match="must be a Python identifier"):
        await client.call_tool("serve_interface", {"name": "my-tools", "code": CALC})
    with pytest.raises(ToolError, match="exactly one of path"):
        await client.call_tool("serve_interface", {"name": "calc"})
    await client.call_tool("serve_interface", {"name": "calc", "code": CALC})
    with pytest.raises(ToolError, match="already served"):
        await client.call_tool("serve_interface", {"name": "calc", "code": CALC})
    with pytest.raises(ToolError, match="like this server's own .*list_sandboxes"):
        await client.call_tool("serve_interface", {"name": "list", "code": "@expose\ndef sandboxes() -> int:\n"
                                                                           "    return 0\n"})


async def test_a_crashed_worker_leaves_the_sandbox_working(client: Client) -> None:
    await open_session(client)
    await client.call_tool("serve_interface", {"name": "fragile", "code": textwrap.dedent("""
        import os

        @expose
        def crash() -> None:
            os.kill(os.getpid(), 9)

        @expose
        def ping() -> str:
            return "pong"
    """)})
    with pytest.raises(ToolError, match="interface worker died"):
        await client.call_tool("call_interface", {"name": "fragile", "function": "crash"})
    assert output_of(await client.call_tool("execute_code", {"code": "print(1 + 1)"})).strip() == "2"
    await client.call_tool("reload_interface", {"name": "fragile"})
    pong = await client.call_tool("call_interface", {"name": "fragile", "function": "ping"})
    assert pong.structured_content is None
    assert text_of(pong) == "pong\n[fragile.ping · returned text]"


async def test_terminating_the_sandbox_removes_its_interface_tools(client: Client) -> None:
    sandbox_id = (await client.call_tool("create_sandbox", {})).structured_content["sandbox_id"]
    await client.call_tool("serve_interface", {"name": "calc", "code": CALC})
    await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox_id})
    assert not {n for n in await tool_names(client) if n.startswith("calc_")}
    assert (await client.call_tool("list_interfaces", {})).structured_content["interfaces"] == []


async def test_interface_tools_come_back_after_a_server_restart(settings: Settings) -> None:
    settings.terminate_on_exit = False
    async with Client(build_server(settings)) as client:
        await client.call_tool("create_sandbox", {})
        await client.call_tool("serve_interface", {"name": "calc", "code": CALC})
    async with Client(build_server(settings)) as client:
        assert "calc_add" in await tool_names(client)
        assert _value(await client.call_tool("calc_add", {"a": 1})) == 3
        sandbox_id = (await client.call_tool("list_sandboxes", {})).structured_content["sandboxes"][0]["sandbox_id"]
        await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox_id})


# ----- expose_as="library" --------------------------------------------------------

AWKWARD = textwrap.dedent('''
    import torch

    @expose
    def scale(values: torch.Tensor, *, factor: float = 2.0) -> torch.Tensor:
        """Multiply a tensor by a factor."""
        return torch.as_tensor(values) * factor

    @expose
    def gather(first: int, *rest: int, **named: str) -> dict:
        """Echo positional and keyword extras."""
        return {"first": first, "rest": list(rest), "named": named}

    @expose
    def offset(x: float, shift: torch.Tensor = torch.zeros(3)) -> list:
        """Add a shift that defaults to a tensor."""
        return (shift + x).tolist()
''')

USE_AWKWARD = textwrap.dedent("""
    import awkward, inspect, numpy as np
    print(inspect.signature(awkward.scale))
    print(inspect.signature(awkward.offset))
    out = awkward.scale(np.array([1.0, 2.0]), factor=3.0)
    print(type(out).__name__, out.tolist())
    print(awkward.gather(1, 2, 3, tag="x"))
    print(awkward.offset(1.0))
    try:
        awkward.scale([1.0], 2.0)
    except TypeError as exc:
        print("keyword-only:", exc)
""")


async def test_a_library_client_imports_in_the_named_session(client: Client) -> None:
    _, session_id = await open_session(client)
    served = await client.call_tool("serve_interface", {"name": "awkward", "code": AWKWARD,
                                                        "expose_as": "library", "session_id": session_id})
    assert served.structured_content["import"] == "import awkward"
    assert not {n for n in await tool_names(client) if n.startswith("awkward_")}
    lines = output_of(await client.call_tool("execute_code", {"code": USE_AWKWARD})).strip().splitlines()
    assert lines[0] == "(values: 'torch.Tensor', *, factor: 'float' = 2.0) -> 'torch.Tensor'"
    assert lines[1] == "(x: 'float', shift: 'torch.Tensor' = <remote default: tensor([0., 0., 0.])>) -> 'list'"
    assert lines[2] == "ndarray [3.0, 6.0]"
    assert lines[3] == "{'first': 1, 'rest': [2, 3], 'named': {'tag': 'x'}}"
    assert lines[4] == "[1.0, 1.0, 1.0]"
    assert lines[5].startswith("keyword-only:")


async def test_an_isolated_sandbox_cannot_be_handed_another_sandboxs_interface(client: Client) -> None:
    serving = (await client.call_tool("create_sandbox", {"name": "gpu-side"})).structured_content["sandbox_id"]
    _, session_id = await open_session(client, name="cpu-side")
    refused = await client.call_tool("serve_interface", {
        "name": "calc", "code": CALC, "sandbox_id": serving, "expose_as": "library", "session_id": session_id},
        raise_on_error=False)
    assert refused.is_error
    assert "is isolated, so its kernels cannot reach sandbox" in text_of(refused)


async def test_a_notebook_in_one_sandbox_calls_an_interface_in_another(settings: Settings) -> None:
    async with Client(build_server(settings.model_copy(update={"isolation": "none"}))) as client:
        await _calls_across_sandboxes(client, settings)


async def _calls_across_sandboxes(client: Client, settings: Settings) -> None:
    """Without isolation, sandboxes on one machine may call each other's interfaces."""
    serving = (await client.call_tool("create_sandbox", {"name": "gpu-side"})).structured_content["sandbox_id"]
    notebook_sandbox = (await client.call_tool("create_sandbox", {"name": "cpu-side"})).structured_content
    session = await client.call_tool("start_session", {"sandbox_id": notebook_sandbox["sandbox_id"]})
    served = await client.call_tool("serve_interface", {
        "name": "calc", "code": CALC + "\nimport os\n@expose\ndef where() -> str:\n    return os.getcwd()\n",
        "sandbox_id": serving, "expose_as": "library", "session_id": session.structured_content["session_id"]})
    code = "import calc, os\nprint(calc.add(2), calc.where() != os.getcwd())"
    assert output_of(await client.call_tool("execute_code", {"code": code})).strip() == "4 True"
    # The copy in the outputs dir works from the host too, e.g. for an agent that runs locally.
    host_copy = Path(served.structured_content["client_paths"][0])
    assert host_copy.parent == settings.outputs_dir / f"gpu-side-{serving}"
    spec = importlib.util.spec_from_file_location("calc_on_host", host_copy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.add(5, b=5) == 10


async def test_a_library_token_opens_only_its_interface(client: Client) -> None:
    _, session_id = await open_session(client)
    served = await client.call_tool("serve_interface", {"name": "calc", "code": CALC, "expose_as": "library",
                                                        "session_id": session_id})
    source = Path(served.structured_content["client_paths"][0]).read_text()
    token = _constant(source, "_TOKEN")
    socket_path = _constant(source, "_SOCKET_PATH")
    with httpx.Client(transport=httpx.HTTPTransport(uds=socket_path), base_url="http://agent") as http:
        auth = {"Authorization": f"Bearer {token}"}
        call = http.post("/interfaces/calc/call/add", json={"arguments": {"a": 1}}, headers=auth)
        assert call.status_code == 200 and call.json()["result"] == 3
        assert http.post("/interfaces/calc/call/add", json={"arguments": {"a": 1}}).status_code == 401
        for method, path in [("POST", "/exec"), ("GET", "/health"), ("GET", "/interfaces"),
                             ("POST", "/interfaces/calc/reload"), ("GET", "/files?path=.")]:
            assert http.request(method, path, headers=auth, json={"command": "id"}).status_code == 401, path


def _value(result: Any) -> Any:
    """The value an interface call returned that is not a str: its JSON is the text, before the status line."""
    assert result.structured_content is None
    assert status_of(result).endswith(" · returned JSON]")
    return json.loads(output_of(result))


def _constant(source: str, name: str) -> str:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not in the client source")


async def test_the_readme_interface_example_works(client: Client, tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    example = readme.split("# interfaces/embedding.py\n", 1)[1].split("```", 1)[0]
    model_dir = tmp_path / "tiny"
    tiny_llama().save_pretrained(model_dir)
    build_tokenizer().save_pretrained(model_dir)
    await client.call_tool("create_sandbox", {"models": [{"name": str(model_dir), "preload": False}]})
    await client.call_tool("serve_interface", {"name": "embedding", "code": example})
    norm = _value(await client.call_tool("embedding_embedding_norm", {"text": "the cat"}))
    assert isinstance(norm, float) and norm > 0
    size = await client.call_tool("embedding_vocabulary_size", {})
    assert _value(size) == len(build_tokenizer())
