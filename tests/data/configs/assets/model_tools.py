"""An interface used by the config tests."""
