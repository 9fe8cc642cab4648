"""Tests of seer_mcp.harness and examples/petri_style.py."""
