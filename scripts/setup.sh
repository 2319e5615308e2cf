#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine with Node 20 and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
apt_packages=(python3-numpy python3-h5py python3-torch python3-onnx chromium fonts-liberation libkrb5-dev)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
elif [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: not root, so these Debian packages are not installed: ${missing[*]} (tests that need them are skipped)" >&2
fi
# onnxruntime-node's postinstall otherwise downloads GPU files from a host CI cannot reach.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
npm run build
