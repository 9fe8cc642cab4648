"""Provider "claude": Claude Code's agent loop through `claude-agent-sdk`, with the MCP servers as its tools.

A scoped experiment must not hand the agent a shell on the host, so unless `allow_host_tools` is set
the agent gets no built-in tool at all (`tools=[]`, and every host tool listed in `disallowed_tools`
in case a CLI ignores that), only the MCP servers' tools (`mcp__<server>__*`), no settings files
(`setting_sources=[]`: project settings can add hooks, permissions and servers), only the servers given
(`strict_mcp_config`), and `permission_mode="dontAsk"`: whatever is not allowed is refused, not asked.
With `allow_host_tools`, Claude Code's own tools and system prompt (the task appended to it) come back,
pre-approved, since nobody is there to answer a permission prompt.

The SDK bundles the `claude` CLI; it reads the credentials (`ANTHROPIC_API_KEY`, a `claude login`, ...).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from seer_mcp.harness.base import HarnessError, require
from seer_mcp.harness.messages import AgentMessage

__all__ = ["HOST_TOOLS", "ClaudeConversation", "ClaudeTranslator", "claude_options", "mcp_servers_for_claude"]

# Claude Code's built-in tools: everything an agent could use to act on the host rather than through MCP.
HOST_TOOLS = ("Agent", "Task", "Bash", "BashOutput", "KillShell", "KillBash", "Read", "Write", "Edit", "MultiEdit",
              "NotebookEdit", "NotebookRead", "Glob", "Grep", "LS", "WebFetch", "WebSearch", "TodoWrite", "Skill",
              "SlashCommand", "ExitPlanMode", "EnterPlanMode", "AskUserQuestion", "Monitor")

_AUTH_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CODE_USE_BEDROCK",
                   "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY")
_NO_CREDENTIALS = ("no credentials for Claude: set ANTHROPIC_API_KEY (or CLAUDE_CODE_OAUTH_TOKEN), or log in once "
                   "with `claude login`")


def mcp_servers_for_claude(mcp_config: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Entries as the SDK types them: http/sse `{type, url, headers}`, stdio `{type, command, args, env}`.

    `session.mcp_config` entries carry fastmcp's `transport` key as well; it is dropped, and fastmcp-style
    entries that only say `transport` get the matching `type`. In-process SDK servers pass unchanged.
    """
    servers: dict[str, dict[str, Any]] = {}
    for name, entry in (mcp_config or {}).items():
        kind = entry.get("type")
        if kind == "sdk":
            servers[name] = entry
        elif "url" in entry:
            if kind not in ("http", "sse"):
                transport = entry.get("transport")
                kind = "sse" if transport == "sse" or (transport is None and entry["url"].rstrip("/").endswith(
                    "/sse")) else "http"
            servers[name] = {"type": kind, "url": entry["url"],
                             **({"headers": dict(entry["headers"])} if entry.get("headers") else {})}
        elif "command" in entry:
            servers[name] = {"type": "stdio", "command": entry["command"], "args": list(entry.get("args", [])),
                             **({"env": dict(entry["env"])} if entry.get("env") else {})}
        else:
            raise HarnessError(f"MCP server {name!r} has neither a url nor a command: {sorted(entry)}")
    return servers


def claude_options(prompt: str, mcp_config: dict[str, Any] | None = None, model: str | None = None,
                   allow_host_tools: bool = False, max_turns: int | None = None,
                   cwd: str | Path | None = None, env: dict[str, str] | None = None) -> Any:
    """The `ClaudeAgentOptions` of a run (see the module docstring for what is allowed and why).

    `cwd` is the CLI's working directory, which Claude Code describes to the model (path, git or not);
    `env`, variables the CLI (and so its tools' commands) gets on top of this process's.
    """
    sdk = require("claude_agent_sdk", "claude-agent-sdk")
    servers = mcp_servers_for_claude(mcp_config)
    mcp_tools = [f"mcp__{name}__*" for name in servers]
    common: dict[str, Any] = {"mcp_servers": servers, "strict_mcp_config": True, "model": model,
                              "max_turns": max_turns, "permission_mode": "dontAsk", "cwd": cwd,
                              "env": dict(env or {})}
    if allow_host_tools:
        preset: dict[str, Any] = {"type": "preset", "preset": "claude_code"}
        if prompt:
            preset["append"] = prompt
        return sdk.ClaudeAgentOptions(system_prompt=preset, allowed_tools=[*mcp_tools, *HOST_TOOLS], **common)
    return sdk.ClaudeAgentOptions(system_prompt=prompt or None, tools=[], allowed_tools=mcp_tools,
                                  disallowed_tools=list(HOST_TOOLS), setting_sources=[], **common)


