#!/usr/bin/env bash
# A first real job: PGD-train a small EnResNet on Fashion-MNIST (offline), then attack it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# A second run of this script continues (or just reloads) the first: train refuses a non-empty --out without --resume.
resume=()
[ -e runs/quickstart/last.safetensors ] && resume=(--resume)
enresnet train configs/quickstart.toml --out runs/quickstart "${resume[@]}"
enresnet evaluate runs/quickstart/best --attacks fgsm,ifgsm20 --eot 5 --repeats 3 --limit 100 \
  --sanity-limit 20 --out runs/quickstart/eval
