#!/usr/bin/env bash
# Install enresnet and everything its tests and evaluations need, on a fresh Debian machine.
#
# Into the active virtual environment (VIRTUAL_ENV set), else into the project's own, .venv in the
# checkout (created here with `python3 -m venv`): two checkouts, or the system's Python, never share
# an installed enresnet. Use it afterwards with `source .venv/bin/activate` (or .venv/bin/enresnet).
# apt-get waits up to 10 minutes for another package manager's lock instead of failing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}

if ! [ -d /usr/share/datasets/fashion-mnist ]; then
  apt_install dataset-fashion-mnist
fi

if [ -z "${VIRTUAL_ENV:-}" ]; then
  if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    rm -rf .venv
    # Debian's python3 has venv without pip until python3-venv is installed.
    python3 -m venv .venv 2>/dev/null || { rm -rf .venv; apt_install python3-venv; python3 -m venv .venv; }
  fi
  # shellcheck disable=SC1091
  source .venv/bin/activate
fi
echo "installing into $VIRTUAL_ENV"

python -m pip install -q --upgrade pip
# torch first and pinned, so that no multi-GB CUDA build is pulled in by a looser requirement.
# Which build `pip install torch==2.13.0` gets depends on the pip index: this project's machines
# (and CI) have an index that serves the CPU wheel; PyPI's Linux wheel pulls the CUDA packages
# (several GB). ENRESNET_CPU_TORCH=1 takes the CPU build from PyTorch's own index instead.
if [ "${ENRESNET_CPU_TORCH:-0}" = 1 ]; then
  python -m pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
else
  python -m pip install -q torch==2.13.0
fi
python -m pip install -q -e '.[test]'
# torchattacks declares torchvision, which it does not need for its attacks: no dependencies.
python -m pip install -q --no-deps torchattacks==3.5.1
