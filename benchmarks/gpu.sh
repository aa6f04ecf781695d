#!/usr/bin/env bash
# The whole backend comparison on a GPU machine (see ../shared/gpu/README.md).
# Run from the repository root on the device machine, against its own torch/jax/onnx:
#   PYTHONPATH=. bash benchmarks/gpu.sh
# Correctness first (every backend against the interpreter on the GPU), then timings;
# results go to benchmarks/results/ and, when $OUT is set, are copied there.
# Then paper-scale programs (gpu_paper_scale.py): ours, and the paper's SCAN and SUBLEQ rule
# programs when PAPER_ALTA names a checkout of google-deepmind/alta, with each backend's
# share of the card's roofline. GPU_PAPER_SCALE_ARGS passes it options (e.g. --deadline 300);
# GPU_PAPER_SCALE_ONLY=1 skips the demo and backends.py.
set -euo pipefail
export PYTHONPATH="${PYTHONPATH:-.}"
nvidia-smi --query-gpu=name,memory.total --format=csv || true
python3 -c "import torch, jax; print('torch', torch.__version__, torch.cuda.is_available()); print('jax', jax.__version__, jax.devices())"
python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" || true
if [ -z "${GPU_PAPER_SCALE_ONLY:-}" ]; then
  python3 -m alta.demo --n 50 --backends torch jax || echo "demo reported mismatches"
  python3 benchmarks/backends.py --device cuda "$@"
  if [ -n "${OUT:-}" ]; then cp benchmarks/results/backends-cuda*.{md,json} "$OUT"/ 2>/dev/null || true; fi
fi
# shellcheck disable=SC2086  # GPU_PAPER_SCALE_ARGS is a list of options
python3 benchmarks/gpu_paper_scale.py --device cuda ${PAPER_ALTA:+--paper-alta "$PAPER_ALTA"} \
  ${GPU_PAPER_SCALE_ARGS:-} || echo "gpu_paper_scale.py failed"
if [ -n "${OUT:-}" ]; then cp benchmarks/results/gpu-*.{md,json} "$OUT"/ 2>/dev/null || true; fi
