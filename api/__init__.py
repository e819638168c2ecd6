"""The REST API: a FastAPI app over the control plane in `services` (see `api.app.create_app`)."""
