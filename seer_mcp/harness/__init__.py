"""The harness: runs an agent whose tools are MCP servers (a session's `mcp_config`), in Seer's shape.

    from seer_mcp.harness import run_agent

    async for message in run_agent(task, mcp_config=session.mcp_config, provider="claude"):
        print(message)

Providers: "claude" (Claude Code through `claude-agent-sdk`; its own host tools are off unless
`allow_host_tools=True`, or the agent is a local session's: see `local_workdirs`) and "anthropic" (a
plain tool-use loop on the Messages API, connecting to the MCP servers itself). `run_agent_interactive`
is a terminal chat over the same providers. Every message is written to a JSON Lines transcript (see
`seer_mcp.harness.messages`).

Optional: `pip install 'seer-mcp[harness]'`. The SDKs are imported when a provider is used, and nothing in
the server imports this package.
"""

from seer_mcp.harness.base import DEFAULT_MODEL, DEFAULT_USER_MESSAGE, HarnessError, MissingDependencyError
from seer_mcp.harness.claude_provider import HOST_TOOLS, ClaudeTranslator, claude_options
from seer_mcp.harness.messages import AgentMessage, MessageKind, Transcript
from seer_mcp.harness.run import AgentRun, run_agent, run_agent_interactive

__all__ = ["DEFAULT_MODEL", "DEFAULT_USER_MESSAGE", "HOST_TOOLS", "AgentMessage", "AgentRun", "ClaudeTranslator",
           "HarnessError", "MessageKind", "MissingDependencyError", "Transcript", "claude_options", "run_agent",
           "run_agent_interactive"]
