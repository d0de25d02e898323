#!/usr/bin/env bash
# What makes RC training decide early on rank-coded MNIST (issue 3): rc-lstm in the authors'
# configuration (125 units, 'authors' encoding, sigmoid > 0.95), 3 epochs, one seed, changing one
# thing at a time from the base recipe (profile-base.toml: lr 0.002 with a cosine schedule, batch
# 128, beta 0, 0.1 and 1). Each profile runs into its own folder (resumable with --resume); then
# `rcbench figures` draws them together (learning-to-decide: the validation decision step after
# every epoch) and writes REPORT.md.
#
# Usage, from a clean checkout (the records carry its git revision), with MNIST in DATA:
#   RCBENCH=rcbench DATA=../shared/data results/mnist-decide-early/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
rcbench=${RCBENCH:-rcbench}
data=${DATA:-../shared/data}
dir=results/mnist-decide-early
outs=()
for profile in base lr0005 constant-lr0001 batch32 hidden256; do
    "$rcbench" run --profile "$dir/profile-$profile.toml" --contenders rc-lstm --data-dir "$data" \
        --threads 1 --workers 1 --resume --out "$dir/$profile"
    outs+=("$dir/$profile")
done
"$rcbench" figures --results "${outs[@]}" --out "$dir"
