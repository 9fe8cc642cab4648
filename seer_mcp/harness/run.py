"""`run_agent` (a task, streamed) and `run_agent_interactive` (a terminal chat), over either provider."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from seer_mcp.harness.base import (
    DEFAULT_USER_MESSAGE,
    PROVIDERS,
    Conversation,
    HarnessError,
    require,
    resolve_model,
    server_names,
)
from seer_mcp.harness.local_workdirs import local_workdir_for
from seer_mcp.harness.messages import AgentMessage, Transcript

__all__ = ["AgentRun", "run_agent", "run_agent_interactive"]

_SDKS = {"claude": ("claude_agent_sdk", "claude-agent-sdk"), "anthropic": ("anthropic", "anthropic"),
         "scripted": ("fastmcp", "fastmcp")}


def _check(provider: str, mcp_config: dict[str, Any] | None,
           allow_host_tools: bool | None) -> tuple[bool, Path | None]:
    """Whether the agent gets host tools, and the local session's folder it works in (None: see below)."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; use one of: {', '.join(PROVIDERS)}")
    workdir = None if allow_host_tools is False else local_workdir_for(mcp_config)
    host_tools = bool(allow_host_tools) or workdir is not None
    if allow_host_tools and provider != "claude":
        raise ValueError(f"allow_host_tools needs provider='claude': the {provider!r} provider has no host tools, "
                         "only the MCP servers' tools")
    if host_tools and provider != "claude":
        raise ValueError(f"the agent of the local session in {workdir} works with host tools, which the "
                         f"{provider!r} provider does not have: use provider='claude', or allow_host_tools=False "
                         "for an agent with no tools")
    require(*_SDKS[provider])
    return host_tools, workdir


def _conversation(provider: str, prompt: str, mcp_config: dict[str, Any] | None, model: str,
                  host_tools: bool, workdir: Path | None, max_turns: int | None) -> Conversation:
    if provider == "scripted":
        from seer_mcp.harness.scripted_provider import ScriptedConversation

        return ScriptedConversation(prompt, mcp_config, model)
    if provider == "claude":
        from seer_mcp.harness.claude_provider import ClaudeConversation

        return ClaudeConversation(prompt, mcp_config, model, host_tools, max_turns, workdir=workdir)
    from seer_mcp.harness.anthropic_provider import AnthropicConversation

    return AnthropicConversation(prompt, mcp_config, model, max_turns)


def _system_message(prompt: str, provider: str, model: str, mcp_config: dict[str, Any] | None,
                    host_tools: bool, workdir: Path | None, max_turns: int | None,
                    transcript: Transcript) -> AgentMessage:
    return AgentMessage("system", prompt, metadata={
        "provider": provider, "model": model, "mcp_servers": server_names(mcp_config),
        "allow_host_tools": host_tools, "local_session_dir": str(workdir) if workdir else None,
        "max_turns": max_turns, "transcript": str(transcript.path)})


