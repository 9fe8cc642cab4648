"""Experiment configs (`config`), operator mode (`provision`: a config's sandbox, session and
interfaces made ready before any agent connects), `seer-mcp run` (`run`) and `seer-mcp demo` (`demo`)."""
