"""The `abs` command: local commands (run, methods, data, spec) and service commands."""