def claude_credentials_found(env: dict[str, str] | None = None, home: Path | None = None) -> bool:
    """Whether the CLI has something to authenticate with (a key, a token, a cloud provider, a login)."""
    env = dict(os.environ) if env is None else env
    if any(env.get(name) for name in _AUTH_VARIABLES):
        return True
    config_dir = Path(env.get("CLAUDE_CONFIG_DIR") or (home or Path.home()) / ".claude")
    if (config_dir / ".credentials.json").is_file():
        return True
    return sys.platform == "darwin"  # there `claude login` keeps its token in the keychain, out of our sight


class ClaudeTranslator:
    """Turns the SDK's messages into `AgentMessage`s, remembering tool names so results carry them too."""

    def __init__(self) -> None:
        self._sdk = require("claude_agent_sdk", "claude-agent-sdk")
        self.tool_names: dict[str, str] = {}
        self.turn = 0
        self._message_id: str | None = None
        self._texts: list[str] = []  # the text of the latest assistant message, for a result without one

    def translate(self, message: Any) -> list[AgentMessage]:
        sdk = self._sdk
        if isinstance(message, sdk.AssistantMessage):
            return self._assistant(message)
        if isinstance(message, sdk.UserMessage):
            return self._user(message)
        if isinstance(message, sdk.SystemMessage):
            return self._system(message)
        if isinstance(message, sdk.ResultMessage):
            return [self._result(message)]
        return []  # stream events, rate-limit notices, ...: not part of the conversation

    def _assistant(self, message: Any) -> list[AgentMessage]:
        sdk = self._sdk
        message_id = getattr(message, "message_id", None)
        if message_id is None or message_id != self._message_id:  # the CLI may send one API message in parts
            self.turn += 1
            self._texts = []
        self._message_id = message_id
        meta = {"parent_tool_use_id": message.parent_tool_use_id} if message.parent_tool_use_id else {}
        out: list[AgentMessage] = []
        for block in message.content:
            if isinstance(block, sdk.TextBlock):
                self._texts.append(block.text)
                out.append(AgentMessage("assistant_text", block.text, turn=self.turn, metadata=dict(meta)))
            elif isinstance(block, sdk.ThinkingBlock):
                out.append(AgentMessage("thinking", block.thinking, turn=self.turn, metadata=dict(meta)))
            elif isinstance(block, sdk.ToolUseBlock) or type(block).__name__ == "ServerToolUseBlock":
                self.tool_names[block.id] = block.name
                extra = {"server_tool": True} if not isinstance(block, sdk.ToolUseBlock) else {}
                out.append(AgentMessage("tool_call", tool_name=block.name, tool_use_id=block.id,
                                        arguments=dict(getattr(block, "input", None) or {}), turn=self.turn,
                                        metadata={**meta, **extra}))
            elif isinstance(block, sdk.ToolResultBlock):
                out.append(self._tool_result(block, meta))
        error = getattr(message, "error", None)
        if error:
            hint = f": {_NO_CREDENTIALS}" if error == "authentication_failed" else ""
            out.append(AgentMessage("error", f"Claude reported {error}{hint}", turn=self.turn,
                                    metadata={"error": error}))
        return out

    def _user(self, message: Any) -> list[AgentMessage]:
        meta = {"parent_tool_use_id": message.parent_tool_use_id} if message.parent_tool_use_id else {}
        if isinstance(message.content, str):
            return [AgentMessage("user", message.content, turn=self.turn, metadata={**meta, "source": "claude"})]
        out = []
        for block in message.content:
            if isinstance(block, self._sdk.ToolResultBlock):
                out.append(self._tool_result(block, meta))
            elif isinstance(block, self._sdk.TextBlock):
                out.append(AgentMessage("user", block.text, turn=self.turn, metadata={**meta, "source": "claude"}))
        return out

    def _tool_result(self, block: Any, meta: dict[str, Any]) -> AgentMessage:
        blocks = _result_blocks(block.content)
        text = "\n".join(b["text"] if b["type"] == "text" else f"[image {b['mime_type']}]" for b in blocks)
        return AgentMessage("tool_result", text, tool_name=self.tool_names.get(block.tool_use_id),
                            tool_use_id=block.tool_use_id, result=blocks, is_error=bool(block.is_error),
                            turn=self.turn, metadata=dict(meta))

    def _system(self, message: Any) -> list[AgentMessage]:
        data = dict(message.data or {})
        if message.subtype != "init":
            return [AgentMessage("info", f"system: {message.subtype}", turn=self.turn,
                                 metadata={"subtype": message.subtype, "data": data})]
        servers = data.get("mcp_servers") or []
        kept = {k: data.get(k) for k in ("model", "tools", "mcp_servers", "permissionMode", "cwd", "session_id",
                                         "claude_code_version") if k in data}
        out = [AgentMessage("info", f"session started: model {data.get('model')}, {len(data.get('tools') or [])} "
                                    "tools", turn=self.turn, metadata={"subtype": "init", **kept})]
        for server in servers:
            if isinstance(server, dict) and server.get("status") not in (None, "connected"):
                out.append(AgentMessage("error", f"MCP server {server.get('name')!r} is {server.get('status')}: "
                                                 "its tools are missing", turn=self.turn, metadata={"server": server}))
        return out

    def _result(self, message: Any) -> AgentMessage:
        metadata = {key: getattr(message, key, None) for key in (
            "subtype", "num_turns", "duration_ms", "total_cost_usd", "usage", "stop_reason", "terminal_reason",
            "session_id", "errors")}
        content = message.result if message.result is not None else "\n\n".join(self._texts)
        return AgentMessage("final", content, is_error=bool(message.is_error), turn=self.turn,
                            metadata={k: v for k, v in metadata.items() if v is not None})


