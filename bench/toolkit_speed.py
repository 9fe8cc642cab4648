"""Speed of `toolkit` activation reading and steering, as ratios against baselines from the same run.

Model: a random-weight `LlamaForCausalLM` (d=512, 8 layers, 8 heads / 4 KV heads, MLP 1376,
vocab 8000), float32, eval mode, CPU, `torch.set_num_threads(2)`, seed 0. Tokenizer: a WordLevel
`tokenizers` vocabulary of 7996 generated pseudo-words (+ <pad> <s> </s> <unk>, BOS prepended),
wrapped in `PreTrainedTokenizerFast`. Batch: 8 prompts of 50-64 tokens (left-padded to 64).

Rows (candidate vs baseline, both timed in the same repeat):
  1. acts/forward   toolkit.get_activations(layers=4, positions=-1) vs a plain full
                    `model(input_ids, attention_mask)` under no_grad on the pre-tokenized batch.
                    Target <= 0.7x (the toolkit stops after layer 4).
  2. steer/plain    `with toolkit.steer(model, {4: v}, strength=4.0): toolkit.generate(..., 32)`
                    vs plain `toolkit.generate(..., 32)` (greedy). Target <= 1.05x.
  3. vs nnsight     the same two operations through nnsight (`TransformersModel` around the same
                    model): a no_grad trace saving layers[4].output[:, -1] then `tracer.stop()`;
                    a generate-trace adding 4*v to layers[4].output on each of the 32 steps.
                    Target toolkit/nnsight < 1.0x.
  4. vs TL          TransformerLens `TransformerBridge.boot_transformers(hf_model=<deep copy>)`:
                    `run_with_cache(names_filter=blocks.4.hook_resid_post, stop_at_layer=5)` and
                    `generate` inside `bridge.hooks(...)` adding 4*v. Note: the bridge forces eager
                    attention on its copy (the toolkit/nnsight model keeps sdpa).
                    Target toolkit/TL < 1.0x.

Every steered output is checked to be token-identical across libraries before timing, so the
libraries do the same work. Candidates are interleaved inside each repeat (order rotated per
repeat); figures are medians over `--repeats` after two warm-ups. A library that cannot run is
reported as "skipped: <reason>". Exits 0 even when a target is missed: this is a measurement.
"""

from __future__ import annotations

