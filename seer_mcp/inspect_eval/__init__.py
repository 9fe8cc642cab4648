"""seer-mcp in Inspect (`inspect_ai`): experiment configs as tasks, seer-mcp sandboxes as a sandbox environment.

    inspect eval seer_mcp/seer_experiment -T config=configs/organism-sweep.toml --model anthropic/claude-...

`task.py`: the task, its solver (react() on seer-mcp's tools through Inspect's MCP client) and its
scorer; `sandboxenv.py`: the "seer" sandbox environment; `scripted.py`: a scripted investigator as
Inspect's mock model. Needs the `inspect` extra (`pip install 'seer-mcp[inspect]'`); Inspect finds
these through the package's `inspect_ai` entry point.
"""

from seer_mcp.inspect_eval.sandboxenv import SeerSandboxConfig, SeerSandboxEnvironment
from seer_mcp.inspect_eval.scripted import scripted_outputs
from seer_mcp.inspect_eval.task import false_positive_rate, seer_agent, seer_experiment, seer_grader, success_rate

__all__ = ["SeerSandboxConfig", "SeerSandboxEnvironment", "false_positive_rate", "scripted_outputs", "seer_agent",
           "seer_experiment", "seer_grader", "success_rate"]
