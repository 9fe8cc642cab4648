"""Seer's toolkit files (toolkit/seer/): the same functions, on toolkit, as package modules and as workspace libraries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.toolkit.conftest import PROMPTS, build_tokenizer, tiny_llama
from toolkit import format_chat, get_layers, hidden_size
from toolkit.seer import SEER_TOOLKIT_DIR, create_steering_hook, extract_activation, generate_response

REPO = Path(__file__).resolve().parents[2]
SEER_FILES = ("steering_hook.py", "extract_activations.py", "generate_response.py")


def hidden_states(model, tokenizer, text: str) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt"), output_hidden_states=True).hidden_states


def logits(model, tokenizer, text: str) -> torch.Tensor:
    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt")).logits


def a_vector(model, seed: int = 1) -> torch.Tensor:
    return torch.randn(hidden_size(model), generator=torch.Generator().manual_seed(seed))


# ----- extract_activation -------------------------------------------------------------------------

@pytest.mark.parametrize("layer", [0, 1, 2, 3])
def test_extract_activation_is_the_last_tokens_hidden_state_of_that_layer(any_model, tokenizer, layer: int) -> None:
    expected = hidden_states(any_model, tokenizer, PROMPTS[0])[layer + 1][0, -1]  # the last layer's is final-normed
    activation = extract_activation(any_model, tokenizer, PROMPTS[0], layer_idx=layer)
    assert activation.shape == (hidden_size(any_model),) and activation.dtype == torch.float32
    assert activation.device.type == "cpu"
    torch.testing.assert_close(activation, expected, atol=1e-5, rtol=1e-5)


def test_extract_activation_reads_the_position_asked_for(llama, tokenizer) -> None:
    expected = hidden_states(llama, tokenizer, PROMPTS[0])[2][0, 1]
    torch.testing.assert_close(extract_activation(llama, tokenizer, PROMPTS[0], 1, position=1), expected,
                               atol=1e-5, rtol=1e-5)


def test_extract_activation_puts_messages_in_the_chat_template(llama, tokenizer) -> None:
    messages = [{"role": "user", "content": "hello there"}]
    from_messages = extract_activation(llama, tokenizer, messages, layer_idx=2)
    torch.testing.assert_close(from_messages, extract_activation(llama, tokenizer, format_chat(tokenizer, messages), 2))


def test_extract_activation_refuses_a_layer_out_of_range(llama, tokenizer) -> None:
    with pytest.raises(ValueError, match="Model has 4 layers"):
        extract_activation(llama, tokenizer, "hello", layer_idx=4)


# ----- create_steering_hook -----------------------------------------------------------------------

def test_the_steering_hook_adds_strength_times_vector_to_that_layers_output(any_model, tokenizer) -> None:
    vector = a_vector(any_model)
    before = hidden_states(any_model, tokenizer, PROMPTS[0])
    with create_steering_hook(any_model, layer_idx=1, vector=vector, strength=2.0):
        during = hidden_states(any_model, tokenizer, PROMPTS[0])
    torch.testing.assert_close(during[1], before[1])  # the layer below is untouched
    torch.testing.assert_close(during[2], before[2] + 2.0 * vector, atol=1e-5, rtol=1e-5)


def test_the_steering_hook_changes_the_logits_only_while_active(any_model, tokenizer) -> None:
    hooks = [len(layer._forward_hooks) for layer in get_layers(any_model)]  # transformers keeps some of its own
    before = logits(any_model, tokenizer, PROMPTS[1])
    with create_steering_hook(any_model, layer_idx=2, vector=a_vector(any_model), strength=4.0):
        during = logits(any_model, tokenizer, PROMPTS[1])
    after = logits(any_model, tokenizer, PROMPTS[1])
    assert not torch.allclose(during, before)
    assert torch.equal(after, before)
    assert [len(layer._forward_hooks) for layer in get_layers(any_model)] == hooks


def test_the_steering_hook_steers_from_start_pos_on(llama, tokenizer) -> None:
    vector = a_vector(llama)
    before = hidden_states(llama, tokenizer, PROMPTS[0])
    with create_steering_hook(llama, layer_idx=1, vector=vector, strength=1.5, start_pos=3):
        during = hidden_states(llama, tokenizer, PROMPTS[0])
    torch.testing.assert_close(during[2][:, :3], before[2][:, :3])
    torch.testing.assert_close(during[2][:, 3:], before[2][:, 3:] + 1.5 * vector, atol=1e-5, rtol=1e-5)


def test_the_steering_hook_can_be_entered_again_and_is_removed_when_the_block_raises(llama, tokenizer) -> None:
    before = logits(llama, tokenizer, PROMPTS[2])
    hook = create_steering_hook(llama, layer_idx=0, vector=a_vector(llama), strength=3.0)
    with hook:
        first = logits(llama, tokenizer, PROMPTS[2])
    with pytest.raises(KeyError), hook:
        torch.testing.assert_close(logits(llama, tokenizer, PROMPTS[2]), first)
        raise KeyError("inside the block")
    assert torch.equal(logits(llama, tokenizer, PROMPTS[2]), before)


def test_the_steering_hook_refuses_a_vector_of_the_wrong_size(llama) -> None:
    with pytest.raises(ValueError, match=r"shape \(64,\)"):
        create_steering_hook(llama, layer_idx=1, vector=torch.zeros(63))


# ----- generate_response --------------------------------------------------------------------------

def test_generate_response_is_greedy_and_returns_only_the_new_text(llama, tokenizer) -> None:
    prompt = format_chat(tokenizer, "hello there")
    inputs = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")  # the template wrote the BOS
    with torch.no_grad():
        generated = llama.generate(**inputs, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    expected = tokenizer.decode(generated[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    reply = generate_response(llama, tokenizer, "hello there", max_new_tokens=8)
    assert reply == expected and reply
    assert generate_response(llama, tokenizer, "hello there", max_new_tokens=8) == reply


def test_generate_response_sends_the_prompt_as_it_is_without_the_template(llama, tokenizer) -> None:
    inputs = tokenizer("the cat sat", return_tensors="pt")
    with torch.no_grad():
        generated = llama.generate(**inputs, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    expected = tokenizer.decode(generated[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    assert generate_response(llama, tokenizer, "the cat sat", 6, apply_chat_template=False) == expected


def test_generate_response_is_steered_inside_a_steering_hook(llama, tokenizer) -> None:
    vector = extract_activation(llama, tokenizer, PROMPTS[1], 2) - extract_activation(llama, tokenizer, PROMPTS[0], 2)
    plain = generate_response(llama, tokenizer, "the cat sat", max_new_tokens=8, apply_chat_template=False)
    with create_steering_hook(llama, layer_idx=2, vector=vector, strength=8.0):
        steered = generate_response(llama, tokenizer, "the cat sat", max_new_tokens=8, apply_chat_template=False)
    assert steered != plain


# ----- the files as workspace libraries ----------------------------------------------------------

def test_seer_toolkit_dir_holds_seers_three_files() -> None:
    assert SEER_TOOLKIT_DIR == REPO / "toolkit" / "seer"
    assert all((SEER_TOOLKIT_DIR / name).is_file() for name in SEER_FILES)


def test_each_file_imports_as_a_top_level_module_from_a_folder_of_its_own(tmp_path: Path) -> None:
    folder = tmp_path / "libraries"
    folder.mkdir()
    for name in SEER_FILES:
        shutil.copy(SEER_TOOLKIT_DIR / name, folder / name)
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "import steering_hook, extract_activations, generate_response\n"
            "print(steering_hook.__file__, extract_activations.__file__, generate_response.__file__)\n"
            "print(callable(steering_hook.create_steering_hook), callable(extract_activations.extract_activation),"
            " callable(generate_response.generate_response))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # as in a kernel: toolkit importable, toolkit.seer not on the path
    done = subprocess.run([sys.executable, "-c", code, str(folder)], check=False, capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    files, callables = done.stdout.strip().split("\n")
    assert files.split() == [str(folder / name) for name in SEER_FILES]
    assert callables == "True True True"


@pytest.fixture
def local_runtime(tmp_path: Path) -> Iterator[object]:
    from seer_mcp.api import set_default_runtime
    from tests.api.conftest import make_runtime

    runtime = make_runtime(tmp_path)
    yield runtime
    runtime.close()
    set_default_runtime(None)


DOCS_SNIPPET = """
from extract_activations import extract_activation
from steering_hook import create_steering_hook

