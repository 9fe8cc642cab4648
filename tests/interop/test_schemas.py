"""Every tool's input schema, as the server lists it, passes the checks of every client that converts schemas.

The tools are the server's own and those of served interfaces: `interfaces/model_tools.py` on a tiny Llama,
and a file with one function of each kind of parameter an interface may have. Checks:

* JSON Schema 2020-12 (`Draft202012Validator.check_schema`): what MCP says an inputSchema is;
* openai-agents `ensure_strict_json_schema`: what `convert_schemas_to_strict=True` applies;
* google-genai `types.Schema.from_json_schema`, for the Gemini API and Vertex AI;
* google-genai's MCP conversion (`_mcp_utils.mcp_to_gemini_tools`), what `generate_content` does with a session;
* tool names: Claude Code calls a tool `mcp__<server>__<tool>`, and model APIs take at most 64 characters.
"""

from __future__ import annotations

import copy
import logging
import textwrap
from collections.abc import AsyncIterator, Callable
from typing import Any

import mcp_types
import pytest
import pytest_asyncio
from fastmcp import Client
from fastmcp.exceptions import ToolError

from seer_mcp.server.app import build_server
from seer_mcp.settings import Settings
from tests.conftest import REPO
from tests.interop.conftest import module_settings
from tests.toolkit.conftest import build_tokenizer, tiny_llama

# One server for the module: pytest-asyncio runs a module-scoped async fixture, and so its tests, in one loop.
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

EVERY_KIND = textwrap.dedent('''
    from enum import Enum
    from typing import Annotated, Any, Literal, Optional

    from pydantic import BaseModel, Field

    class Color(Enum):
        RED = "red"
        BLUE = "blue"

    class Point(BaseModel):
        x: float
        y: float = 0.0

    class Segment(BaseModel):
        start: Point
        end: Point
        label: str | None = None

    @expose
    def every_kind(count: Annotated[int, Field(gt=0, lt=10)], ratio: Annotated[float, Field(gt=0)] = 1.0,
                   mode: Literal["a", "b"] = "a", color: Color = Color.RED, point: Optional[Point] = None,
                   segments: list[Segment] | None = None, pair: tuple[int, str] = (1, "x"),
                   tags: dict[str, int] | None = None, anything: Any = None, *rest: int, **extra: str) -> dict:
        """Every kind of parameter."""
        return {"count": count, "tags": tags, "extra": extra}

    @expose
    def nothing() -> str:
        """No parameters at all."""
        return "nothing"
''')


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return module_settings(tmp_path_factory)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tools(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    model_dir = tmp_path_factory.mktemp("tiny")
    tiny_llama().save_pretrained(model_dir)
    build_tokenizer().save_pretrained(model_dir)
    async with Client(build_server(settings)) as client:
        created = await client.call_tool("create_sandbox", {"models": [{"name": str(model_dir), "preload": False}]})
        sandbox_id = created.structured_content["sandbox_id"]
        for name, code in [("model_tools", (REPO / "interfaces" / "model_tools.py").read_text()),
                           ("kinds", EVERY_KIND)]:
            await client.call_tool("serve_interface", {"name": name, "code": code})
        listed = {tool.name: tool for tool in await client.list_tools()}
        yield {"tools": listed, "client": client}
        await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox_id})


def _failures(tools: dict[str, mcp_types.Tool], check: Callable[[dict[str, Any]], Any]) -> dict[str, str]:
    failed = {}
    for name, tool in tools.items():
        try:
            check(copy.deepcopy(tool.input_schema))
        except Exception as exc:  # noqa: BLE001 - each client's own error, reported per tool
            failed[name] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return failed


async def test_the_interface_tools_are_listed(tools: dict[str, Any]) -> None:
    names = set(tools["tools"])
    assert {"model_tools_generate", "model_tools_logit_lens", "kinds_every_kind", "kinds_nothing"} <= names
    assert {"create_sandbox", "call_interface", "execute_code", "sandbox_exec"} <= names