class AgentRun(AsyncIterator[AgentMessage]):
    """What `run_agent` returns: iterate it for the messages; `transcript_path` is where they are written."""

    def __init__(self, prompt: str, mcp_config: dict[str, Any] | None, provider: str, model: str,
                 user_message: str, host_tools: bool, workdir: Path | None, max_turns: int | None,
                 transcript_path: str | Path | None) -> None:
        self._args = (prompt, mcp_config, provider, model, user_message, host_tools, workdir, max_turns)
        self._transcript = Transcript(transcript_path, provider)
        self._messages = self._run()

    @property
    def transcript_path(self) -> Path:
        return self._transcript.path

    def __aiter__(self) -> "AgentRun":
        return self

    async def __anext__(self) -> AgentMessage:
        return await self._messages.__anext__()

    async def aclose(self) -> None:
        await self._messages.aclose()

    async def _run(self) -> AsyncIterator[AgentMessage]:
        prompt, mcp_config, provider, model, user_message, host_tools, workdir, max_turns = self._args
        conversation = _conversation(provider, prompt, mcp_config, model, host_tools, workdir, max_turns)
        record = self._transcript.write
        answered = False
        try:
            self._transcript.open()
            system = _system_message(prompt, provider, model, mcp_config, host_tools, workdir, max_turns,
                                     self._transcript)
            record(system)
            yield system
            async with conversation:
                user = AgentMessage("user", user_message)
                record(user)
                yield user
                async for message in conversation.turn(user_message):
                    record(message)
                    answered = answered or message.kind == "final"
                    yield message
        except (asyncio.CancelledError, KeyboardInterrupt, GeneratorExit):
            if not answered:  # a caller that stops reading after the final answer stopped nothing
                record(AgentMessage("info", "the run was stopped before the agent finished"))
            raise
        except Exception as exc:
            record(AgentMessage("error", f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            self._transcript.close()


def run_agent(prompt: str, mcp_config: dict[str, Any] | None = None, provider: str = "claude",
              model: str | None = None, user_message: str | None = None, *, allow_host_tools: bool | None = None,
              max_turns: int | None = None, transcript_path: str | Path | None = None) -> AgentRun:
    """Runs an agent on a task and streams its messages (`async for msg in run_agent(...)`).

    prompt: the system prompt, i.e. the task. user_message: the first user turn; default "Begin."
        (with an empty prompt, user_message is required and is the task).
    mcp_config: `{server name: entry}` (e.g. `session.mcp_config`); http/sse and stdio entries; the agent's
        tools are these servers' tools. None or {}: a local session's agent (below), else no tools (a judge,
        a plain question).
    provider: "claude" (Claude Code via claude-agent-sdk), "anthropic" (a tool-use loop on the Messages API) or
        "scripted" (a Python coroutine named by `model`, "module:function": see harness.scripted_provider).
    model: default `SEER_AGENT_MODEL`, else "claude-sonnet-5-5".
    allow_host_tools: give a "claude" agent Claude Code's own tools (shell, files, web) on this machine.
        Unset, they are on only for a local session's agent, as in Seer: with `mcp_config` that session's own
        (or `{}` while a `create_local_session` is open in this process, the newest), the agent works in its
        `workspace_dir` with its libraries importable. False: never (a toolless judge beside a local
        session); a scoped experiment must not hand the agent a shell on the host.
    max_turns: stop after this many model calls ("claude": the CLI's turns).
    transcript_path: the JSON Lines transcript (appended to); default
        `<SEER_OUTPUTS_DIR or ./seer-outputs>/transcripts/<timestamp>-<provider>.jsonl`.

    Yields, in order: the system prompt, the user turn, then the agent's text, thinking, tool calls and tool
    results as they happen, and a `final` message (its content is the answer; `is_error` if the run stopped
    early, e.g. at max_turns). A missing SDK or credential raises `HarnessError`; so does a failed API call,
    after it is written to the transcript.
    """
    host_tools, workdir = _check(provider, mcp_config, allow_host_tools)
    if not prompt and not user_message:
        raise ValueError("give the agent a task: a prompt, a user_message, or both")
    return AgentRun(prompt, mcp_config, provider, resolve_model(model), user_message or DEFAULT_USER_MESSAGE,
                    host_tools, workdir, max_turns, transcript_path)


async def run_agent_interactive(prompt: str = "", mcp_config: dict[str, Any] | None = None, provider: str = "claude",
                                model: str | None = None, user_message: str | None = None, *,
                                allow_host_tools: bool | None = None, max_turns: int | None = None,
                                transcript_path: str | Path | None = None,
                                input_fn: Callable[[str], str] = input,
                                output_fn: Callable[[str], None] = print) -> Path:
    """A terminal chat with the agent: read a line, stream the agent's answer, repeat.

    `user_message`, if given, is sent first without asking. Ctrl-C while the agent works stops its turn and
    returns to the prompt; Ctrl-C or Ctrl-D (EOF) at the prompt, or `/exit`, ends the chat. `mcp_config` and
    `allow_host_tools` are as for `run_agent` (a local session's agent gets host tools in its folder).
    `input_fn` and `output_fn` replace `input` and `print` (tests, other front ends). Everything goes to the
    transcript, as with `run_agent`; its path is returned.
    """
    host_tools, workdir = _check(provider, mcp_config, allow_host_tools)
    model = resolve_model(model)
    conversation = _conversation(provider, prompt, mcp_config, model, host_tools, workdir, max_turns)
    transcript = Transcript(transcript_path, provider)
    transcript.open()
    transcript.write(_system_message(prompt, provider, model, mcp_config, host_tools, workdir, max_turns,
                                     transcript))
    output_fn(f"[{provider} agent, {model}; Ctrl-C stops its turn, Ctrl-D or /exit ends the chat; transcript: "
              f"{transcript.path}]")
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if in_main else None
    if in_main:  # at the prompt, Ctrl-C must raise KeyboardInterrupt out of input_fn (asyncio.run would not)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        async with conversation:
            pending = user_message
            while True:
                if pending is not None:
                    line, pending = pending, None
                    output_fn(f"> {line}")
                else:
                    try:
                        line = input_fn("> ")
                    except (EOFError, KeyboardInterrupt):
                        output_fn("")
                        break
                if line.strip() in ("/exit", "/quit"):
                    break
                if not line.strip():
                    continue
                transcript.write(AgentMessage("user", line))
                await _interactive_turn(conversation, line, transcript, output_fn)
    except Exception as exc:
        transcript.write(AgentMessage("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        transcript.close()
        if in_main:
            signal.signal(signal.SIGINT, previous)
    return transcript.path


async def _interactive_turn(conversation: Conversation, line: str, transcript: Transcript,
                            output_fn: Callable[[str], None]) -> None:
    shown: list[str] = []

    def show(message: AgentMessage) -> None:
        transcript.write(message)
        if message.kind == "final" and not message.is_error and (not message.content or message.content in shown):
            return  # its text was just printed as the agent's message
        if message.kind == "info" and message.metadata.get("subtype") == "init":
            return  # Claude Code's session banner, sent every turn; the chat's own banner said it
        if message.kind == "assistant_text":
            shown.append(message.content)
        output_fn(str(message))

    async def consume() -> None:
        async for message in conversation.turn(line):
            show(message)

    task = asyncio.ensure_future(consume())
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        installed = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals (Windows)
        installed = False
    try:
        await task
    except asyncio.CancelledError:
        if not interrupted:
            raise
        for message in await conversation.interrupt():
            transcript.write(message)  # the rest of the stopped turn: kept, not shown
        transcript.write(AgentMessage("info", "interrupted by the user"))
        output_fn("[interrupted]")
    except HarnessError as exc:  # e.g. an API error: say so and let the user go on
        transcript.write(AgentMessage("error", str(exc)))
        output_fn(f"[error] {exc}")
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
            signal.signal(signal.SIGINT, signal.default_int_handler)
