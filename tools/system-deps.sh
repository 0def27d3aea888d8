#!/usr/bin/env bash
# The Debian packages that some tests and benchmarks need: headless Chromium (demo and report checks) and wrk (bench/serve.py).
# Installs only what is missing; a fresh CI machine gets both.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v wrk >/dev/null || need+=(wrk)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
