"""Isolation of local sandboxes: what a sandbox's processes may see and reach.

`plan` turns a sandbox's layout into bubblewrap arguments, `host` says which
parts of this machine a sandbox needs (the system, the Python environment,
GPUs), `environment` builds the allowlisted environment, and `mode` decides
between namespaces and no isolation from `SEER_ISOLATION` and what works here.
"""
