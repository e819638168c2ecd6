"""The control plane: settings, SQL job store, leased queue, event bus and API tokens (no web framework)."""
