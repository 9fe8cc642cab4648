"""seer-mcp: sandboxes, notebooks and models for AI agents running interpretability experiments."""

__version__ = "0.1.0"

__all__ = ["__version__"]
