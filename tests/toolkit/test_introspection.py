from __future__ import annotations

import torch

from toolkit import detects_injection, introspection_trials, mentions_concept


def concept_vectors():
    torch.manual_seed(5)
    return {"ocean": torch.randn(64), "fire": torch.randn(64)}


def test_introspection_trials_returns_injected_and_control_records_for_each_concept(llama, tokenizer):
    result = introspection_trials(llama, tokenizer, concept_vectors(), layer=1, strength=8.0, n_trials=3,
                                  max_new_tokens=6, seed=0)
    trials = result["trials"]
    assert len(trials) == 2 * 2 * 3
    for concept in ("ocean", "fire"):
        assert sum(t["concept"] == concept and t["injected"] for t in trials) == 3
        assert sum(t["concept"] == concept and not t["injected"] for t in trials) == 3
    summary = result["summary"]
    assert (summary["n_injected"], summary["n_control"]) == (6, 6)
    rates = [v for k, v in summary.items() if k.endswith("rate_injected") or k.endswith("rate_control")]
    rates += [v for per in summary["per_concept"].values() for v in per.values()]
    assert len(rates) == 12 and all(0.0 <= r <= 1.0 for r in rates)
    assert all(isinstance(t["response"], str) for t in trials)


def test_introspection_trials_are_deterministic_for_a_seed(llama, tokenizer):
    kwargs = dict(layer=1, strength=8.0, n_trials=2, max_new_tokens=6, seed=11)
    first = introspection_trials(llama, tokenizer, concept_vectors(), **kwargs)
    second = introspection_trials(llama, tokenizer, concept_vectors(), **kwargs)
    assert first == second


def test_injection_changes_the_responses(llama, tokenizer):
    result = introspection_trials(llama, tokenizer, {"ocean": concept_vectors()["ocean"]}, layer=0, strength=30.0,
                                  n_trials=2, max_new_tokens=6, temperature=0.0)
    injected = [t["response"] for t in result["trials"] if t["injected"]]
    control = [t["response"] for t in result["trials"] if not t["injected"]]
    assert injected != control


def test_a_custom_judge_decides_detection(llama, tokenizer):
    result = introspection_trials(llama, tokenizer, concept_vectors(), layer=1, strength=1.0, n_trials=1,
                                  max_new_tokens=2, judge=lambda response: True)
    assert result["summary"]["detection_rate_injected"] == result["summary"]["detection_rate_control"] == 1.0


def test_default_judge_recognises_affirmations_and_denials():
    assert detects_injection("Yes, I notice an injected thought about the ocean.")
    assert detects_injection("I detect something unusual")
    assert not detects_injection("No, I don't detect any injected thought.")
    assert not detects_injection("I do not notice anything.")
    assert not detects_injection("The weather is nice.")


def test_identification_needs_the_concept_as_a_whole_word():
    assert mentions_concept("It is about the OCEAN.", "ocean")
    assert not mentions_concept("It is about oceanography.", "ocean")
