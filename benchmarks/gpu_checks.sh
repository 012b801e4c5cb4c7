#!/usr/bin/env bash
# The GPU checks of issue 13 item 10, as one prepared script for a lent GPU machine:
#   1. benchmarks/gpu_pretrain.py: fp32 / bf16 / fp16 / channels_last / torch.compile steps/s,
#      peak memory, and whether the loader keeps up (R(2+1)D, 16x112x112, batch 16);
#   2. a short paper-scale pretraining of R(2+1)D at 16x112x112 on synthetic RGB data through the
#      real CLI (`vidssl pretrain`), bf16, timed end to end with its loader.
# and those of issue 18:
#   3. (section bn) shuffle-BN in one backbone pass against one BN batch and against the old pass
#      per BN sub-batch, bf16 and bf16 + torch.compile (gpu_pretrain.py --key-bn-compare);
#   4. (section loader) the paper-scale loader from UCF101-like AVIs and their `vidssl prepare`d
#      copies (JPEG frames, H.264) at 128x171: samples/s per core with the cost of each part, and
#      the training loader with 12 workers (paper_loader.py); then a short `vidssl pretrain` from
#      the prepared frames with 12 workers, bf16 + compile, timed end to end.
# Usage (repo root; OUT is where logs go): OUT=/tmp/out bash benchmarks/gpu_checks.sh [SECTION]
# SECTION: all (default) | issue13 (1-2, ~8 min) | bn (3, ~5 min) | loader (4, ~6 min); each
# named section fits one 10-minute call.
# PyAV is the one dependency GPU images tend to lack: put its wheel in .whl/ to have it installed.
set -u
SECTION=${1:-all}
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

want() { [ "$SECTION" = all ] || [ "$SECTION" = "$1" ]; }

if want issue13; then
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
fi

if want bn; then
echo "== 3. shuffle-BN: one pass vs one BN batch vs a pass per sub-batch (bf16, compile)"
timeout "${BN_TIMEOUT:-420}" python3 benchmarks/gpu_pretrain.py --key-bn-compare --compile \
  --steps 20 --json "$OUT/key_bn.json" 2>&1 | tee "$OUT/key_bn.log"
echo "key_bn compare exit: ${PIPESTATUS[0]}"
fi

if want loader; then
echo "== 4. paper-scale loader per core and with 12 workers (raw AVI, prepared frames, video)"
files=/tmp/paper_files
timeout "${LOADER_TIMEOUT:-300}" python3 benchmarks/paper_loader.py --videos 48 --samples 48 \
  --workers 12 --dir "$files" 2>&1 | tee "$OUT/paper_loader.log"
echo "paper_loader exit: ${PIPESTATUS[0]}"
lscpu | grep 'Model name' | tee -a "$OUT/device.txt"
echo "== 5. vidssl pretrain from the prepared frames, 12 workers, bf16 + compile"
run=/tmp/paper_frames_run
rm -rf "$run"
t0=$(date +%s)
timeout "${FRAMES_TIMEOUT:-200}" python3 -m vidssl pretrain --config configs/pretrain/ucf101_r2plus1d.yaml --no-progress \
  data.dataset=unlabeled "data.root=$files/frames" data.num_workers=12 \
  train.device=cuda train.precision=bf16 train.compile=true train.epochs=3 \
  train.steps_per_epoch=60 train.eval_every=3 train.checkpoint_every=3 \
  "train.out_dir=$run" 2>&1 | tee "$OUT/pretrain_frames.log"
echo "pretrain (frames) exit: ${PIPESTATUS[0]}, wall $(( $(date +%s) - t0 )) s"
cp "$run/metrics.csv" "$OUT/pretrain_frames_metrics.csv" 2>/dev/null || true
fi
