#!/usr/bin/env bash
# A first real job: PGD-train a small EnResNet on Fashion-MNIST (offline), attack it, and draw
# clean and adversarial test images with the model's predictions (runs/quickstart/examples.png).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# shellcheck disable=SC1091
[ -n "${VIRTUAL_ENV:-}" ] || source .venv/bin/activate  # the environment install.sh installed into

# The expected time, before any work: measured on 2 free cores of the dev machine (issue 21), with and
# without bf16 instructions (AVX512-BF16/AMX; without them training and attacks run in fp32), scaled
# by the threads the commands will get (fewer when other processes keep cores busy: enresnet.threads).
python3 - <<'PY'
import torch

from enresnet.device import native_bf16
from enresnet.threads import thread_count

SECONDS_ON_2_CORES = {True: 110, False: 130}  # train + evaluate + picture, with / without bf16 (measured)
threads, note = thread_count()
bf16 = native_bf16(torch.device("cpu"))
seconds = SECONDS_ON_2_CORES[bf16] * 2 / min(threads, 2)
kind = "with bf16 instructions" if bf16 else "without bf16 instructions (fp32)"
print(f"quickstart: about {seconds / 60:.0f} minutes on this CPU ({kind}, {threads} thread{'s' * (threads > 1)})"
      + ("; less on the GPU" if torch.cuda.is_available() else ""))
if note:
    print(f"  {note}")
PY

# A second run of this script continues (or just reloads) the first: train refuses a non-empty --out without --resume.
resume=()
[ -e runs/quickstart/last.safetensors ] && resume=(--resume)
enresnet train configs/quickstart.toml --out runs/quickstart "${resume[@]}"
enresnet evaluate runs/quickstart/best --attacks fgsm,ifgsm20 --eot 5 --repeats 3 --limit 100 \
  --sanity-limit 20 --out runs/quickstart/eval
enresnet plot examples runs/quickstart/best --count 4 --out runs/quickstart/examples.png
echo "see runs/quickstart/eval/whitebox.md (the table) and runs/quickstart/examples.png (the picture)"
