"""Chat models behind an OpenAI-compatible API (OpenRouter, vLLM, OpenAI, ...), for notebooks.

The endpoint is `API_BASE_URL` (default https://openrouter.ai/api/v1); the key is read from the
environment variable named by `API_KEY_ENV` (default OPENROUTER_API_KEY), else `API_KEY`. Requests
that hit a rate limit or a server error are retried with backoff.

    import api_models
    api_models.chat("meta-llama/llama-3.1-8b-instruct", [{"role": "user", "content": "Hi"}])
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx

__all__ = ["chat", "list_models", "sample"]

_RETRIES = 5


def _endpoint() -> tuple[str, dict[str, str]]:
    base = os.environ.get("API_BASE_URL", "https://openrouter.ai/api/v1").rstrip("/")
    key = os.environ.get(os.environ.get("API_KEY_ENV", "OPENROUTER_API_KEY")) or os.environ.get("API_KEY")
    if not key:
        raise RuntimeError("no API key: set the variable named by API_KEY_ENV (default OPENROUTER_API_KEY) "
                           "or API_KEY, e.g. as a secret of the sandbox")
    return base, {"Authorization": f"Bearer {key}"}


def _post(path: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    base, headers = _endpoint()
    for attempt in range(_RETRIES):
        try:
            reply = httpx.post(f"{base}{path}", json=body, headers=headers, timeout=timeout)
        except httpx.TransportError as exc:
            if attempt == _RETRIES - 1:
                raise RuntimeError(f"the API at {base} is not reachable: {exc}") from exc
        else:
            if reply.status_code < 400:
                data = reply.json()
                if "error" in data:
                    raise RuntimeError(f"the API answered with an error: {data['error']}")
                return data
            if reply.status_code not in (429, 500, 502, 503, 504) or attempt == _RETRIES - 1:
                raise RuntimeError(f"the API answered HTTP {reply.status_code}: {reply.text[:500]}")
        time.sleep(min(30.0, 2.0 ** attempt))
    raise AssertionError("unreachable")


def chat(model: str, messages: list[dict[str, str]], temperature: float = 0.0, max_tokens: int = 512,
         timeout: float = 120.0, **extra: Any) -> str:
    """One completion: the assistant's reply to `messages` (role/content dicts)."""
    body = {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens, **extra}
    data = _post("/chat/completions", body, timeout)
    return data["choices"][0]["message"]["content"] or ""


def sample(model: str, prompt: str, n: int = 5, temperature: float = 1.0, system: str | None = None,
           max_tokens: int = 256) -> list[str]:
    """`n` independent replies to one user prompt (one request each, so any API works)."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return [chat(model, messages, temperature=temperature, max_tokens=max_tokens) for _ in range(n)]


def list_models() -> list[str]:
    """The model ids the endpoint offers."""
    base, headers = _endpoint()
    reply = httpx.get(f"{base}/models", headers=headers, timeout=60)
    reply.raise_for_status()
    return sorted(m["id"] for m in reply.json().get("data", []))
