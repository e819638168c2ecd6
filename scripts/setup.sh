#!/usr/bin/env bash
# Create .venv with the project (and the `abs` command) installed; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# torch from this machine's disk unless a torch with torchvision is already there (GPU images bring their own)
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
  .venv/bin/pip install -q torch==2.14.1 torchvision==0.29.1 2>&1 | grep -v '^WARNING: Location' || true
fi
.venv/bin/pip install -q -e '.[dev,mlflow]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import torch, torchvision, ray, fastapi, sqlalchemy'  # fail here if an install failed
