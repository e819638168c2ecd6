#!/usr/bin/env bash
# The prepared GPU check: every example spec for a couple of steps, the pretraining throughput bench and the
# evaluator bench on one device, one JSON line per figure on stdout (logs on stderr), within 10 minutes on one
# H200. Needs torch and ab_core's own needs (pydantic, pyyaml, numpy, pillow); no Ray, no service.
#
#   bash bench/gpu_check.sh                        # --device cuda
#   bash bench/gpu_check.sh --device cpu --quick   # the dry run: tiny data and steps, a few minutes on 2 cores
#
# PYTHON picks the interpreter (default: .venv/bin/python when present, else python3). Each part has its
# own time limit (seconds: EXAMPLES_S, THROUGHPUT_S, EVALUATORS_S; defaults below); a part that fails or
# runs over prints a {"bench": ..., "ok": false} line and the script exits 1 after the other parts.
set -uo pipefail
cd "$(dirname "$0")/.."

device=cuda
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    *) echo "gpu_check.sh: unknown argument '$1'; accepted: --device DEVICE, --quick" >&2; exit 2 ;;
  esac
done
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore

if ! missing=$("$PYTHON" -c "import torch, ab_core.runner" 2>&1); then
  echo "{\"bench\": \"gpu_check\", \"ok\": false, \"error\": \"ab_core does not import: $(echo "$missing" | tail -1 | tr '"' "'")\"}"
  exit 1
fi

if [ "$quick" = 1 ]; then
  examples_args=(--quick)
  limits=(900 600 600)  # the dry run on a small, busy CPU machine
  throughput_args=(--steps 4 --rounds 1 --batch 16 --per-class 16)
  evaluator_args=(--repeats 1 --methods padim --categories carpet --synth-size 64 --synth-per-category 8
                  --size 64 --crop 64 --batch-size 8)
else
  examples_args=()
  limits=(240 180 150)  # 10 minutes in all on one H200
  throughput_args=(--steps 12 --rounds 3)
  evaluator_args=(--repeats 1)
fi

status=0
part() {  # part NAME SECONDS COMMAND...: run one part under its time limit; note a failure and go on
  local name="$1" limit="$2"
  shift 2
  echo "gpu_check: $name (limit ${limit} s): $*" >&2
  timeout "$limit" "$@"
  local rc=$?
  if [ "$rc" != 0 ]; then
    echo "{\"bench\": \"$name\", \"ok\": false, \"exit_status\": $rc, \"timed_out\": $([ "$rc" = 124 ] && echo true || echo false)}"
    status=1
  fi
}

part gpu_examples "${EXAMPLES_S:-${limits[0]}}" "$PYTHON" bench/gpu_examples.py --device "$device" "${examples_args[@]}"
part pretrain_throughput "${THROUGHPUT_S:-${limits[1]}}" "$PYTHON" bench/pretrain_throughput.py --device "$device" \
  "${throughput_args[@]}"
if reason=$("$PYTHON" -c "import anomalib.models" 2>&1); then
  part evaluators_vs_anomalib "${EVALUATORS_S:-${limits[2]}}" "$PYTHON" bench/evaluators_vs_anomalib.py --device "$device" \
    "${evaluator_args[@]}"
else
  echo "{\"bench\": \"evaluators_vs_anomalib\", \"skipped\": true, \"reason\": \"anomalib does not import: $(echo "$reason" | tail -1 | tr '"' "'")\"}"
fi
exit "$status"
