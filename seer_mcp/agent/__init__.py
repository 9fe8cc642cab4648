"""The sandbox agent: the only code that touches kernels, notebooks and sandbox files.

It runs inside the sandbox (a subprocess locally, the container's process on
Modal), serves HTTP behind the sandbox's token, and never imports the MCP layer.
"""
