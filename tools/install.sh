#!/usr/bin/env bash
# Sets up everything the workflow (and, with --test, its test suite) needs on a Debian machine:
# system tools from apt (samtools, bedtools; Slurm and munge for the cluster tests) and a Python
# virtual environment in .venv with the pinned packages. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

apt_packages=(samtools bedtools)
((want_test)) && apt_packages+=(slurmctld slurmd slurm-client munge)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
    echo "install: apt packages ${missing[*]}"
    sudo_cmd=()
    [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -q
    "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

requirements=requirements.txt
((want_test)) && requirements=requirements-dev.txt
stamp=".venv/.installed-$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)-$want_test"
if [[ ! -f "$stamp" ]]; then
    echo "install: Python packages from $requirements into .venv"
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -r "$requirements"
    .venv/bin/python -m pip install -q --no-deps -e .
    rm -f .venv/.installed-*
    touch "$stamp"
fi
