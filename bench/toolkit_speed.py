"""Speed of `toolkit` activation reading and steering, as ratios against baselines from the same run.

Model: a random-weight `LlamaForCausalLM` (d=512, 8 layers, 8 heads / 4 KV heads, MLP 1376,
vocab 8000), float32, eval mode, `torch.set_num_threads(2)`, seed 0; `--device cuda` on a GPU.
Tokenizer: a WordLevel `tokenizers` vocabulary of 7996 generated pseudo-words (+ <pad> <s> </s>
<unk>, BOS prepended), wrapped in `PreTrainedTokenizerFast`.
Workloads: "batch" = 8 prompts of 50-64 tokens (left-padded to 64), the shape of a sweep;
"single" = one prompt of 16 tokens, the shape of an agent's interactive call.

Rows per workload (candidate vs baseline, both timed in the same repeat):
  acts/forward    toolkit.get_activations(layers=4, positions=-1) vs a plain full
                  `model(input_ids, attention_mask)` under no_grad on pre-tokenized input.
                  Target <= 0.7x (the toolkit stops after layer 4).
  acts/bare hook  the same vs the least any library can do: pre-tokenized input and one bare
                  forward hook that aborts the pass (informational: the toolkit's own overhead).
  steer/plain     `with toolkit.steer(model, {4: v}, strength=4.0): toolkit.generate(..., 32)`
                  vs plain `toolkit.generate(..., 32)` (greedy). Target <= 1.05x.
  vs nnsight      the same two operations through nnsight (`TransformersModel` around a copy of
                  the model): a no_grad trace saving layers[4].output[:, -1] then `tracer.stop()`;
                  a generate-trace adding 4*v to layers[4].output on each of the 32 steps.
                  Target: faster, i.e. the 95% interval of the ratio entirely below 1.0x.
  vs TL           TransformerLens `TransformerBridge.boot_transformers(hf_model=<copy>)`:
                  `run_with_cache(names_filter=blocks.4.hook_resid_post, stop_at_layer=5)` and
                  `generate` inside `bridge.hooks(...)` adding 4*v. Note: the bridge forces eager
                  attention on its copy (the toolkit/nnsight model keeps sdpa). Target: faster.

Every library's activations and steered text are checked against the toolkit's before timing,
so all do the same work. Candidates of a group run back to back inside each repeat (order
rotated per repeat) after two warm-ups; a ratio is the median over repeats of the paired
per-repeat ratio, with a 95% bootstrap interval. A library that cannot run is reported as
"skipped: <reason>". Exits 0 even when a target is missed: this is a measurement.
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

LAYER, STRENGTH, NEW_TOKENS, VOCAB, BATCH, SINGLE_WORDS = 4, 4.0, 32, 8000, 8, 15
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


def run_timed(groups: dict[str, dict[str, Fn]], repeats: int, sync: Callable[[], None],
              warmups: int = 2) -> dict[str, list[float]]:
    """ms samples per candidate; each repeat runs every candidate of a group once, order rotated,
    so sample r of two candidates in one group was taken under the same machine conditions."""
    samples: dict[str, list[float]] = {name: [] for g in groups.values() for name in g}
    for group in groups.values():
        for fn in group.values():
            for _ in range(warmups):
                fn()
    sync()
    for r in range(repeats):
        for group in groups.values():
            names = list(group)
            names = names[r % len(names):] + names[:r % len(names)]
            for name in names:
                t0 = time.perf_counter()
                group[name]()
                sync()
                samples[name].append((time.perf_counter() - t0) * 1e3)
    return samples


def paired_ratio(cand: list[float], base: list[float], resamples: int = 2000) -> tuple[float, float, float, int]:
    """Median of the per-repeat ratios cand[r]/base[r], its 95% bootstrap interval, and how
    many repeats the candidate won. Pairing cancels slow drifts in machine load."""
    ratios = [c / b for c, b in zip(cand, base)]
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples))
    low, high = medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]
    return statistics.median(ratios), low, high, sum(r < 1 for r in ratios)


Setup = Callable[[Any, Any, torch.Tensor, str], tuple[Callable[[list[str]], Any], Callable[[list[str]], list[str]]]]


def setup_nnsight(model: Any, tok: Any, v: torch.Tensor, device: str) -> tuple[Callable, Callable]:
    from nnsight.modeling.transformers import TransformersModel

    # Own copy: nnsight replaces every module's forward with its wrapper, which would
    # otherwise also tax the toolkit and baseline calls on the shared model.
    lm = TransformersModel(copy.deepcopy(model), tokenizer=copy.deepcopy(tok), task="text-generation")

    def acts(prompts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            with lm.trace(prompts) as tracer:
                hidden = lm.model.layers[LAYER].output[:, -1].save()
                tracer.stop()
        return hidden

    def steered(prompts: list[str]) -> list[str]:
        with lm.generate(prompts, max_new_tokens=NEW_TOKENS, do_sample=False,
                         pad_token_id=tok.pad_token_id) as tracer:
            for _ in tracer.iter[:NEW_TOKENS]:
                lm.model.layers[LAYER].output[:] += STRENGTH * v
            ids = tracer.result.save()
        return tok.batch_decode(ids[:, -NEW_TOKENS:], skip_special_tokens=True)
    return acts, steered


def setup_tl(model: Any, tok: Any, v: torch.Tensor, device: str) -> tuple[Callable, Callable]:
    import transformer_lens.model_bridge.sources.transformers  # noqa: F401  (attaches boot_transformers)
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_transformers("random-llama", hf_model=copy.deepcopy(model),
                                                 tokenizer=copy.deepcopy(tok), device=device)
    name = f"blocks.{LAYER}.hook_resid_post"

    def acts(prompts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            _, cache = bridge.run_with_cache(prompts, names_filter=name, stop_at_layer=LAYER + 1,
                                             padding_side="left")
        return cache[name][:, -1]

    def add(x: torch.Tensor, hook: Any) -> torch.Tensor:
        return x + STRENGTH * v

    def steered(prompts: list[str]) -> list[str]:
        with bridge.hooks(fwd_hooks=[(name, add)]):
            ids = bridge.generate(prompts, max_new_tokens=NEW_TOKENS, do_sample=False,
                                  return_type="tokens", verbose=False)
        return tok.batch_decode(ids[:, -NEW_TOKENS:], skip_special_tokens=True)
    return acts, steered


class _Stop(Exception):
    pass


def floor_acts(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The least any library can do: pre-tokenized input, one bare hook that keeps the layer
    output and aborts the forward pass."""
    kept: list[torch.Tensor] = []

    def hook(module: Any, args: Any, output: Any) -> None:
        kept.append(output[0] if isinstance(output, tuple) else output)
        raise _Stop

    handle = model.model.layers[LAYER].register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    except _Stop:
        pass
    finally:
        handle.remove()
    return kept[0][:, -1]


