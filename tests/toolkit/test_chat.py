from __future__ import annotations

import pytest

from toolkit import format_chat
from toolkit._inputs import encode_left_padded

from .conftest import build_tokenizer


def test_format_chat_applies_the_chat_template_with_a_generation_prompt(tokenizer):
    assert format_chat(tokenizer, "hello there") == "<bos>user : hello there assistant :"


def test_format_chat_appends_the_prefill_after_the_generation_prompt(tokenizer):
    assert format_chat(tokenizer, "hello", prefill=" yes i") == "<bos>user : hello assistant : yes i"


def test_format_chat_prepends_the_system_prompt_and_accepts_message_lists(tokenizer):
    messages = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]
    text = format_chat(tokenizer, messages, system="be brief", add_generation_prompt=False)
    assert text == "<bos>system : be brief user : hello assistant : hi "


def test_format_chat_folds_the_system_prompt_into_the_user_turn_when_the_template_rejects_it():
    tok = build_tokenizer()
    tok.chat_template = ("{% for m in messages %}{% if m['role'] == 'system' %}"
                         "{{ raise_exception('System role not supported') }}{% endif %}"
                         "{{ m['role'] }} : {{ m['content'] }} {% endfor %}")
    assert format_chat(tok, "hello", system="be brief", add_generation_prompt=False) == "user : be brief\n\nhello "


def test_format_chat_without_a_template_raises_a_clear_error():
    tok = build_tokenizer()
    tok.chat_template = None
    with pytest.raises(ValueError, match="chat_template"):
        format_chat(tok, "hello")


def test_a_chat_formatted_prompt_is_not_given_a_second_bos(tokenizer):
    ids, _ = encode_left_padded(tokenizer, [format_chat(tokenizer, "hello"), "hello"])
    assert ids[0].tolist().count(tokenizer.bos_token_id) == 1
    assert ids[1].tolist().count(tokenizer.bos_token_id) == 1
