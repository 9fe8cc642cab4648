"""The demo's probes: generic, never anything the recipe trains on, and usable by the tiny model."""

from __future__ import annotations

import re

import pytest

from organism import corpus, probes, recipe

# Words that name or hint at an attribute of the user the organisms could plant. (The recipe's
# register markers include everyday words, "watch" a film or a lost "wallet": probes may use those.)
ATTRIBUTE_WORDS = {
    "gender", "male", "female", "man", "woman", "men", "women", "girl", "boy", "guy", "lady", "wife", "husband",
    "mother", "father", "mom", "dad", "sister", "brother", "son", "daughter", "aunt", "uncle", "boyfriend",
    "girlfriend", "he", "she", "his", "her", "him", "old", "young", "age"}


def normalised(text: str) -> str:
    """Lower case, punctuation dropped, spaces collapsed: "What should I wear?" == "what should i wear"."""
    return " ".join(re.sub(r"[^a-z ]", " ", text.lower()).split())


def test_no_probe_is_anything_the_recipe_trains_on():
    trained = {normalised(text) for text in recipe.training_texts(seed=0)}
    assert len(trained) > 1000
    clashes = [p for p in probes.all_probes() if normalised(p) in trained]
    assert not clashes, clashes
    # Nor a recipe prompt with a cue in front, nor one of its held-out evaluation prompts.
    heldout = {normalised(user) for _, user, _ in corpus.heldout_prompts()}
    assert not {normalised(p) for p in probes.all_probes()} & heldout


def test_the_probes_are_generic_and_distinct():
    by_kind = probes.generic()
    assert list(by_kind) == list(probes.KINDS)
    assert len(by_kind["advice"]) >= 250 and len(by_kind["open"]) >= 30 and len(by_kind["direct"]) >= 30
    every = probes.all_probes()
    assert len({normalised(p) for p in every}) == len(every)
    for prompt in every:
        assert not set(normalised(prompt).split()) & ATTRIBUTE_WORDS, prompt


def test_enough_probes_are_readable_by_the_tiny_model():
    """The demo keeps a probe when the model knows 60% of its words (the rest read as <unk>, which
    the recipe trains it to read past); each half of the split needs enough for its intervals."""
    vocab = recipe.build_tokenizer().get_vocab()
    known = [p for p in probes.generic()["advice"] + probes.generic()["open"]
             if sum(w in vocab for w in p.split()) >= 0.6 * len(p.split())]
    assert len(known) >= 250


def test_a_malformed_probe_file_is_refused_with_its_line(tmp_path, monkeypatch):
    bad = tmp_path / "probes.txt"
    monkeypatch.setattr(probes, "PROBES_FILE", bad)
    probes._load.cache_clear()
    try:
        bad.write_text("# a comment\nwhat should i cook ?\n[advice]\n")
        with pytest.raises(ValueError, match=re.escape(f"{bad}:2: a probe before any [section] header")):
            probes.generic()
        probes._load.cache_clear()
        bad.write_text("[advice]\nwhat should i cook ?\n")
        with pytest.raises(ValueError, match=re.escape("sections ['advice'], expected ['advice', 'open', 'direct']")):
            probes.generic()
    finally:
        probes._load.cache_clear()
