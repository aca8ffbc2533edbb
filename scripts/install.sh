#!/usr/bin/env bash
# Install enresnet and everything its tests and evaluations need, on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! [ -d /usr/share/datasets/fashion-mnist ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

python3 -m pip install -q --upgrade pip
# torch first and pinned, so that no multi-GB CUDA build is pulled in by a looser requirement.
# Which build `pip install torch==2.13.0` gets depends on the pip index: this project's machines
# (and CI) have an index that serves the CPU wheel; PyPI's Linux wheel pulls the CUDA packages
# (several GB). ENRESNET_CPU_TORCH=1 takes the CPU build from PyTorch's own index instead.
if [ "${ENRESNET_CPU_TORCH:-0}" = 1 ]; then
  python3 -m pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
else
  python3 -m pip install -q torch==2.13.0
fi
python3 -m pip install -q -e '.[test]'
# torchattacks declares torchvision, which it does not need for its attacks: no dependencies.
python3 -m pip install -q --no-deps torchattacks==3.5.1
