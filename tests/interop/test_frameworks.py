"""What each agent framework hands its model from seer-mcp's results, over a real stdio server.

No model runs: each framework's MCP client and tool objects are called the way the framework calls them
when its model asks for a tool, and the test checks what the framework would then put in front of the
model (see tests/interop/conftest.py for `View`). One server (and sandbox) per framework, made once per
module; each test then checks one kind of output for every framework.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from seer_mcp.settings import Settings
from tests.interop.conftest import (
    CALLS,
    SHELL_COMMAND,
    Call,
    View,
    failure,
    module_settings,
    run_mcp1_framework,
    server_command,
    settings_for,
    short,
    stop_sandboxes,
)

pytestmark = pytest.mark.slow

# Frameworks whose model receives images from a tool result as images.
KEEPS_IMAGES = {"langchain_session", "langchain_get_tools", "pydantic_ai", "openai_agents"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # As a user's server runs: its local sandboxes outlive it (which langchain's get_tools() relies on).
    return module_settings(tmp_path_factory, terminate_on_exit=False)


# ----- langchain-mcp-adapters and smolagents (1.x MCP SDK, run in their own venv) -----------

def drive_langchain(settings: Settings, framework: str) -> dict[str, Any]:
    return run_mcp1_framework(framework, settings_for(settings, framework), CALLS)


def drive_smolagents(settings: Settings, framework: str) -> dict[str, Any]:
    # The last call is what another framework's model would send: the arguments it needs, no more.
    calls = [*CALLS, Call("shell_as_given", "sandbox_exec", {"command": SHELL_COMMAND}, as_given=True)]
    return run_mcp1_framework(framework, settings_for(settings, framework), calls)


# ----- pydantic-ai -------------------------------------------------------------------------

async def drive_pydantic_ai(settings: Settings) -> dict[str, Any]:
    from fastmcp.client.transports import StdioTransport
    from pydantic_ai import ModelRetry, RunContext
    from pydantic_ai.mcp import MCPToolset
    from pydantic_ai.messages import BinaryContent, ToolReturnPart
    from pydantic_ai.models.test import TestModel
    from pydantic_ai.usage import RunUsage

    server = server_command(settings_for(settings, "pydantic_ai"))
    # MCPServerStdio is gone in pydantic-ai 2 ("use MCPToolset"); this is how a stdio server is given.
    toolset = MCPToolset(StdioTransport(command=server["command"], args=server["args"], env=server["env"]))
    ctx = RunContext(deps=None, model=TestModel(), usage=RunUsage())
    views: dict[str, View] = {}
    async with toolset:
        tools = await toolset.get_tools(ctx)
        for call in CALLS:
            try:
                value = await toolset.call_tool(call.tool, call.args, ctx, tools[call.tool])
            except ModelRetry as exc:  # the default tool_error_behavior: the model gets a retry prompt with this text
                views[call.key] = {"text": exc.message, "images": 0, "is_error": True, "raw": short(exc)}
                continue
            except Exception as exc:  # noqa: BLE001
                views[call.key] = failure(exc)
                continue
            # The agent wraps the value in a ToolReturnPart; providers send its items (text, or files natively).
            items = ToolReturnPart(tool_name=call.tool, content=value).content_items(mode="str")
            views[call.key] = {
                "text": "\n".join(item for item in items if isinstance(item, str)),
                "images": sum(1 for item in items if isinstance(item, BinaryContent) and item.is_image),
                "is_error": False, "raw": short([i if isinstance(i, str) else type(i).__name__ for i in items])}
    return {"views": views, "tools": sorted(tools)}


# ----- openai-agents -----------------------------------------------------------------------

def _openai_output_view(item: dict[str, Any]) -> View:
    output = item["output"]
    if isinstance(output, str):
        return {"text": output, "images": 0, "is_error": None, "raw": short(output)}
    texts = [part["text"] for part in output if part["type"] == "input_text"]
    images = sum(1 for part in output if part["type"] == "input_image")
    return {"text": "\n".join(texts), "images": images, "is_error": None,
            "raw": short([p if p["type"] == "input_text" else {"type": p["type"]} for p in output])}


async def _openai_calls(server: Any, calls: list[Call]) -> dict[str, View]:
    from agents import RunContextWrapper
    from agents.items import ItemHelpers
    from agents.mcp import MCPUtil
    from openai.types.responses import ResponseFunctionToolCall

    ctx = RunContextWrapper(context=None)
    mcp_tools = {tool.name: tool for tool in await server.list_tools()}
    views: dict[str, View] = {}
    for index, call in enumerate(calls):
        arguments = json.dumps(call.args)
        try:
            output = await MCPUtil.invoke_mcp_tool(server, mcp_tools[call.tool], ctx, arguments)
        except Exception as exc:  # noqa: BLE001 - the FunctionTool's failure handler shows the model this
            views[call.key] = failure(exc)
            continue
        # What the Runner sends the Responses API as the call's output.
        tool_call = ResponseFunctionToolCall(type="function_call", call_id=f"call_{index}", name=call.tool,
                                             arguments=arguments)
        views[call.key] = _openai_output_view(ItemHelpers.tool_call_output_item(tool_call, output))
    return views


async def drive_openai_agents(settings: Settings) -> dict[str, Any]:
    from agents import Agent, RunContextWrapper
    from agents.mcp import MCPServerStdio, MCPUtil

    # The default client_session_timeout_seconds (5 s) is checked on its own below; here, room for each call.
    server = MCPServerStdio(params=server_command(settings_for(settings, "openai_agents")),
                            client_session_timeout_seconds=120)
    async with server:
        agent = Agent(name="interop", mcp_config={"convert_schemas_to_strict": True})
        function_tools = await MCPUtil.get_function_tools(server, True, RunContextWrapper(context=None), agent)
        views = await _openai_calls(server, CALLS)
    return {"views": views, "tools": sorted(t.name for t in function_tools),
            "strict": {t.name: t.strict_json_schema for t in function_tools},
            "schemas": {t.name: t.params_json_schema for t in function_tools}}


# ----- google-genai ------------------------------------------------------------------------

async def drive_google_genai(settings: Settings) -> dict[str, Any]:
    from google.genai import _common, _extra_utils, types
    from google.genai._adapters import McpToGenAiToolAdapter
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    server = server_command(settings_for(settings, "google_genai"))
    params = StdioServerParameters(command=server["command"], args=server["args"], env=server["env"])
    views: dict[str, View] = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        # What generate_content does with an MCP session in `tools`: convert its tools, map names to the session.
        conversion_error = None
        try:
            _, function_map = await _extra_utils.parse_config_for_mcp_sessions(
                types.GenerateContentConfig(tools=[session]))
        except Exception as exc:  # noqa: BLE001 - reported by its own test; calls go on without it
            conversion_error = f"{type(exc).__name__}: {exc}"
            listing = await session.list_tools()
            adapter = McpToGenAiToolAdapter(session, listing)
            function_map = {tool.name: adapter for tool in listing.tools}
        for call in CALLS:
            # Automatic function calling: the model's function_call part in, the function_response part out.
            response = types.GenerateContentResponse(candidates=[types.Candidate(content=types.Content(
                role="model", parts=[types.Part(function_call=types.FunctionCall(name=call.tool, args=call.args))]))])
            try:
                parts = await _extra_utils.get_function_response_parts_async(response, function_map)
            except Exception as exc:  # noqa: BLE001
                views[call.key] = failure(exc)
                continue
            # How the request is serialized for the API (models.py: convert_to_dict, encode_unserializable_types).
            wire = _common.encode_unserializable_types(_common.convert_to_dict(parts[0].function_response))
            sent = wire["response"]
            views[call.key] = {"text": json.dumps(sent, ensure_ascii=False), "images": 0,
                               "is_error": "error" in sent, "raw": short(sent)}
    return {"views": views, "conversion_error": conversion_error, "tools": sorted(function_map)}


# ----- the fixture: each framework once ---------------------------------------------------

FRAMEWORKS = ["langchain_session", "langchain_get_tools", "pydantic_ai", "openai_agents", "smolagents",
              "smolagents_structured", "google_genai"]


def _drive(framework: str, settings: Settings) -> dict[str, Any]:
    try:
        if framework.startswith("langchain"):
            return drive_langchain(settings, framework)
        if framework.startswith("smolagents"):
            return drive_smolagents(settings, framework)
        driver = {"pydantic_ai": drive_pydantic_ai, "openai_agents": drive_openai_agents,
                  "google_genai": drive_google_genai}[framework]
        return asyncio.run(driver(settings))  # a loop of its own: the MCP session opens and closes in one task
    finally:
        stop_sandboxes(settings_for(settings, framework))


@pytest.fixture(scope="module", params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def run(framework: str, settings: Settings) -> dict[str, Any]:
    """One server per framework, all the calls, and what the model was handed for each."""
    return _drive(framework, settings)


def seen(run: dict[str, Any], key: str) -> View:
    view = run["views"].get(key)
    assert view is not None, f"no result for {key}: {short(run)}"
    return view


# ----- what every framework's model must receive --------------------------------------------

def test_the_sandbox_made_by_one_call_serves_the_next(run: dict[str, Any]) -> None:
    created, session = seen(run, "create"), seen(run, "session")
    assert "sandbox_id" in created["text"] and not created.get("is_error"), created
    # langchain's get_tools() starts a new server for every call: the sandbox must outlive each of them.
    assert "session_id" in session["text"] and not session.get("is_error"), session


def test_printed_text_reaches_the_model(run: dict[str, Any]) -> None:
    view = seen(run, "text")
    assert "hello-from-cell" in view["text"], view


def test_a_plot_cell_reaches_the_model_with_its_printed_text_and_image(run: dict[str, Any], framework: str) -> None:
    view = seen(run, "plot")
    assert "plotted-line" in view["text"], view
    if framework in KEEPS_IMAGES:
        assert view["images"] == 1, view
    if framework == "google_genai":  # the image travels as base64 inside the JSON text, not as an image
        assert '"image"' in view["text"], view


def test_an_error_reaches_the_model_with_its_traceback(run: dict[str, Any]) -> None:
    view = seen(run, "error")
    text = view["text"]
    assert "ValueError" in text and "bad value" in text, view
    assert "explode" in text, f"no traceback frame: {view}"
    assert view.get("is_error") in (True, None), f"the model is told the call succeeded: {view}"
    assert not view.get("raised"), f"the framework raised instead of answering: {view}"


def test_a_huge_output_arrives_cut_with_a_marker_naming_the_notebook(run: dict[str, Any]) -> None:
    view = seen(run, "big")
    text = view["text"]
    assert len(text) < 60_000, f"{len(text):,} characters reached the model"
    assert "line 00000" in text and "line 09999" in text, "the head and the tail are kept"
    assert "cut" in text and ".ipynb" in text, f"no marker naming the notebook: {short(text[-3000:])}"


def test_a_shell_command_reaches_the_model_with_stdout_and_stderr(run: dict[str, Any]) -> None:
    view = seen(run, "shell")
    assert "shell-says-hi" in view["text"] and "shell-complains" in view["text"], view


# ----- what only some frameworks do ------------------------------------------------------

@pytest.mark.parametrize("framework", ["smolagents", "smolagents_structured"], indirect=True)
def test_smolagents_asks_its_model_for_every_input(run: dict[str, Any]) -> None:
    # mcpadapt marks no input nullable, so smolagents refuses a call that leaves an optional one out (the
    # README's compatibility table says so); filled in with null or the default, as above, it works.
    view = seen(run, "shell_as_given")
    assert "shell-says-hi" not in view["text"] and "required" in view["text"], view


@pytest.mark.parametrize("framework", ["openai_agents"], indirect=True)
def test_openai_agents_converts_every_tool_with_arguments_to_strict_mode(run: dict[str, Any]) -> None:
    schemas, strict = run["schemas"], run["strict"]
    takes_arguments = {name for name, schema in schemas.items() if schema.get("properties")}
    assert sorted(name for name in takes_arguments if not strict[name]) == []
    # A tool without arguments cannot be both closed (which strict mode needs) and free of boolean
    # additionalProperties (which google-genai needs): openai-agents then sends it non-strict, which works.
    assert all(schemas[name]["properties"] == {} for name in set(schemas) - takes_arguments)


@pytest.mark.parametrize("framework", ["google_genai"], indirect=True)
def test_google_genai_converts_every_tool(run: dict[str, Any]) -> None:
    assert run["conversion_error"] is None
    assert {"create_sandbox", "execute_code", "sandbox_exec", "call_interface"} <= set(run["tools"])


async def test_openai_agents_default_timeout_leaves_a_slow_cell_answered(settings: Settings) -> None:
    """MCPServerStdio's default client_session_timeout_seconds is 5 s, and progress does not extend it."""
    from agents.mcp import MCPServerStdio

    own = settings_for(settings, "openai_agents_default")
    server = MCPServerStdio(params=server_command(own))
    try:
        async with server:
            views = await _openai_calls(server, [
                Call("create", "create_sandbox"), Call("session", "start_session"),
                Call("slow", "execute_code", {"code": "import time\ntime.sleep(8)\nprint('woke-up')"})])
    finally:
        await asyncio.to_thread(stop_sandboxes, own)
    assert not views["create"].get("raised"), views["create"]
    slow = views["slow"]
    assert not slow.get("raised"), f"the call timed out in the client: {slow}"
    assert "woke-up" in slow["text"] or "still running" in slow["text"], slow
