"""Check the toolkit and a local sandbox on an accelerator: what the CPU test suite cannot show.

    python scripts/device_check.py               # on CUDA (a GPU machine)
    python scripts/device_check.py --device cpu  # the same checks on CPU (the test suite runs this)

Toolkit, on the tests' tiny random Llama moved to the device, in float32 and in bfloat16:
activations equal `output_hidden_states`; strength-0 steering leaves the logits bit-identical;
the last layer's logit lens equals the model's logits; batched greedy
generation equals one-by-one (float32 only: bf16 rounding depends on the batch shape); every
result comes back as a CPU float32 tensor.
Sandbox: the same model saved to disk and loaded by a local sandbox with
`ModelConfig(dtype="bfloat16" on CUDA, device_map="auto")`; the kernel's model must sit on the
device, and the toolkit must run in the kernel.
Prints one line per check and exits 1 if any fails. About a minute on CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python scripts/x.py` puts scripts/ on sys.path, not the repo root

import torch  # noqa: E402

import toolkit  # noqa: E402
from tests.toolkit.conftest import PROMPTS, build_tokenizer, left_padded, reference_forward, tiny_llama  # noqa: E402

Check = Callable[[], str]


def toolkit_checks(device: str, dtype: torch.dtype) -> dict[str, Check]:
    model = tiny_llama().to(device=device, dtype=dtype)
    tok = build_tokenizer()
    batch = {k: v.to(device) for k, v in left_padded(tok, PROMPTS).items()}
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    name = f"{device}/{str(dtype).removeprefix('torch.')}"

    def activations() -> str:
        acts = toolkit.get_activations(model, tok, PROMPTS, layers=[1, 2], positions=-1)
        hidden = reference_forward(model, batch, output_hidden_states=True).hidden_states
        for layer, got in acts.items():
            assert got.device.type == "cpu" and got.dtype == torch.float32, f"came back {got.device} {got.dtype}"
            expected = hidden[layer + 1][:, -1].float().cpu()
            assert torch.allclose(got, expected, atol=tolerance, rtol=tolerance), \
                f"layer {layer}: max diff {float((got - expected).abs().max()):.2e}"
        return "equal to output_hidden_states"

    def zero_steering() -> str:
        before = reference_forward(model, batch).logits
        with toolkit.steer(model, {1: torch.randn(64)}, strength=0.0):
            during = reference_forward(model, batch).logits
        assert torch.equal(before, during), "strength 0 changed the logits"
        return "bit-identical logits"

    def lens() -> str:
        rows = toolkit.logit_lens(model, tok, PROMPTS[0], layers=[-1], return_logits=True)
        alone = {k: v.to(device) for k, v in tok(PROMPTS[0], return_tensors="pt").items()}
        expected = reference_forward(model, alone).logits[0, -1].float().cpu()
        got = rows[-1]["logits"]
        assert torch.allclose(got, expected, atol=tolerance * 10, rtol=tolerance), \
            f"max diff {float((got - expected).abs().max()):.2e}"
        return "last layer equals the logits"

    def generation() -> str:
        batched = toolkit.generate(model, tok, PROMPTS, max_new_tokens=8)
        if dtype != torch.float32:
            assert len(batched) == len(PROMPTS) and all(isinstance(t, str) for t in batched)
            return "ran (equality not checked in bf16)"
        one_by_one = [toolkit.generate(model, tok, p, max_new_tokens=8)[0] for p in PROMPTS]
        assert batched == one_by_one, f"{batched} != {one_by_one}"
        return "batched equals one-by-one"

    return {f"{name} toolkit activations": activations, f"{name} toolkit steer(0)": zero_steering,
            f"{name} toolkit logit_lens": lens, f"{name} toolkit generate": generation}


def sandbox_check(device: str, workdir: Path) -> dict[str, Check]:
    def sandbox() -> str:
        from seer_mcp import ModelConfig, Sandbox, SandboxConfig, create_notebook_session

        model_dir = workdir / "tiny-llama"
        tiny_llama().save_pretrained(model_dir)
        build_tokenizer().save_pretrained(model_dir)
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
        config = SandboxConfig(models=[ModelConfig(name=str(model_dir), dtype=dtype, device_map="auto")])
        running = Sandbox(config).start()
        try:
            session = create_notebook_session(running)
            out = session.exec("import toolkit\np = next(model.parameters())\n"
                               "acts = toolkit.get_activations(model, tokenizer, 'hi there', 1, positions=-1)\n"
                               "print(p.device.type, str(p.dtype).removeprefix('torch.'), tuple(acts.shape))")
        finally:
            running.terminate()
        assert out.split() == [device.split(":")[0], dtype, "(64,)"], f"kernel printed {out!r}"
        return out.strip()
    return {f"{device} sandbox with a preloaded model": sandbox}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"--device {args.device}: this torch build or machine has no CUDA device", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="seer-device-check-"))
    # The sandbox's state and outputs stay in the scratch folder, not the operator's.
    os.environ.setdefault("SEER_STATE_DIR", str(workdir / "state"))
    os.environ.setdefault("SEER_OUTPUTS_DIR", str(workdir / "outputs"))
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"device check on {where}: torch {torch.__version__}", flush=True)
    checks = {**toolkit_checks(args.device, torch.float32), **toolkit_checks(args.device, torch.bfloat16),
              **sandbox_check(args.device, workdir)}
    failed = 0
    for label, check in checks.items():
        try:
            print(f"PASS {label}: {check()}", flush=True)
        except Exception as exc:  # every check is reported, one failure does not hide the rest
            failed += 1
            detail = str(exc) or traceback.format_exc(limit=-1).strip().splitlines()[-1]
            print(f"FAIL {label}: {type(exc).__name__}: {detail}", flush=True)
    print(f"{len(checks) - failed}/{len(checks)} checks passed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
