"""Seer's toolkit libraries under their own names, for scripts ported from Seer.

Seer's experiments hand their agents three files of `experiments/toolkit/` as workspace
libraries. This folder holds files of the same names with the same functions, built on
`toolkit` (its layer finding, hooks and generation):

    extract_activations.py  extract_activation(model, tokenizer, text, layer_idx, position=-1)
    steering_hook.py        create_steering_hook(model, layer_idx, vector, strength=1.0, start_pos=0)
    generate_response.py    generate_response(model, tokenizer, prompt, max_new_tokens=100, temperature=0.0)

A ported script names them as Seer's named its `toolkit` folder, with SEER_TOOLKIT_DIR in place
of `Path(...) / "toolkit"`:

    from toolkit.seer import SEER_TOOLKIT_DIR
    workspace = Workspace(libraries=[Library.from_file(SEER_TOOLKIT_DIR / "steering_hook.py"),
                                     Library.from_file(SEER_TOOLKIT_DIR / "extract_activations.py")])

and its agent does `from steering_hook import create_steering_hook`, as Seer's did. A workspace
copies each file into the sandbox as a top-level module, so the files import `toolkit` by its
absolute name (every kernel has it) and never relatively; here they are also modules of this
package (`from toolkit.seer import create_steering_hook`).
"""

from pathlib import Path

from .extract_activations import extract_activation
from .generate_response import generate_response
from .steering_hook import SteeringHook, create_steering_hook

SEER_TOOLKIT_DIR = Path(__file__).resolve().parent

__all__ = ["SEER_TOOLKIT_DIR", "SteeringHook", "create_steering_hook", "extract_activation", "generate_response"]