act1 = extract_activation(model, tokenizer, "the cat sat on the mat", layer_idx=2)
act2 = extract_activation(model, tokenizer, "i love sunny days", layer_idx=2)
steering_vec = act2 - act1

inputs = tokenizer("the cat sat", return_tensors="pt")
plain = model.generate(**inputs, max_new_tokens=8, do_sample=False)
with create_steering_hook(model, layer_idx=2, vector=steering_vec, strength=8.0):
    output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
after = model.generate(**inputs, max_new_tokens=8, do_sample=False)
print(tuple(steering_vec.shape), output.tolist() != plain.tolist(), after.tolist() == plain.tolist())
"""


@pytest.mark.slow
def test_a_ported_seer_script_steers_in_its_notebook(local_runtime: object, tmp_path: Path) -> None:
    from seer_mcp import ExecutionMode, Library, ModelConfig, Sandbox, SandboxConfig, Workspace, create_notebook_session

    model_dir = tmp_path / "tiny-llama"
    tiny_llama().save_pretrained(model_dir)
    build_tokenizer().save_pretrained(model_dir)
    config = SandboxConfig(execution_mode=ExecutionMode.NOTEBOOK, models=[ModelConfig(name=str(model_dir))])
    sandbox = Sandbox(config).start()
    try:
        workspace = Workspace(libraries=[Library.from_file(SEER_TOOLKIT_DIR / "steering_hook.py"),
                                         Library.from_file(SEER_TOOLKIT_DIR / "extract_activations.py")])
        session = create_notebook_session(sandbox, workspace)
        assert "create_steering_hook(model" in session.library_docs
        assert "extract_activation(model" in session.library_docs
        assert session.exec(DOCS_SNIPPET).strip() == "(64,) True True"
    finally:
        sandbox.terminate()