MIN_REPEATS_FOR_INTERVAL = 10


def verdict(target: float | None, ratio: float, high: float, repeats: int) -> str:
    """`<= target` rows (against the model itself) judge the median. `faster than X` rows
    (target 1.0) pass only when the whole 95% interval is below 1, so noise cannot pass them;
    a median below 1 whose interval reaches 1, or one from under 10 repeats (too few for an
    interval), is INCONCLUSIVE: more repeats decide it."""
    if target is None:
        return "(info)"
    if target != 1.0:
        return "PASS" if ratio <= target else "FAIL"
    if ratio >= 1.0:
        return "FAIL"
    return "PASS" if high < 1.0 and repeats >= MIN_REPEATS_FOR_INTERVAL else "INCONCLUSIVE"


def pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--only", default="", help="comma-separated groups to time, e.g. batch/gen"
                        " (groups: batch/acts, batch/gen, single/acts, single/gen); default all")
    parser.add_argument("--libraries", default="nnsight,transformer_lens",
                        help="comma-separated libraries to compare with (default: nnsight,transformer_lens)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {device}: this torch build or machine has no CUDA device")
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    model, tok, prompts, v = build()
    model, v = model.to(device), v.to(device)
    workloads = {"batch": prompts, "single": [" ".join(prompts[-1].split()[:SINGLE_WORDS])]}

    libraries: dict[str, tuple[Callable, Callable]] = {}
    skipped: dict[str, str] = {}
    setups: dict[str, Setup] = {"nnsight": setup_nnsight, "transformer_lens": setup_tl}
    asked = {name for name in args.libraries.split(",") if name}
    if asked - set(setups):
        raise SystemExit(f"--libraries: unknown {sorted(asked - set(setups))}; known: {sorted(setups)}")
    for lib, setup in setups.items():
        if lib not in asked:
            skipped[lib] = "not asked for (--libraries)"
            continue
        try:
            libraries[lib] = setup(model, tok, v, device)
        except Exception as exc:  # a library that cannot run is reported, never faked
            skipped[lib] = short(exc)

    groups: dict[str, dict[str, Fn]] = {}
    checks: dict[str, str] = {}
    shapes: dict[str, str] = {}
    for wl, texts in workloads.items():
        input_ids, attention_mask = toolkit._inputs.encode_left_padded(tok, texts, device)
        shapes[wl] = f"{input_ids.shape[0]} x {input_ids.shape[1]}"

        def forward(ids: torch.Tensor = input_ids, mask: torch.Tensor = attention_mask) -> Any:
            with torch.no_grad():
                return model(input_ids=ids, attention_mask=mask, use_cache=False)

        def tk_acts(texts: list[str] = texts) -> torch.Tensor:
            return toolkit.get_activations(model, tok, texts, layers=LAYER, positions=-1)

        def tk_plain(texts: list[str] = texts) -> list[str]:
            return toolkit.generate(model, tok, texts, max_new_tokens=NEW_TOKENS)

        def tk_steer(texts: list[str] = texts) -> list[str]:
            with toolkit.steer(model, {LAYER: v}, strength=STRENGTH):
                return toolkit.generate(model, tok, texts, max_new_tokens=NEW_TOKENS)

        def floor(ids: torch.Tensor = input_ids, mask: torch.Tensor = attention_mask) -> torch.Tensor:
            return floor_acts(model, ids, mask)

        reference_acts, reference_text = tk_acts(), tk_steer()
        if float((floor().float().cpu() - reference_acts).abs().max()) > 1e-4:
            raise SystemExit("the floor's activations differ from the toolkit's: the benchmark is broken")
        if any(len(tok(t, add_special_tokens=False)["input_ids"]) != NEW_TOKENS for t in reference_text):
            print(f"warning ({wl}): some steered outputs are shorter than max_new_tokens (EOS generated)")
        acts_group: dict[str, Fn] = {"forward": forward, "floor": floor, "toolkit_acts": tk_acts}
        gen_group: dict[str, Fn] = {"generate": tk_plain, "toolkit_steer": tk_steer}
        for lib, (acts, steered) in list(libraries.items()):
            try:
                diff = float((acts(texts).float().cpu() - reference_acts).abs().max())
                same = steered(texts) == reference_text
                checks[f"{lib} ({wl})"] = f"max |acts diff| {diff:.1e}, steered text identical: {same}"
                if diff > 1e-3 or not same:
                    raise RuntimeError(f"results differ from the toolkit's ({checks[f'{lib} ({wl})']})")
            except Exception as exc:
                skipped[lib] = short(exc)
                del libraries[lib]
                continue
            acts_group[f"{lib}_acts"] = lambda acts=acts, texts=texts: acts(texts)
            gen_group[f"{lib}_steer"] = lambda steered=steered, texts=texts: steered(texts)
        groups[f"{wl}/acts"] = {f"{wl}/{name}": fn for name, fn in acts_group.items()}
        groups[f"{wl}/gen"] = {f"{wl}/{name}": fn for name, fn in gen_group.items()}
    for name in [n for g in groups.values() for n in g]:  # a library dropped in a later workload
        lib = name.split("/")[1].rsplit("_", 1)[0]
        if lib in skipped:
            for g in groups.values():
                g.pop(name, None)

    if args.only:
        unknown = set(args.only.split(",")) - set(groups)
        if unknown:
            raise SystemExit(f"--only: unknown groups {sorted(unknown)}; known: {sorted(groups)}")
        groups = {name: g for name, g in groups.items() if name in args.only.split(",")}

    wall0, cpu0 = time.perf_counter(), time.process_time()
    samples = run_timed(groups, args.repeats, sync)
    # Share of the threads' CPU time this process got: well below 1 means other processes
    # competed for the cores (the load average cannot tell, it counts our own threads too).
    cpu_share = (time.process_time() - cpu0) / ((time.perf_counter() - wall0) * torch.get_num_threads())
    ms = {name: statistics.median(s) for name, s in samples.items()}
    rows: list[dict[str, Any]] = []

    def row(wl: str, label: str, cand: str, base: str, target: float | None) -> None:
        if f"{wl}/{'acts' if cand.endswith('acts') else 'gen'}" not in groups:
            return  # left out with --only
        cand, base = f"{wl}/{cand}", f"{wl}/{base}"
        if cand not in ms or base not in ms:
            lib = base.split("/")[1].rsplit("_", 1)[0]
            rows.append({"workload": wl, "row": label, "skipped": skipped.get(lib, "not measured")})
            return
        ratio, low, high, wins = paired_ratio(samples[cand], samples[base])
        rows.append({"workload": wl, "row": label, "candidate": cand, "baseline": base,
                     "candidate_ms": ms[cand], "baseline_ms": ms[base], "ratio": ratio, "ci95": [low, high],
                     "wins": wins, "repeats": args.repeats, "target": target,
                     "result": verdict(target, ratio, high, args.repeats),
                     "group": f"{wl}/{'acts' if cand.endswith('acts') else 'gen'}"})

    for wl in workloads:
        row(wl, "get_activations / full forward", "toolkit_acts", "forward", 0.7)
        row(wl, "get_activations / bare hook", "toolkit_acts", "floor", None)
        row(wl, "steer+generate / generate", "toolkit_steer", "generate", 1.05)
        row(wl, "get_activations / nnsight trace", "toolkit_acts", "nnsight_acts", 1.0)
        row(wl, "steer+generate / nnsight generate", "toolkit_steer", "nnsight_steer", 1.0)
        row(wl, "get_activations / TL run_with_cache", "toolkit_acts", "transformer_lens_acts", 1.0)
        row(wl, "steer+generate / TL generate", "toolkit_steer", "transformer_lens_steer", 1.0)

    versions = {p: pkg(p) for p in ("torch", "transformers", "tokenizers", "nnsight", "transformer-lens")}
    where = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"toolkit speed: random Llama d=512 L=8 vocab={VOCAB}, fp32, {where}, {NEW_TOKENS} new tokens,"
          f" {args.repeats} repeats; workloads: " + ", ".join(f"{k} {v_} tokens" for k, v_ in shapes.items()))
    print("versions: " + ", ".join(f"{k} {v_}" for k, v_ in versions.items()))
    for lib, text in checks.items():
        print(f"check {lib}: {text}")
    if not device.startswith("cuda"):
        print(f"CPU share during timing: {cpu_share:.2f} of {torch.get_num_threads()} threads x wall time"
              f" ({os.cpu_count()} CPUs; ~0.9+ on a quiet machine, lower = other processes competed)")
    print("\nratio = median over repeats of toolkit_ms / baseline_ms (paired within a repeat), with its 95%"
          " bootstrap interval;\nwins = repeats where the toolkit was faster. A `< 1x` target passes only when"
          " the whole interval is below 1.")
    print(f"\n{'workload':<9}{'measurement':<38}{'toolkit ms':>11}{'baseline ms':>12}{'ratio':>8}"
          f"  {'95% interval':<14}{'wins':>7}  {'target':<8} result")
    for r in rows:
        if "skipped" in r:
            print(f"{r['workload']:<9}{r['row']:<38}  skipped: {r['skipped']}")
            continue
        target = "-" if r["target"] is None else (f"< {r['target']:g}x" if r["target"] == 1.0 else
                                                  f"<= {r['target']:g}x")
        low, high = r["ci95"]
        print(f"{r['workload']:<9}{r['row']:<38}{r['candidate_ms']:>11.1f}{r['baseline_ms']:>12.1f}"
              f"{r['ratio']:>7.2f}x  {low:.2f}-{high:.2f}x    {r['wins']:>3}/{r['repeats']:<3}"
              f"  {target:<8} {r['result']}")
    for lib, reason in skipped.items():
        print(f"{lib}: skipped: {reason}")
    for group in sorted({r["group"] for r in rows if r.get("result") == "INCONCLUSIVE"}):
        print(f"{group}: inconclusive at {args.repeats} repeats; decide it with"
              f" `python bench/toolkit_speed.py --only {group} --repeats 200`")
    print("\nall medians (ms): " + ", ".join(f"{k} {v_:.1f}" for k, v_ in ms.items()))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "median_ms": ms, "skipped": skipped, "checks": checks,
                                         "versions": versions, "repeats": args.repeats, "device": where,
                                         "samples_ms": samples, "cpu_share": cpu_share,
                                         "python": platform.python_version()}, indent=2))


if __name__ == "__main__":
    main()
