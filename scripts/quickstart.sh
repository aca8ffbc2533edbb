#!/usr/bin/env bash
# A first real job: PGD-train a small EnResNet on Fashion-MNIST (offline), then attack it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
enresnet train configs/quickstart.toml --out runs/quickstart
enresnet evaluate runs/quickstart/best --attacks fgsm,ifgsm20 --eot 5 --repeats 3 --limit 100 \
  --sanity-limit 20 --out runs/quickstart/eval
