"""Models for sandboxes: specs, the download cache, hidden models, and the preload code.

A model is fetched once on the server's host through huggingface_hub (or
taken from a local directory). A snapshot counts as complete only after a
download finished and left our completion marker: an interrupted download has
no marker, so the next call resumes it instead of trusting a partial folder.

A hidden model is shown to the sandbox under an opaque directory
(`models/model_0`) built from hard links to the cached blobs, whose names are
content hashes; the JSON files that name the model (`config.json`,
`tokenizer_config.json`, `adapter_config.json`, ...) are rewritten with the
names scrubbed, and model cards are left out.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from seer_mcp.progress import StepProgress, no_progress
from seer_mcp.errors import InvalidRequest, SandboxStartError
from seer_mcp.fileio import write_atomically
from seer_mcp.spec import ModelSpec

# Files that describe a model in words (cards) rather than load it: never shown for a hidden model.
_CARD_FILES = {"README.md", "README", ".gitattributes", "model_card.md"}
# Keys, in JSON files, whose values name where a model came from.
_NAME_KEYS = {"_name_or_path", "name_or_path", "base_model_name_or_path", "_commit_hash"}
HIDDEN_NAME = "<hidden>"


@dataclass
class ResolvedModel:
    """A model as the sandbox sees it: where to load it from and what to call it."""

    spec: ModelSpec
    path: str  # inside the sandbox's view: the cache snapshot, or an opaque folder for hidden models
    base_path: str | None = None

    def record(self) -> dict[str, Any]:
        """JSON-safe, for the sandbox's saved handle."""
        return {"spec": self.spec.model_dump(), "path": self.path, "base_path": self.base_path}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> "ResolvedModel":
        return cls(ModelSpec.model_validate(data["spec"]), data["path"], data.get("base_path"))

    @property
    def display_name(self) -> str:
        return HIDDEN_NAME if self.spec.hidden else self.spec.name

    def public(self) -> dict[str, Any]:
        return {"var_name": self.spec.var_name, "tokenizer_var": self.spec.tokenizer_var,
                "name": self.display_name, "is_peft": self.spec.is_peft,
                "base_model": (HIDDEN_NAME if self.spec.hidden else self.spec.base_model) if self.spec.is_peft else None,
                "preload": self.spec.preload}


ORGANISM_PREFIX = "organism:"


ORGANISM_BUILD_TIMEOUT_S = 3600.0  # a first build on a slow machine: base, then adapter
# Run as `python -c` by organism_path: builds (or finds) the organism, prints its paths as JSON.
_BUILD_ORGANISM = """
import json, sys
from organism.recipe import ORGANISMS, ensure_built
organism, seed = sys.argv[1], int(sys.argv[2])
if organism not in ORGANISMS:
    sys.exit(f"unknown organism {organism!r}; choose one of {', '.join(ORGANISMS)}")
paths = ensure_built(seed=seed, quiet=True, organism=organism)
print(json.dumps({"adapter": str(paths.adapter), "base": str(paths.base)}))
"""


# (organism, seed) -> its adapter and base, as the build process printed them: a sandbox names both (the
# adapter and its base), and each lookup would otherwise start a process that imports torch.
_ORGANISMS_FOUND: dict[tuple[str, str], dict[str, str]] = {}


