"""A Petri-style target conversation: an auditor agent talks to a target model through these functions only.

Why an interface: the auditor sets the target's system prompt, sends user turns (optionally prefilling the
start of the target's reply), rolls turns back to try another approach, and saves the transcript, without
seeing the target's weights, name or the sandbox.

The target is either
  - an OpenAI-compatible chat API, when the env var `TARGET_MODEL` is set: requests go to
    `{TARGET_API_BASE_URL}/chat/completions` (e.g. https://openrouter.ai/api/v1) with the bearer key
    `TARGET_API_KEY` (optional for local servers); `TARGET_API_TIMEOUT` seconds per request (default 120).
    With only `OPENROUTER_API_KEY` (the secret Seer's Petri example gives), the base URL is OpenRouter's
    and that is the key;
  - else the sandbox's configured model, loaded here: the one named by `INTERFACE_MODEL` (default "model";
    if unset and the sandbox has exactly one model, that one), PEFT adapters on their base model. Replies
    use its chat template and greedy decoding, so they are deterministic.
`get_transcript` writes the conversation as JSON to `TRANSCRIPT_PATH`, else `./transcripts/conversation.json`
(relative to the cwd), and as text to `TRANSCRIPT_TEXT_PATH`, else `/tmp/petri_transcript.txt`, where Seer's
Petri example reads it (`scoped.exec("cat /tmp/petri_transcript.txt")`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import httpx

from seer_mcp.interface import expose, load_model

MAX_NEW_TOKENS = 8192
DEFAULT_TRANSCRIPT = Path("transcripts") / "conversation.json"
DEFAULT_TEXT_TRANSCRIPT = Path("/tmp/petri_transcript.txt")
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"

_OPENROUTER_KEY = os.environ.get("OPENROUTER_API_KEY") or None
API_MODEL = os.environ.get("TARGET_MODEL") or None
API_BASE_URL = (os.environ.get("TARGET_API_BASE_URL") or (OPENROUTER_BASE_URL if _OPENROUTER_KEY else "")).rstrip("/")
API_KEY = os.environ.get("TARGET_API_KEY") or _OPENROUTER_KEY
API_TIMEOUT = float(os.environ.get("TARGET_API_TIMEOUT") or 120)

if API_MODEL and not API_BASE_URL:
    # No default host: the key must not go to a server the operator did not name.
    raise ValueError("TARGET_MODEL is set but TARGET_API_BASE_URL is not; set it to the API's base URL, "
                     "e.g. https://openrouter.ai/api/v1")


def _load_local() -> tuple[Any, Any]:
    """(model, tokenizer) of the local target (see the module docstring)."""
    try:
        loaded, tok = load_model(os.environ.get("INTERFACE_MODEL"))
    except Exception as exc:
        if _OPENROUTER_KEY:
            raise ValueError(f"OPENROUTER_API_KEY is set but TARGET_MODEL is not, and no local target loads ({exc}); "
                             "set TARGET_MODEL to the target's OpenRouter model id") from exc
        raise
    if not getattr(tok, "chat_template", None):
        raise ValueError("the target model's tokenizer has no chat template, so it cannot hold a conversation; "
                         "configure a chat (instruct) model or set TARGET_MODEL to use an API model")
    return loaded, tok


# The local model is only loaded when no API target is configured (the sandbox may have no model then).
model, tokenizer = (None, None) if API_MODEL else _load_local()

# The conversation: a system prompt (None = none) and alternating user/assistant messages.
_system: str | None = None
_messages: list[dict[str, str]] = []


# ---- target backends (not exposed) ----

def _local_reply(messages: list[dict[str, str]], prefill: str | None, max_new_tokens: int) -> str:
    import toolkit

    text = toolkit.format_chat(tokenizer, messages, system=_system, prefill=prefill)
    return toolkit.generate(model, tokenizer, text, max_new_tokens=max_new_tokens)[0]


def _api_reply(messages: list[dict[str, str]], prefill: str | None, max_new_tokens: int) -> str:
    sent = ([{"role": "system", "content": _system}] if _system is not None else []) + messages
    if prefill:
        # OpenAI-compatible prefill: a trailing assistant message that the reply continues.
        sent.append({"role": "assistant", "content": prefill})
    body = {"model": API_MODEL, "messages": sent, "max_tokens": max_new_tokens}
    headers = {"Authorization": f"Bearer {API_KEY}"} if API_KEY else {}
    url = f"{API_BASE_URL}/chat/completions"
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=API_TIMEOUT)
    except httpx.TimeoutException:
        raise RuntimeError(f"the target API at {url} did not answer within {API_TIMEOUT:g} s; "
                           "send the message again, or ask for fewer max_new_tokens") from None
    except httpx.HTTPError as exc:
        raise RuntimeError(f"could not reach the target API at {url}: {exc}") from None
    if response.status_code >= 400:
        raise RuntimeError(f"the target API returned HTTP {response.status_code} for model {API_MODEL!r}: "
                           f"{response.text[:500]}")
    try:
        data = response.json()
    except ValueError:
        raise RuntimeError(f"the target API answered with something other than JSON: {response.text[:300]}") from None
    if isinstance(data, dict) and data.get("error"):  # some gateways report errors with HTTP 200
        raise RuntimeError(f"the target API returned an error for model {API_MODEL!r}: {data['error']}")
    try:
        content = data["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise RuntimeError(f"the target API's answer has no choices[0].message: {str(data)[:300]}") from None
    return content or ""


def _exchanges() -> int:
    return len(_messages) // 2


# ---- exposed ----

@expose
def set_system_prompt(prompt: str) -> dict[str, Any]:
    """Set the target's system prompt. As in Petri, this starts a new conversation: all messages are
    cleared, and the new system prompt applies from the next message on. An empty string means no system
    prompt. Returns {"system": the prompt, "cleared_exchanges": how many exchanges were removed}."""
    global _system
    cleared = _exchanges()
    _system = prompt if prompt.strip() else None
    _messages.clear()
    return {"system": _system, "cleared_exchanges": cleared}


@expose
def send_message(content: str, prefill: str | None = None, max_new_tokens: int = 256) -> str:
    """Send a user message to the target and return its reply; both are added to the conversation.

    Args:
        content: the user message.
        prefill: optional text the target's reply is forced to start with (the target continues from it).
            The prefill is part of the reply: the returned text (and the transcript) is prefill + continuation.
        max_new_tokens: at most this many tokens are generated for the reply.
    """
    if not content.strip():
        raise ValueError("content is empty; send the user message text")
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS}, got {max_new_tokens}")
    messages = [*_messages, {"role": "user", "content": content}]
    backend = _api_reply if API_MODEL else _local_reply
    # The conversation only changes once a reply came back, so a failed call can simply be retried.
    continuation = backend(messages, prefill or None, max_new_tokens)
    # The prefill is kept verbatim (the continuation may start mid-word); only outer whitespace is trimmed.
    reply = (prefill + continuation if prefill else continuation.strip()).rstrip()
    _messages.extend([messages[-1], {"role": "assistant", "content": reply}])
    return reply


@expose
def rollback(n: int = 1) -> dict[str, Any]:
    """Remove the last n exchanges (each a user message and the target's reply), e.g. to retry a turn
    differently. The system prompt is kept. Returns {"removed": n, "exchanges": how many remain}."""
    available = _exchanges()
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if n > available:
        raise ValueError(f"cannot roll back {n} exchange(s): the conversation has {available}; "
                         f"call rollback with n <= {available}, or reset_conversation() to start over")
    del _messages[len(_messages) - 2 * n:]
    return {"removed": n, "exchanges": _exchanges()}


@expose
def get_response() -> str:
    """The target's last reply ("" before the first)."""
    return next((m["content"] for m in reversed(_messages) if m["role"] == "assistant"), "")


@expose
def get_transcript() -> dict[str, Any]:
    """The conversation so far: {"system": the system prompt or null, "messages": [{"role", "content"}, ...]}.
    It is also saved, as JSON (TRANSCRIPT_PATH, else ./transcripts/conversation.json) and as text
    (TRANSCRIPT_TEXT_PATH, else /tmp/petri_transcript.txt)."""
    transcript = {"system": _system, "messages": [dict(m) for m in _messages]}
    _save(Path(os.environ.get("TRANSCRIPT_PATH") or DEFAULT_TRANSCRIPT),
          json.dumps(transcript, ensure_ascii=False, indent=2))
    lines = [f"SYSTEM: {_system}"] if _system is not None else []
    lines += [f"{m['role'].upper()}: {m['content']}" for m in _messages]
    _save(Path(os.environ.get("TRANSCRIPT_TEXT_PATH") or DEFAULT_TEXT_TRANSCRIPT), "\n\n".join(lines) + "\n")
    return transcript


def _save(path: Path, text: str) -> None:
    """Atomic: a temporary file next to it, then a rename, so readers never see half a transcript."""
    path = path.absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, 0o644)  # mkstemp makes it private; a transcript is meant to be read
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@expose
def reset_conversation() -> dict[str, Any]:
    """Start over: clear the system prompt and every message. Returns {"system": null, "exchanges": 0}."""
    global _system
    _system = None
    _messages.clear()
    return {"system": None, "exchanges": 0}
