#!/usr/bin/env bash
# The main job on the shipped example: prune the digits MLP at 50/70/90% with magnitude,
# one-shot ECP and ECP in 10 steps, calibrated on 2,000 training digits and evaluated on
# the 2,000 held-out ones, and print the accuracy table.
set -euo pipefail
cd "$(dirname "$0")/.."
example=examples/digits-mlp
if [ ! -f "$example/data/digits-images.npy" ]; then
  node --import tsx "$example/digits.ts" "$example/data"
fi
node bin/prunelens.js compare "$example/digits_mlp.h5" \
  --data "$example/data/digits-images.npy" --labels "$example/data/digits-labels.npy" \
  --rows 0:2000 --eval-rows 8000:10000 \
  --methods magnitude,ecp:1,ecp:10 --sparsities 0.5,0.7,0.9 --quiet
