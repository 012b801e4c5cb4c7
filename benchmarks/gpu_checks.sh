#!/usr/bin/env bash
# The GPU checks of issue 13 item 10, as one prepared script for a lent GPU machine:
#   1. benchmarks/gpu_pretrain.py: fp32 / bf16 / fp16 / channels_last / torch.compile steps/s,
#      peak memory, and whether the loader keeps up (R(2+1)D, 16x112x112, batch 16);
#   2. a short paper-scale pretraining of R(2+1)D at 16x112x112 on synthetic RGB data through the
#      real CLI (`vidssl pretrain`), bf16, timed end to end with its loader.
# Usage (repo root; OUT is where logs go): OUT=/tmp/out bash benchmarks/gpu_checks.sh
# PyAV is the one dependency GPU images tend to lack: put its wheel in .whl/ to have it installed.
set -u
OUT=${OUT:-/tmp/gpu_checks}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/device.txt"
python3 -c "import torch, av; print('torch', torch.__version__, 'av', av.__version__, \
'cuda', torch.version.cuda)" 2>&1 | tee -a "$OUT/device.txt"
nproc | sed 's/^/cpu cores: /' | tee -a "$OUT/device.txt"

echo "== 1. gpu_pretrain.py"
timeout "${BENCH_TIMEOUT:-330}" python3 benchmarks/gpu_pretrain.py --compile --workers 12 \
  --steps 20 --json "$OUT/gpu_pretrain.json" 2>&1 | tee "$OUT/gpu_pretrain.log"
echo "gpu_pretrain exit: ${PIPESTATUS[0]}"

echo "== 2. paper-scale pretraining (vidssl pretrain, bf16)"
run=/tmp/paper_scale_run
rm -rf "$run"
t0=$(date +%s)
timeout "${PRETRAIN_TIMEOUT:-170}" python3 -m vidssl pretrain --config configs/pretrain/ucf101_r2plus1d.yaml --no-progress \
  data.dataset=synthetic data.synthetic.size=112 data.synthetic.min_frames=64 \
  data.synthetic.max_frames=96 data.synthetic.train_per_class=16 data.synthetic.test_per_class=2 \
  data.input=rgb 'data.resize=[128,171]' data.crop=112 data.num_workers=12 \
  sampler.clip_len=16 model.backbone=r2plus1d model.width=1.0 contrastive.queue_size=4096 \
  train.batch_size=16 train.device=cuda train.precision=bf16 train.epochs=4 \
  train.steps_per_epoch=40 train.eval_every=4 train.checkpoint_every=4 \
  "train.out_dir=$run" 2>&1 | tee "$OUT/pretrain.log"
echo "pretrain exit: ${PIPESTATUS[0]}, wall $(( $(date +%s) - t0 )) s"
cp "$run/metrics.csv" "$OUT/pretrain_metrics.csv" 2>/dev/null || true
cp "$run/config.yaml" "$OUT/pretrain_config.yaml" 2>/dev/null || true
nvidia-smi --query-gpu=memory.used --format=csv | tee -a "$OUT/device.txt"
