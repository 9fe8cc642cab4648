"""What Inspect loads through the `inspect_ai` entry point: importing registers the task and the sandbox."""

from seer_mcp.inspect_eval.sandboxenv import SeerSandboxEnvironment  # noqa: F401  (the "seer" sandbox)
from seer_mcp.inspect_eval.task import seer_experiment  # noqa: F401  (seer_mcp/seer_experiment)
from seer_mcp.inspect_eval.scripted import register_scripted_model

register_scripted_model()  # --model seer_scripted/package.module:function
