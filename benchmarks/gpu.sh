#!/usr/bin/env bash
# The whole backend comparison on a GPU machine (see ../shared/gpu/README.md).
# Run from the repository root on the device machine, against its own torch/jax/onnx:
#   PYTHONPATH=. bash benchmarks/gpu.sh
# Correctness first (every backend against the interpreter on the GPU), then timings;
# results go to benchmarks/results/ and, when $OUT is set, are copied there.
set -euo pipefail
export PYTHONPATH="${PYTHONPATH:-.}"
nvidia-smi --query-gpu=name,memory.total --format=csv || true
python3 -c "import torch, jax; print('torch', torch.__version__, torch.cuda.is_available()); print('jax', jax.__version__, jax.devices())"
python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" || true
python3 -m alta.demo --n 50 --backends torch jax || echo "demo reported mismatches"
python3 benchmarks/backends.py --device cuda "$@"
if [ -n "${OUT:-}" ]; then cp benchmarks/results/backends-cuda*.{md,json} "$OUT"/ 2>/dev/null || true; fi
