#!/usr/bin/env bash
# Rank-order coded Fashion-MNIST, strong configuration, under the comparison protocol (issue 13),
# the twin of results/mnist-protocol: every contender trains 3 epochs (batch 128, cosine schedule,
# last epoch) on the same 'normalized' spike frames shifted by up to 2 pixels; the LSTMs and
# snn-conv read each frame through a convolutional front end (c = 32); snn-ttfs has none (an
# override with its reason). The settings are MNIST's, as the paper profile says.
#
# The cells run as separate resumable runs (one process per core, --threads 1), each from a clean
# worktree, each into its own folder below this one; REPORT.md reads them all. The data are the
# Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist puts them in
# /usr/share/datasets/fashion-mnist), hence DATA=/usr/share/datasets.
#
# Usage, from a clean checkout:
#   RCBENCH=rcbench DATA=/usr/share/datasets results/fmnist-protocol/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
rcbench=${RCBENCH:-rcbench}
data=${DATA:-/usr/share/datasets}
out=results/fmnist-protocol
run() {  # run FOLDER CONTENDERS SEEDS: one resumable run into its own folder
    "$rcbench" run --profile paper --tasks fmnist-temporal --contenders "$2" --seeds "$3" \
        --data-dir "$data" --threads 1 --workers 1 --resume --out "$out/$1"
}
run rc-snn rc-lstm,snn-ttfs 0,1,2
run snn-conv snn-conv 0,1,2
run full-seq-s0 lstm-eos,lstm-allsteps 0
run full-seq-s1 lstm-eos,lstm-allsteps 1
run full-seq-s2 lstm-eos,lstm-allsteps 2
"$rcbench" figures --overwrite --results "$out"/*/ --out "$out"
