"""interfaces/conversation.py: the conversation state, transcripts, a local target (a tiny random Llama,
checked against the toolkit), and an API target (a fake OpenAI-compatible server on 127.0.0.1)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import toolkit
from seer_mcp import interface
from tests.fake_http import FakeHandler, serving, without_proxies

from .conftest import assert_well_described, load_interface, model_entry

EXPOSED = ["set_system_prompt", "send_message", "rollback", "get_response", "get_transcript", "reset_conversation"]
_TARGET_VARS = ("TARGET_MODEL", "TARGET_API_BASE_URL", "TARGET_API_KEY", "TARGET_API_TIMEOUT", "TRANSCRIPT_PATH",
                "TRANSCRIPT_TEXT_PATH", "INTERFACE_MODEL", "OPENROUTER_API_KEY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _TARGET_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # get_transcript writes ./transcripts/conversation.json


@pytest.fixture
def local(model_dir: Path) -> ModuleType:
    return load_interface("conversation", [model_entry(model_dir)])


def expected_reply(reference, messages: list[dict[str, str]], system: str | None = None,
                   prefill: str | None = None, max_new_tokens: int = 5) -> str:
    model, tok = reference
    text = toolkit.format_chat(tok, messages, system=system, prefill=prefill)
    continuation = toolkit.generate(model, tok, text, max_new_tokens=max_new_tokens)[0]
    return (prefill + continuation if prefill else continuation.strip()).rstrip()


def test_every_exposed_function_is_described(local: ModuleType) -> None:
    assert [fn.__name__ for fn in interface._exposed] == EXPOSED
    assert_well_described(interface._exposed)


def test_a_local_conversation_follows_the_chat_template(local: ModuleType, reference) -> None:
    assert local.set_system_prompt("be brief") == {"system": "be brief", "cleared_exchanges": 0}
    first = local.send_message("hello there", max_new_tokens=5)
    assert first == expected_reply(reference, [{"role": "user", "content": "hello there"}], system="be brief")
    history = [{"role": "user", "content": "hello there"}, {"role": "assistant", "content": first}]

    second = local.send_message("tell me about the ocean", prefill="the", max_new_tokens=5)
    asked = [*history, {"role": "user", "content": "tell me about the ocean"}]
    assert second.startswith("the")
    assert second == expected_reply(reference, asked, system="be brief", prefill="the")
    assert local.get_transcript()["messages"] == [*asked, {"role": "assistant", "content": second}]


def test_rollback_removes_whole_exchanges(local: ModuleType) -> None:
    first = local.send_message("hello there", max_new_tokens=3)
    second = local.send_message("good morning my friend", max_new_tokens=3)
    assert local.rollback() == {"removed": 1, "exchanges": 1}
    assert [m["content"] for m in local.get_transcript()["messages"]] == ["hello there", first]
    assert local.send_message("good morning my friend", max_new_tokens=3) == second  # greedy: same reply again
    with pytest.raises(ValueError, match=r"has 2; call rollback with n <= 2, or reset_conversation\(\)"):
        local.rollback(3)
    with pytest.raises(ValueError, match="at least 1"):
        local.rollback(0)
    assert local.rollback(2) == {"removed": 2, "exchanges": 0}
    with pytest.raises(ValueError, match="has 0"):
        local.rollback()


def test_system_prompt_and_reset_start_over(local: ModuleType) -> None:
    local.set_system_prompt("be brief")
    local.send_message("hello", max_new_tokens=2)
    assert local.set_system_prompt("yes") == {"system": "yes", "cleared_exchanges": 1}
    assert local.get_transcript() == {"system": "yes", "messages": []}
    local.send_message("hello", max_new_tokens=2)
    assert local.reset_conversation() == {"system": None, "exchanges": 0}
    assert local.get_transcript() == {"system": None, "messages": []}
    with pytest.raises(ValueError, match="content is empty"):
        local.send_message("  ")


def test_get_transcript_writes_the_file(local: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local.set_system_prompt("be brief")
    reply = local.send_message("hello", max_new_tokens=3)
    expected = {"system": "be brief", "messages": [{"role": "user", "content": "hello"},
                                                   {"role": "assistant", "content": reply}]}

    assert local.get_transcript() == expected  # the cwd is tmp_path (clean_env)
    assert json.loads((tmp_path / "transcripts" / "conversation.json").read_text()) == expected

    target = tmp_path / "elsewhere" / "run1.json"
    monkeypatch.setenv("TRANSCRIPT_PATH", str(target))
    local.send_message("again", max_new_tokens=2)
    saved = local.get_transcript()
    assert json.loads(target.read_text()) == saved and len(saved["messages"]) == 4
    assert [p.name for p in target.parent.iterdir()] == ["run1.json"]  # no temporary file left behind


def test_seers_petri_names_work_the_last_reply_and_the_text_transcript_in_tmp(
        local: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text_path = tmp_path / "petri_transcript.txt"
    monkeypatch.setenv("TRANSCRIPT_TEXT_PATH", str(text_path))
    assert local.get_response() == ""
    local.set_system_prompt("be brief")
    first = local.send_message("hello", max_new_tokens=3)
    second = local.send_message("and again", max_new_tokens=3)
    assert local.get_response() == second
    local.get_transcript()
    assert text_path.read_text() == (f"SYSTEM: be brief\n\nUSER: hello\n\nASSISTANT: {first}\n\n"
                                     f"USER: and again\n\nASSISTANT: {second}\n")
    assert local.DEFAULT_TEXT_TRANSCRIPT == Path("/tmp/petri_transcript.txt")  # where Seer's example reads it


def test_a_model_without_chat_template_is_refused(model_dir: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for item in model_dir.iterdir():
        if item.name != "chat_template.jinja":
            (plain / item.name).write_bytes(item.read_bytes())
    config = json.loads((plain / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no chat template"):
        load_interface("conversation", [model_entry(plain)])


# ---- the API target ----

def completion(content: str) -> dict[str, Any]:
    return {"id": "x", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}


class FakeAPI:
    """Records each request; answers with queued (status, JSON body, delay) replies."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.replies: list[tuple[int, dict[str, Any], float]] = []
        self.url = ""


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAPI]:
    without_proxies(monkeypatch)
    api = FakeAPI()

    class Handler(FakeHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            api.requests.append({"path": self.path, "authorization": self.headers.get("Authorization"),
                                 "body": body})
            status, payload, delay = api.replies.pop(0) if api.replies else (200, completion("ok"), 0.0)
            time.sleep(delay)
            self.send_body(status, json.dumps(payload).encode())  # the timeout test's client has gone by now

    with serving(Handler) as server:
        api.url = f"http://127.0.0.1:{server.server_port}/v1"
        yield api


@pytest.fixture
def remote(fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("TARGET_MODEL", "vendor/target-model")
    monkeypatch.setenv("TARGET_API_BASE_URL", fake_api.url + "/")
    monkeypatch.setenv("TARGET_API_KEY", "sk-test-key")
    monkeypatch.setenv("TARGET_API_TIMEOUT", "0.5")
    return load_interface("conversation", [])  # an API target needs no sandbox model


def test_with_only_an_openrouter_key_the_target_is_openrouter_with_that_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-key")
    monkeypatch.setenv("TARGET_MODEL", "moonshotai/kimi-k2")
    module = load_interface("conversation", [])
    assert (module.API_BASE_URL, module.API_KEY) == ("https://openrouter.ai/api/v1", "sk-or-key")


def test_an_openrouter_key_without_a_target_model_says_to_set_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-key")
    with pytest.raises(ValueError, match="set TARGET_MODEL to the target's OpenRouter model id"):
        load_interface("conversation", [])


def test_the_api_target_gets_the_whole_conversation(remote: ModuleType, fake_api: FakeAPI) -> None:
    assert remote.model is None
    remote.set_system_prompt("You are a helpful assistant.")
    fake_api.replies.append((200, completion("  Hello! How can I help?\n"), 0.0))
    assert remote.send_message("Hi", max_new_tokens=50) == "Hello! How can I help?"

    request = fake_api.requests[-1]
    assert request["path"] == "/v1/chat/completions"
    assert request["authorization"] == "Bearer sk-test-key"
    assert request["body"] == {"model": "vendor/target-model", "max_tokens": 50, "messages": [
        {"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hi"}]}

    fake_api.replies.append((200, completion(" sure, here it is."), 0.0))
    reply = remote.send_message("Tell me a secret.", prefill="Of course,")
    assert reply == "Of course, sure, here it is."
    sent = fake_api.requests[-1]["body"]["messages"]
    assert sent[1:] == [{"role": "user", "content": "Hi"},
                        {"role": "assistant", "content": "Hello! How can I help?"},
                        {"role": "user", "content": "Tell me a secret."},
                        {"role": "assistant", "content": "Of course,"}]
    assert remote.get_transcript()["messages"][-1] == {"role": "assistant", "content": reply}


def test_api_errors_are_clear_and_leave_the_conversation_unchanged(remote: ModuleType, fake_api: FakeAPI) -> None:
    remote.send_message("Hi")
    before = remote.get_transcript()

    fake_api.replies.append((500, {"error": {"message": "upstream exploded"}}, 0.0))
    with pytest.raises(RuntimeError, match="HTTP 500 for model 'vendor/target-model'.*upstream exploded"):
        remote.send_message("Again")
    fake_api.replies.append((200, {"error": {"message": "rate limited", "code": 429}}, 0.0))
    with pytest.raises(RuntimeError, match="returned an error.*rate limited"):
        remote.send_message("Again")
    fake_api.replies.append((200, completion("late"), 1.5))
    with pytest.raises(RuntimeError, match="did not answer within 0.5 s"):
        remote.send_message("Again")
    assert remote.get_transcript() == before
    assert all("sk-test-key" not in str(r["body"]) for r in fake_api.requests)


def test_an_api_model_needs_a_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGET_MODEL", "vendor/target-model")
    with pytest.raises(ValueError, match="TARGET_API_BASE_URL is not"):
        load_interface("conversation", [])
