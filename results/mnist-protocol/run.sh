#!/usr/bin/env bash
# Rank-order coded MNIST, strong configuration, under the comparison protocol (issue 13):
# every contender trains 3 epochs (batch 128, cosine schedule, last epoch) on the same
# 'normalized' spike frames shifted by up to 2 pixels; the LSTMs and snn-conv read each frame
# through a convolutional front end (c = 32); snn-ttfs has none (an override with its reason).
# Learning-curve snapshots give the equal-training-compute view in REPORT.md.
#
# The cells ran as separate resumable runs (one process per core, --threads 1), each from a
# clean worktree of the revision its records name, each into its own folder below this one
# (copied here as written); REPORT.md reads them all (rcbench figures --results FOLDER...).
#
# Usage, from a clean checkout:
#   RCBENCH=rcbench DATA=../shared/data results/mnist-protocol/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
rcbench=${RCBENCH:-rcbench}
data=${DATA:-../shared/data}
out=results/mnist-protocol
run() {  # run FOLDER CONTENDERS SEEDS: one resumable run into its own folder
    "$rcbench" run --profile paper --tasks mnist-temporal --contenders "$2" --seeds "$3" \
        --data-dir "$data" --threads 1 --workers 1 --resume --out "$out/$1"
}
run full-seq-s0 lstm-eos,lstm-allsteps 0
run rc-snn rc-lstm,snn-ttfs 0,1,2
run eos-s1 lstm-eos 1
run allsteps-s1 lstm-allsteps 1
run eos-s2 lstm-eos 2
run allsteps-s2 lstm-allsteps 2
run snn-conv snn-conv 0,1,2
"$rcbench" figures --overwrite --results "$out"/*/ --out "$out" \
    --bounds results/bound/bound-normalized.json results/bound/bound-cnn-normalized.json
