#!/usr/bin/env bash
# The CUDA checks of issue 16 as one prepared script, for a lent GPU machine (each step bounded; one failing
# step does not stop the others). Logs go to $OUT (default ./gpu-out).
#
#   OUT=/tmp/gpu bash benchmarks/gpu_checks.sh          # ONLY="dcgan toy" runs those steps; DEADLINE=S caps it
#
# Needs python3 with torch (CUDA), numpy, scipy, scikit-learn, matplotlib, PyYAML, tqdm, safetensors, mlxtend
# and POT; gankit itself runs from src/ (PYTHONPATH), so nothing is installed.
set -u
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONPATH="src:benchmarks${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
PY=${PY:-python3}
W=$(mktemp -d)
DEADLINE=${DEADLINE:-480}  # seconds for the whole script: a step gets what is left, at most its own limit
step() {  # step NAME SECONDS COMMAND...: run, time, append to $OUT/NAME.log
    local name=$1 limit=$2; shift 2
    [[ -n ${ONLY:-} && " $ONLY " != *" $name "* ]] && return  # ONLY="dcgan toy": rerun some steps
    local left=$((DEADLINE - SECONDS))
    if ((left < 20)); then echo "=== $name skipped: ${left}s left of ${DEADLINE}s" | tee -a "$OUT/skipped.log"; return; fi
    ((limit > left)) && limit=$left
    echo "=== $(date -u +%T) $name: $*" | tee -a "$OUT/$name.log"
    local t0=$SECONDS
    timeout "$limit" "$@" >>"$OUT/$name.log" 2>&1
    local rc=$?
    echo "=== $name rc=$rc wall=$((SECONDS - t0))s" | tee -a "$OUT/$name.log"
    RC[$name]=$rc
}
declare -A RC

# 1. What gankit sees: the GPU, native bf16, and the fast paths each preset takes there.
step info 60 bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv; \
  $PY -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())'; \
  for p in dcgan-mnist-pytorch-gan mnist-fast grid25-fast wgan-grid25; do $PY -m gankit info --preset \$p; done"

# 2. The CUDA graph path (runtime.compile: graph, what auto takes on CUDA): it trains as eager does, resumes.
step graphtests 150 $PY -m pytest -q -s -rA -p no:cacheprovider --timeout 120 tests/training/test_graphed.py
# a broken capture must not take the other checks down with it: the CLI steps then run eagerly, and say so
C=""
if [[ ${RC[graphtests]:-0} != 0 ]]; then C="--set runtime.compile=false"; echo "=== graph tests failed: CLI steps eager"; fi

# 2b. gan-1d on CUDA failed every test_trainer case on the H200 (2026-12-04), cause not yet seen: its traceback.
step gan1d 60 $PY -m gankit --debug train --preset gan-1d --set train.steps=20 --no-progress --out $W/g1d

# 3. Conv speed: the classic loops against gankit eager / CUDA graph fp32 / bf16, and the full-MNIST epoch time.
step dcgan 200 $PY benchmarks/dcgan_speed.py --gpu --no-memory --no-write --iters 30 --repeats 3 --warmup 6

# 4. Exact resume on CUDA through the CLI: 120 steps straight against 60 + resume to 120 (grid25-fast, auto).
step resume 90 bash -c "S='--set train.steps=120 --set log.checkpoint_every=60 --no-progress'; \
  $PY -m gankit train --preset grid25-fast \$S $C --out $W/a && \
  $PY -m gankit train --preset grid25-fast \$S $C --set train.steps=60 --out $W/b && \
  $PY -m gankit train --resume $W/b --set train.steps=120 --no-progress && \
  $PY -c \"from gankit.store.checkpoint import load_checkpoint as L; \
a, b = L('$W/a/checkpoints/last.pt'), L('$W/b/checkpoints/last.pt'); \
print('steps', a['step'], b['step'], {k: max((a[k][n].float() - b[k][n].float()).abs().max().item() for n in a[k]) \
for k in ('generator', 'generator_ema', 'discriminator')})\""

# 5. mnist-fast for one minute on the GPU, as a user runs it (auto: the CUDA graph): the quality a minute buys.
step fast 150 $PY -m gankit train --preset mnist-fast --minutes 1 --no-progress $C --out $W/fast

# 6. The toy step on CUDA: the compiled step (refused on CUDA until this runs clean), inductor's CUDA graphs,
#    and the eager step as a CUDA graph (grid25-fast without its decay, which a graph cannot hold; lazy R1).
step toymodes 120 $PY benchmarks/gpu_toy_modes.py --iters 300 --repeats 3
step toygraph 90 $PY benchmarks/gpu_toy_modes.py --preset grid25-fast --set optim.g.decay=0 --set optim.d.decay=0 \
  --modes graph --iters 300 --repeats 3
# WGAN-GP's double backward inside the compiled step, one graph since d1a4ef5 (CPU: 1.31x eager): never run on CUDA
step gpstep 120 $PY benchmarks/gpu_toy_modes.py --preset wgan-gp-grid25 --modes step,graph --iters 200 --repeats 3

# 7. Ensembles on CUDA; the training tests with runtime.device auto (= cuda here).
step ensemble 100 $PY benchmarks/ensemble_speed.py --gpu --no-write --k 16 --iters 20 --repeats 3
step tests 150 $PY -m pytest -q -rf --tb=short -p no:cacheprovider --timeout 100 tests/training/test_trainer.py \
  tests/training/test_fastpath.py tests/models

# 8. A DCGAN run as a user runs it (auto), then torchrun with nccl (one rank: SyncBatchNorm, DDP).
step train 120 bash -c "$PY -m gankit train --preset dcgan-mnist-pytorch-gan --set train.epochs=15 --no-progress $C \
  --out $W/dcgan && cat $W/dcgan/metrics.json; \
  $PY -m torch.distributed.run --standalone --nproc_per_node 1 -m gankit train --preset dcgan-mnist-pytorch-gan --set train.epochs=2 \
  --no-progress --out $W/ddp"

rm -rf "$W"