def _result_blocks(content: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """A tool result's content (a string, or Messages API blocks) as the harness records blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = []
    for item in content:
        if item.get("type") == "image":
            source = item.get("source") or {}
            blocks.append({"type": "image", "mime_type": source.get("media_type"), "data": source.get("data")})
        elif item.get("type") == "text":
            blocks.append({"type": "text", "text": item.get("text", "")})
        else:
            blocks.append({"type": "text", "text": f"[{item.get('type')} content not shown]"})
    return blocks


class ClaudeConversation:
    """One Claude Code session (`ClaudeSDKClient`); each `turn` is one user message and its answer."""

    def __init__(self, prompt: str, mcp_config: dict[str, Any] | None, model: str, allow_host_tools: bool,
                 max_turns: int | None, workdir: Path | None = None) -> None:
        """`workdir`: a local session's folder, where an agent with host tools works, its libraries importable."""
        self._sdk = require("claude_agent_sdk", "claude-agent-sdk")
        if not claude_credentials_found():
            raise HarnessError(_NO_CREDENTIALS)
        self._args = (prompt, mcp_config, model, allow_host_tools, max_turns)
        in_folder: dict[str, Any] = {}
        if allow_host_tools and workdir is not None:
            path = os.pathsep.join(filter(None, [str(workdir), os.environ.get("PYTHONPATH")]))
            in_folder = {"cwd": workdir, "env": {"PYTHONPATH": path}}
        # checks the entries now; without host tools, the working directory comes later
        self.options = claude_options(*self._args, **in_folder)
        self._workdir: str | None = None
        self.client: Any = None
        self.translator = ClaudeTranslator()

    async def __aenter__(self) -> "ClaudeConversation":
        if not self._args[3]:
            # Without host tools the agent has no use for this machine's working directory, and its name (an
            # experiment's folder, a git repository) could tell a blind agent what it is looking at.
            self._workdir = tempfile.mkdtemp(prefix="seer-agent-")
            self.options = claude_options(*self._args, cwd=self._workdir)
        self.client = self._sdk.ClaudeSDKClient(options=self.options)
        try:
            await self._connect()
        except BaseException:
            self._remove_workdir()
            raise
        return self

    def _remove_workdir(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    async def _connect(self) -> None:
        try:
            await self.client.connect()
        except self._sdk.CLINotFoundError as exc:
            raise HarnessError(f"the claude CLI was not found ({exc}); claude-agent-sdk bundles one: "
                               "pip install --force-reinstall 'seer-mcp[harness]'") from exc
        except self._sdk.ClaudeSDKError as exc:
            raise HarnessError(f"could not start the claude CLI: {exc}") from exc

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.client.disconnect()
        finally:
            self._remove_workdir()

    async def turn(self, user_message: str) -> AsyncIterator[AgentMessage]:
        await self.client.query(user_message)
        async for message in self.client.receive_response():
            for translated in self.translator.translate(message):
                yield translated

    async def interrupt(self) -> list[AgentMessage]:
        """Stops the CLI's turn and reads what it still sends, up to its result, so the next turn starts clean."""
        out: list[AgentMessage] = []
        try:
            await self.client.interrupt()
            async with asyncio.timeout(30):
                async for message in self.client.receive_response():
                    out.extend(self.translator.translate(message))
        except (TimeoutError, self._sdk.ClaudeSDKError) as exc:
            out.append(AgentMessage("error", f"interrupting Claude did not finish cleanly: {exc}"))
        return out