def organism_path(name: str) -> Path:
    """`organism:NAME[@SEED]` is the adapter of the repo's model organism NAME (built into its cache on
    first use), `organism:NAME[@SEED]/base` its base: how a config or a sweep names the demo's organisms.

    Built in a process of its own: the build is the same wherever it is asked for (a server, an Inspect
    eval's runtime thread, a script), whatever that process's threads and torch state, and the asking
    process never imports torch for it. The recipe's file lock keeps two builds of one organism apart."""
    reference = name.removeprefix(ORGANISM_PREFIX)
    reference, _, part = reference.partition("/")
    organism, _, seed = reference.partition("@")
    if part not in ("", "base") or (seed and not seed.isdigit()):
        raise InvalidRequest(f"model {name!r}: write organism:NAME, organism:NAME@SEED or organism:NAME@SEED/base")
    key = (organism, seed or "0")
    found = _ORGANISMS_FOUND.get(key)
    if found is not None and all(Path(path).is_dir() for path in found.values()):  # a cache deleted meanwhile: build
        return Path(found["base"] if part == "base" else found["adapter"])
    try:
        done = subprocess.run([sys.executable, "-c", _BUILD_ORGANISM, organism, seed or "0"], capture_output=True,
                              text=True, timeout=ORGANISM_BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise InvalidRequest(f"model {name!r}: building the organism took over "
                             f"{ORGANISM_BUILD_TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        if lines and "No module named 'organism'" in lines[-1]:
            raise InvalidRequest(f"model {name!r}: the organism package is not installed here ({lines[-1]})")
        raise InvalidRequest(f"model {name!r}: " + (lines[-1] if lines else f"the build exited with {done.returncode}"))
    paths = _ORGANISMS_FOUND[key] = json.loads(done.stdout.strip().splitlines()[-1])
    return Path(paths["base"] if part == "base" else paths["adapter"])


class ModelCache:
    """Downloads through huggingface_hub into the HF cache, with completion markers of our own."""

    def __init__(self, marker_dir: Path) -> None:
        self.marker_dir = marker_dir

    def _marker(self, repo_id: str, revision: str | None) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "--", f"{repo_id}@{revision or 'main'}")
        return self.marker_dir / f"{safe}.json"

    async def fetch(self, name: str, revision: str | None, progress: StepProgress = no_progress) -> Path:
        """A complete local copy of `name`: a local directory as it is, else a Hub snapshot."""
        if name.startswith(ORGANISM_PREFIX):
            return await asyncio.to_thread(organism_path, name)
        local = Path(name).expanduser()
        if local.is_dir():
            return local.resolve()
        if name.startswith(("/", ".", "~")):
            raise InvalidRequest(f"model directory {name!r} does not exist")
        marker = self._marker(name, revision)
        if marker.exists():
            recorded = Path(json.loads(marker.read_text())["path"])
            if recorded.is_dir():
                return recorded  # complete, and never fetched again
        await progress(0, None, f"downloading {name}")
        loop = asyncio.get_running_loop()

        def report(done: float, total: float | None, message: str) -> None:  # called from download threads
            loop.call_soon_threadsafe(lambda: loop.create_task(progress(done, total, f"{name}: {message}")))

        path = await asyncio.to_thread(_snapshot_download, name, revision, reporting_tqdm(report))
        write_atomically(marker, json.dumps({"repo_id": name, "revision": revision, "path": str(path)}).encode())
        await progress(1, None, f"downloaded {name}")
        return path


def reporting_tqdm(report: Callable[[float, float | None, str], None], min_gap_s: float = 0.5) -> type:
    """A tqdm class for huggingface_hub that reports byte progress instead of drawing bars."""
    from tqdm.auto import tqdm

    class ReportingTqdm(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["file"] = open(os.devnull, "w")  # noqa: SIM115 - closed with the bar
            kwargs.pop("name", None)  # huggingface_hub's own keyword, unknown to tqdm
            super().__init__(*args, **kwargs)
            self._last_report = 0.0

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            now = time.monotonic()
            if self.unit == "B" and now - self._last_report >= min_gap_s:
                self._last_report = now
                total = f" of {self.total / 1e6:,.1f}" if self.total else ""
                report(self.n, self.total, f"{self.n / 1e6:,.1f}{total} MB")
            return shown

        def close(self) -> None:
            super().close()
            self.fp.close()

    return ReportingTqdm


def _snapshot_download(repo_id: str, revision: str | None, tqdm_class: type | None = None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        # Resumes files left incomplete by an interrupted download; HF_TOKEN comes from the environment.
        return Path(snapshot_download(repo_id, revision=revision, etag_timeout=10, tqdm_class=tqdm_class))
    except GatedRepoError as exc:
        raise SandboxStartError(f"model {repo_id!r} is gated: accept its licence on the Hub and set HF_TOKEN "
                                "in the server's environment") from exc
    except RepositoryNotFoundError as exc:
        raise InvalidRequest(f"model {repo_id!r} was not found on the HuggingFace Hub (check the repo id, "
                             "or set HF_TOKEN for a private repo)") from exc
    except RevisionNotFoundError as exc:
        raise InvalidRequest(f"model {repo_id!r} has no revision {revision!r}") from exc
    except LocalEntryNotFoundError as exc:
        raise SandboxStartError(f"model {repo_id!r} is not in the local cache and the Hub cannot be reached "
                                "(offline); download it once with network, or pass a local directory") from exc
    except OSError as exc:
        raise SandboxStartError(f"downloading model {repo_id!r} failed: {exc}") from exc


def scrub_names(data: Any, replacement: str) -> Any:
    """A copy of a JSON value with every where-it-came-from key pointed at `replacement`."""
    if isinstance(data, dict):
        return {k: (replacement if k in _NAME_KEYS and isinstance(v, str) else scrub_names(v, replacement))
                for k, v in data.items()}
    if isinstance(data, list):
        return [scrub_names(v, replacement) for v in data]
    return data


def build_hidden_copy(source: Path, dest: Path, rewrite: dict[str, str] | None = None) -> None:
    """Fill `dest` with `source`'s files under names that reveal nothing.

    Weights are hard links to the real blobs (a copy where links are impossible);
    JSON files get their name keys pointed at `dest` itself, or at `rewrite[key]`.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for item in sorted(source.rglob("*")):
        relative = item.relative_to(source)
        if item.is_dir() or item.name in _CARD_FILES or relative.parts[0].startswith("."):
            continue
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        real = item.resolve()
        if item.suffix == ".json":
            data = scrub_names(json.loads(real.read_text()), str(dest))
            for key, value in (rewrite or {}).items():
                if key in data:
                    data[key] = value
            target.write_text(json.dumps(data, indent=2))
            continue
        target.unlink(missing_ok=True)
        try:
            os.link(real, target)
        except OSError:
            shutil.copyfile(real, target)


def preload_code(models: list[ResolvedModel]) -> str:
    """Kernel code that loads each preloaded model and its tokenizer into its variables."""
    lines = ["import torch as _torch", "from transformers import AutoModelForCausalLM as _AutoLM, AutoTokenizer as _AutoTok",
             "_device_map = lambda wanted: wanted if (wanted != 'auto' or _torch.cuda.is_available()) else None"]
    for m in models:
        if not m.spec.preload:
            continue
        kwargs = f"dtype={m.spec.dtype!r}, device_map=_device_map({m.spec.device_map!r})"
        if m.spec.is_peft:
            lines += ["from peft import PeftModel as _PeftModel",
                      f"{m.spec.var_name} = _PeftModel.from_pretrained(_AutoLM.from_pretrained({m.base_path!r}, {kwargs}), {m.path!r})",
                      f"{m.spec.tokenizer_var} = _AutoTok.from_pretrained({m.path!r} if __import__('os').path.exists("
                      f"__import__('os').path.join({m.path!r}, 'tokenizer_config.json')) else {m.base_path!r})"]
        else:
            lines += [f"{m.spec.var_name} = _AutoLM.from_pretrained({m.path!r}, {kwargs})",
                      f"{m.spec.tokenizer_var} = _AutoTok.from_pretrained({m.path!r})"]
        lines.append(f"{m.spec.var_name}.eval()")
    lines.append("del _torch, _AutoLM, _AutoTok, _device_map")
    return "\n".join(lines) + "\n"


def model_info_code(models: list[ResolvedModel]) -> str:
    """Kernel code that prints one JSON line describing each loaded model."""
    described = [{"var": m.spec.var_name, "tok": m.spec.tokenizer_var, "name": m.display_name,
                  "peft": m.spec.is_peft} for m in models if m.spec.preload]
    return (
        "import json as _json\n"
        "def _seer_describe(var, tok, name, peft):\n"
        "    m = globals()[var]\n"
        "    inner = m.get_base_model() if peft else m\n"
        "    cfg = inner.config\n"
        "    text_cfg = getattr(cfg, 'text_config', None) or cfg\n"
        "    p = next(m.parameters())\n"
        "    return {'var_name': var, 'tokenizer_var': tok, 'name': name, 'peft': peft,\n"
        "            'layers': getattr(text_cfg, 'num_hidden_layers', getattr(text_cfg, 'n_layer', None)),\n"
        "            'hidden_size': getattr(text_cfg, 'hidden_size', getattr(text_cfg, 'n_embd', None)),\n"
        "            'dtype': str(p.dtype).replace('torch.', ''), 'device': str(p.device),\n"
        "            'parameters': sum(t.numel() for t in m.parameters())}\n"
        f"print(_json.dumps([_seer_describe(**d) for d in {described!r}]))\n"
        "del _json, _seer_describe\n"
    )


def model_info_text(described: list[dict[str, Any]]) -> str:
    """The agent's description of the loaded models."""
    if not described:
        return "No models are preloaded in this session."
    lines = ["Preloaded models:"]
    for d in described:
        kind = "PEFT adapter on its base" if d["peft"] else "causal LM"
        lines.append(f"- `{d['var_name']}` ({kind}, tokenizer `{d['tokenizer_var']}`): {d['name']}; "
                     f"{d['layers']} layers, hidden size {d['hidden_size']}, {d['dtype']} on {d['device']}, "
                     f"{d['parameters']:,} parameters")
    return "\n".join(lines)
