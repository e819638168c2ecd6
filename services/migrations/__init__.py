"""Alembic migrations of the control-plane database (configured in code by `services.migrate`)."""
