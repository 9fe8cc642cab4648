"""Fill a model volume: `python -m seer_mcp.backends.modal_fetch --repo ID --dest DIR [...]`.

Runs inside a short-lived Modal sandbox with the model's volume mounted at
DIR. A volume is complete only once the marker file exists, and the marker
is written last: an interrupted download leaves no marker, and the next run
resumes it (huggingface_hub keeps partial files in DIR/.cache) instead of
trusting it. With `--hide`, every file that could name the model is
rewritten in place (the volume is only ever mounted under an opaque path).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

MARKER = ".seer-complete"


def is_complete(dest: Path) -> bool:
    return (dest / MARKER).is_file()


def hide_names(dest: Path, opaque_path: str, base_path: str | None) -> None:
    """Points every name field at the opaque mount path; removes model cards and download metadata."""
    from seer_mcp.models import _CARD_FILES, scrub_names

    for path in sorted(dest.rglob("*")):
        if path.is_file() and path.name in _CARD_FILES:
            path.unlink()
        elif path.is_file() and path.suffix == ".json":
            try:
                data = json.loads(path.read_text())
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            cleaned = scrub_names(data, opaque_path)
            if base_path and isinstance(cleaned, dict) and "base_model_name_or_path" in cleaned:
                cleaned["base_model_name_or_path"] = base_path
            path.write_text(json.dumps(cleaned, indent=2))
    shutil.rmtree(dest / ".cache", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seer_mcp.backends.modal_fetch")
    parser.add_argument("--repo", required=True)
    parser.add_argument("--revision")
    parser.add_argument("--dest", required=True, type=Path)
    parser.add_argument("--hide", metavar="OPAQUE_PATH", help="scrub names, pointing them at this path")
    parser.add_argument("--hidden-base", metavar="PATH", help="for a hidden adapter: its base's opaque path")
    args = parser.parse_args(argv)
    if is_complete(args.dest):
        if args.hide:  # fetched for a visible use before: hide it now (scrubbing is idempotent)
            hide_names(args.dest, args.hide, args.hidden_base)
        print(f"cached: {args.dest}", file=sys.stderr)
        return 0
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_OFFLINE
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        if HF_HUB_OFFLINE:
            # Offline, a local_dir "download" would take whatever partial files it finds as done:
            # copy the snapshot from the container's HF cache instead.
            cached = Path(snapshot_download(args.repo, revision=args.revision))
            shutil.copytree(cached, args.dest, dirs_exist_ok=True)
        else:
            # Files without download metadata (an interrupted job) are fetched again; partial ones resume.
            snapshot_download(args.repo, revision=args.revision, local_dir=args.dest, etag_timeout=30)
    except LocalEntryNotFoundError:
        print(f"error: {args.repo} is not in the container's Hugging Face cache and downloads are off "
              "(HF_HUB_OFFLINE)", file=sys.stderr)
        return 6
    except GatedRepoError:
        print(f"error: {args.repo} is gated: accept its terms on huggingface.co and give the sandbox an HF_TOKEN "
              "secret", file=sys.stderr)
        return 3
    except RevisionNotFoundError:
        print(f"error: {args.repo} has no revision {args.revision!r}", file=sys.stderr)
        return 4
    except RepositoryNotFoundError:
        print(f"error: no model {args.repo!r} on the Hugging Face Hub (or it is private: add an HF_TOKEN secret)",
              file=sys.stderr)
        return 5
    if args.hide:
        hide_names(args.dest, args.hide, args.hidden_base)
    (args.dest / MARKER).write_text(json.dumps({"revision": args.revision}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
