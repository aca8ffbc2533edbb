#!/usr/bin/env bash
# The seed study at the size of a GPU machine (`reproduce fmnist --scale seeds-gpu`: the `seeds` design on all
# 60k training images, En5ResNet20 added, the default attacks on the first 500 test images for every seed),
# one seed per call of the project's device machine. Run in the repository root THERE; the CPU study does not
# wait for it.
#
#   here, once:   mkdir -p .device-data && cp /usr/share/datasets/fashion-mnist/*.gz .device-data/
#   device call:  run(command="SEED=0 bash docs/runs/fmnist-seeds/device.sh", carry=[".device-data"], timeout_s=600)
#   back here:    mkdir -p docs/runs/fmnist-seeds-gpu && tar xzf FILES_AT/seed-0.tar.gz -C docs/runs/fmnist-seeds-gpu
#                 enresnet reproduce fmnist --scale seeds-gpu --analyse --out docs/runs/fmnist-seeds-gpu
#
# The study stops itself after LIMIT seconds (default 540, inside the device's 10-minute call) and packs what it
# has into $OUT/seed-S.tar.gz either way: a finished seed's per-image tables (whitebox.json), its claims and
# timing, every run's metrics and config, and the log. Its checkpoints stay in .device-out/ (ignored): while the
# machine is still warm a second call resumes the seed where it stopped; a fresh machine starts it again.
# Everything but the device (SCALE, DEVICE, DATA, OUT, LIMIT) can be changed to try the script on a CPU:
#   SEED=0 SCALE=tiny DEVICE=cpu DATA= OUT=/tmp/out bash docs/runs/fmnist-seeds/device.sh   (DATA empty: synthetic)
set -u
seed=${SEED:?set SEED, the one seed this call runs}
scale=${SCALE:-seeds-gpu}
device=${DEVICE:-cuda}
data=${DATA-.device-data}
data_args=()
[ -n "$data" ] && data_args=(--data-dir "$data")
out=${OUT:?no \$OUT: run this through the device machine, or set OUT to a folder}
limit=${LIMIT:-540}
study=.device-out/$scale
mkdir -p "$study" "$out"
log=$out/seed-$seed.log
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
{
  date -u +%FT%TZ
  python3 -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name(0)
              if torch.cuda.is_available() else 'no CUDA device')"
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null
} > "$log" 2>&1
[ -z "$data" ] || [ -f "$data/train-images-idx3-ubyte.gz" ] || {
  echo "error: no Fashion-MNIST in $data: copy the four .gz files there first (see this script's header)" | tee -a "$log"
  exit 2
}
start=$SECONDS
timeout --signal=TERM --kill-after=20 "$limit" python3 -m enresnet reproduce fmnist --scale "$scale" \
  --seeds "$seed" --out "$study" "${data_args[@]}" --device "$device" --quiet >> "$log" 2>&1
status=$?
echo "exit status $status after $((SECONDS - start)) s (124: stopped at LIMIT=$limit s; rerun to resume)" >> "$log"
files=()
for f in whitebox.json whitebox.md claims.json claims.md timing.json results.md; do
  [ -f "$study/seed-$seed/$f" ] && files+=("seed-$seed/$f")
done
for run in "$study/seed-$seed"/runs/*/; do
  [ -d "$run" ] || continue
  key=seed-$seed/runs/$(basename "$run")
  for f in metrics.jsonl config.json; do [ -f "$study/$key/$f" ] && files+=("$key/$f"); done
done
cp "$log" "$study/seed-$seed.log" && files+=("seed-$seed.log")
tar czf "$out/seed-$seed.tar.gz" -C "$study" "${files[@]}"
echo "packed ${#files[@]} files into $out/seed-$seed.tar.gz" | tee -a "$log"
exit "$status"