import argparse
import atexit
import copy
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/x.py` puts bench/ on sys.path, not the repo root

import torch  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: E402

import toolkit  # noqa: E402

LAYER, STRENGTH, NEW_TOKENS, VOCAB, BATCH = 4, 4.0, 32, 8000, 8
Fn = Callable[[], Any]


def build_tokenizer(rng: random.Random) -> tuple[PreTrainedTokenizerFast, list[str]]:
    syllables = "ka lo mi ne su ta ri po da fe gu ha ji ve zo qu xa by ce wo".split()
    words: set[str] = set()
    while len(words) < VOCAB - 4:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}
    for word in sorted(words):
        vocab[word] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>",
                                  pad_token="<pad>", unk_token="<unk>")
    # Round-trip through disk: TransformerLens re-loads the tokenizer by its name_or_path.
    folder = tempfile.mkdtemp(prefix="toolkit_speed_tok_")
    atexit.register(shutil.rmtree, folder, True)
    tok.save_pretrained(folder)
    return PreTrainedTokenizerFast.from_pretrained(folder, add_bos_token=True), sorted(words)


def build() -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast, list[str], torch.Tensor]:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    rng = random.Random(0)
    tok, words = build_tokenizer(rng)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=512, num_hidden_layers=8, num_attention_heads=8,
                         num_key_value_heads=4, intermediate_size=1376, max_position_embeddings=512,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model = LlamaForCausalLM(config).eval()
    prompts = [" ".join(rng.choice(words) for _ in range(63 - 2 * i)) for i in range(BATCH)]
    return model, tok, prompts, torch.randn(config.hidden_size)


def run_timed(groups: dict[str, dict[str, Fn]], repeats: int, warmups: int = 2) -> dict[str, list[float]]:
    """ms samples per candidate; each repeat runs every candidate of a group once, order rotated."""
    samples: dict[str, list[float]] = {name: [] for g in groups.values() for name in g}
    for group in groups.values():
        for fn in group.values():
            for _ in range(warmups):
                fn()
    for r in range(repeats):
        for group in groups.values():
            names = list(group)
            names = names[r % len(names):] + names[:r % len(names)]
            for name in names:
                t0 = time.perf_counter()
                group[name]()
                samples[name].append((time.perf_counter() - t0) * 1e3)
    return samples


def setup_nnsight(model: Any, tok: Any, prompts: list[str], v: torch.Tensor) -> tuple[Fn, Fn]:
    from nnsight.modeling.transformers import TransformersModel

    # Own copy: nnsight replaces every module's forward with its wrapper, which would
    # otherwise also tax the toolkit and baseline calls on the shared model.
    lm = TransformersModel(copy.deepcopy(model), tokenizer=copy.deepcopy(tok), task="text-generation")

    def acts() -> torch.Tensor:
        with torch.no_grad():
            with lm.trace(prompts) as tracer:
                hidden = lm.model.layers[LAYER].output[:, -1].save()
                tracer.stop()
        return hidden

    def steered() -> list[str]:
        with lm.generate(prompts, max_new_tokens=NEW_TOKENS, do_sample=False,
                         pad_token_id=tok.pad_token_id) as tracer:
            for _ in tracer.iter[:NEW_TOKENS]:
                lm.model.layers[LAYER].output[:] += STRENGTH * v
            ids = tracer.result.save()
        return tok.batch_decode(ids[:, -NEW_TOKENS:], skip_special_tokens=True)
    return acts, steered


def setup_tl(model: Any, tok: Any, prompts: list[str], v: torch.Tensor) -> tuple[Fn, Fn]:
    import transformer_lens.model_bridge.sources.transformers  # noqa: F401  (attaches boot_transformers)
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_transformers("random-llama", hf_model=copy.deepcopy(model),
                                                 tokenizer=copy.deepcopy(tok), device="cpu")
    name = f"blocks.{LAYER}.hook_resid_post"

    def acts() -> torch.Tensor:
        with torch.no_grad():
            _, cache = bridge.run_with_cache(prompts, names_filter=name, stop_at_layer=LAYER + 1,
                                             padding_side="left")
        return cache[name][:, -1]

    def add(x: torch.Tensor, hook: Any) -> torch.Tensor:
        return x + STRENGTH * v

    def steered() -> list[str]:
        with bridge.hooks(fwd_hooks=[(name, add)]):
            ids = bridge.generate(prompts, max_new_tokens=NEW_TOKENS, do_sample=False,
                                  return_type="tokens", verbose=False)
        return tok.batch_decode(ids[:, -NEW_TOKENS:], skip_special_tokens=True)
    return acts, steered


def pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    model, tok, prompts, v = build()
    input_ids, attention_mask = toolkit._inputs.encode_left_padded(tok, prompts)

    def forward() -> Any:
        with torch.no_grad():
            return model(input_ids=input_ids, attention_mask=attention_mask)

    def tk_acts() -> torch.Tensor:
        return toolkit.get_activations(model, tok, prompts, layers=LAYER, positions=-1)

    def tk_plain() -> list[str]:
        return toolkit.generate(model, tok, prompts, max_new_tokens=NEW_TOKENS)

    def tk_steer() -> list[str]:
        with toolkit.steer(model, {LAYER: v}, strength=STRENGTH):
            return toolkit.generate(model, tok, prompts, max_new_tokens=NEW_TOKENS)

    reference_acts, reference_text = tk_acts(), tk_steer()
    if any(len(tok(t, add_special_tokens=False)["input_ids"]) != NEW_TOKENS for t in reference_text):
        print("warning: some steered outputs are shorter than max_new_tokens (EOS generated)")
    groups: dict[str, dict[str, Fn]] = {"acts": {"forward": forward, "toolkit_acts": tk_acts},
                                         "gen": {"generate": tk_plain, "toolkit_steer": tk_steer}}
    skipped: dict[str, str] = {}
    checks: dict[str, str] = {}
    for lib, setup in (("nnsight", setup_nnsight), ("transformer_lens", setup_tl)):
        try:
            acts, steered = setup(model, tok, prompts, v)
            diff = float((acts().float() - reference_acts).abs().max())
            same = steered() == reference_text
            checks[lib] = f"max |acts diff| {diff:.1e}, steered text identical: {same}"
            if diff > 1e-3 or not same:
                raise RuntimeError(f"results differ from the toolkit's ({checks[lib]})")
            groups["acts"][f"{lib}_acts"] = acts
            groups["gen"][f"{lib}_steer"] = steered
        except Exception as exc:  # a library that cannot run is reported, never faked
            skipped[lib] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]

    wall0, cpu0 = time.perf_counter(), time.process_time()
    samples = run_timed(groups, args.repeats)
    # Share of the 2 threads' CPU time this process got: well below 1 means other processes
    # competed for the cores (the load average cannot tell, it counts our own threads too).
    cpu_share = (time.process_time() - cpu0) / ((time.perf_counter() - wall0) * torch.get_num_threads())
    ms = {name: statistics.median(s) for name, s in samples.items()}
    best = {name: min(s) for name, s in samples.items()}
    rows: list[dict[str, Any]] = []

    def row(label: str, cand: str, base: str, target: float, strict: bool) -> None:
        if cand not in ms or base not in ms:
            lib = base.rsplit("_", 1)[0]
            rows.append({"row": label, "skipped": skipped.get(lib, "not measured")})
            return
        ratio = ms[cand] / ms[base]
        ok = ratio < target if strict else ratio <= target
        rows.append({"row": label, "candidate": cand, "baseline": base, "candidate_ms": ms[cand],
                     "baseline_ms": ms[base], "ratio": ratio, "ratio_of_minima": best[cand] / best[base],
                     "target": f"{'<' if strict else '<='} {target:g}x", "pass": ok})

    row("get_activations / full forward", "toolkit_acts", "forward", 0.7, False)
    row("steer+generate / generate", "toolkit_steer", "generate", 1.05, False)
    row("get_activations / nnsight trace", "toolkit_acts", "nnsight_acts", 1.0, True)
    row("steer+generate / nnsight generate", "toolkit_steer", "nnsight_steer", 1.0, True)
    row("get_activations / TL run_with_cache", "toolkit_acts", "transformer_lens_acts", 1.0, True)
    row("steer+generate / TL generate", "toolkit_steer", "transformer_lens_steer", 1.0, True)

    versions = {p: pkg(p) for p in ("torch", "transformers", "tokenizers", "nnsight", "transformer-lens")}
    print(f"toolkit speed: random Llama d=512 L=8 vocab={VOCAB}, fp32 CPU, {torch.get_num_threads()} threads,"
          f" batch {BATCH} x {input_ids.shape[1]} tokens, {NEW_TOKENS} new tokens, median of {args.repeats}")
    print("versions: " + ", ".join(f"{k} {v_}" for k, v_ in versions.items()))
    for lib, text in checks.items():
        print(f"check {lib}: {text}")
    print(f"CPU share during timing: {cpu_share:.2f} of {torch.get_num_threads()} threads x wall time"
          f" ({os.cpu_count()} CPUs; ~0.9+ on a quiet machine, lower = other processes competed)")
    print(f"\n{'measurement':<38}{'toolkit ms':>11}{'baseline ms':>12}{'ratio':>8}  {'target':<8} result"
          "  (ratio of minima)")
    for r in rows:
        if "skipped" in r:
            print(f"{r['row']:<38}  skipped: {r['skipped']}")
        else:
            print(f"{r['row']:<38}{r['candidate_ms']:>11.1f}{r['baseline_ms']:>12.1f}{r['ratio']:>7.2f}x"
                  f"  {r['target']:<8} {'PASS' if r['pass'] else 'FAIL'}    ({r['ratio_of_minima']:.2f}x)")
    for lib in ("nnsight", "transformer_lens"):
        if lib in skipped:
            print(f"{lib}: skipped: {skipped[lib]}")
    print("\nall medians (ms): " + ", ".join(f"{k} {v_:.1f}" for k, v_ in ms.items()))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "median_ms": ms, "skipped": skipped, "checks": checks,
                                         "versions": versions, "repeats": args.repeats,
                                         "samples_ms": samples, "cpu_share": cpu_share,
                                         "python": platform.python_version()}, indent=2))


if __name__ == "__main__":
    main()