async def test_every_schema_is_json_schema_2020_12(tools: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator

    assert _failures(tools["tools"], Draft202012Validator.check_schema) == {}


async def test_every_schema_converts_to_openai_strict_mode(tools: dict[str, Any]) -> None:
    from agents.strict_schema import ensure_strict_json_schema

    assert _failures(tools["tools"], ensure_strict_json_schema) == {}


@pytest.mark.parametrize("api_option", ["GEMINI_API", "VERTEX_AI"])
async def test_every_schema_converts_to_a_google_genai_schema(tools: dict[str, Any], api_option: str) -> None:
    from google.genai import types

    logging.getLogger("google_genai.types").setLevel(logging.ERROR)  # union types are logged as warnings

    def convert(schema: dict[str, Any]) -> Any:
        return types.Schema.from_json_schema(json_schema=types.JSONSchema(**schema), api_option=api_option)

    assert _failures(tools["tools"], convert) == {}


async def test_every_tool_survives_google_genais_mcp_conversion(tools: dict[str, Any]) -> None:
    from google.genai import _mcp_utils

    def convert(schema: dict[str, Any]) -> Any:
        return _mcp_utils.mcp_to_gemini_tools([mcp_types.Tool(name="t", description="d", input_schema=schema)])

    assert _failures(tools["tools"], convert) == {}
    # The conversion of a session converts the whole list: one failing tool would fail them all.
    converted = _mcp_utils.mcp_to_gemini_tools(list(tools["tools"].values()))
    assert len(converted) == len(tools["tools"])


async def test_every_tool_name_fits_a_model_api_with_claude_codes_prefix(tools: dict[str, Any]) -> None:
    too_long = [name for name in tools["tools"] if len(f"mcp__seer__{name}") > 64]
    assert too_long == []


async def test_an_interface_whose_tool_names_would_be_too_long_is_refused(tools: dict[str, Any]) -> None:
    client: Client = tools["client"]
    long_function = "a_function_name_that_goes_on_and_on_and_on_and_on"  # 49 characters
    code = f"@expose\ndef {long_function}() -> int:\n    return 1\n"
    with pytest.raises(ToolError, match="longer than 53 characters .*shorter"):
        await client.call_tool("serve_interface", {"name": "longish", "code": code})
    listed = {tool.name for tool in await client.list_tools()}
    assert f"longish_{long_function}" not in listed
    listing = (await client.call_tool("list_interfaces", {})).structured_content["interfaces"]
    assert "longish" not in {entry["name"] for entry in listing}


async def test_a_reload_that_would_make_too_long_tool_names_is_refused(tools: dict[str, Any]) -> None:
    client: Client = tools["client"]
    await client.call_tool("write_file", {"path": "grows.py", "content": "@expose\ndef short() -> int:\n    return 1\n"})
    await client.call_tool("serve_interface", {"name": "grows", "path": "grows.py"})
    longer = "@expose\ndef short() -> int:\n    return 1\n\n@expose\ndef " + "x" * 50 + "() -> int:\n    return 2\n"
    await client.call_tool("write_file", {"path": "grows.py", "content": longer})
    with pytest.raises(ToolError, match="longer than 53 characters .*not reloaded"):
        await client.call_tool("reload_interface", {"name": "grows"})
    assert "grows_" + "x" * 50 not in {tool.name for tool in await client.list_tools()}
    await client.call_tool("stop_interface", {"name": "grows"})


async def test_a_map_sent_as_json_text_reaches_the_sandbox(tools: dict[str, Any]) -> None:
    # What a strict-mode (openai) model sends for create_sandbox's env, as its schema asks.
    client: Client = tools["client"]
    created = await client.call_tool("create_sandbox", {"env": '{"SEER_TEST_FROM_TEXT": "decoded"}'})
    sandbox_id = created.structured_content["sandbox_id"]
    try:
        shown = await client.call_tool("sandbox_exec", {"command": "echo $SEER_TEST_FROM_TEXT",
                                                        "sandbox_id": sandbox_id})
        assert shown.content[0].text.startswith("decoded\n")
    finally:
        await client.call_tool("terminate_sandbox", {"sandbox_id": sandbox_id})
