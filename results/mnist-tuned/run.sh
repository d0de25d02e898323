#!/usr/bin/env bash
# Rank-order coded MNIST, strong configuration, under the comparison protocol (issue 13), every
# contender at its best trial of the equal-trial search in results/mnist-tune (8 trials each, on
# the validation split only): 3 epochs (batch 128, cosine schedule, last epoch) on the same
# 'normalized' spike frames shifted by up to 2 pixels, the convolutional front end (c = 32) for
# all but snn-ttfs (an override with its reason), three seeds.
#
# The cells run as separate resumable runs (one process per core, --threads 1), each into its
# own folder below this one, cheapest first, so an interrupted session keeps whole folders;
# REPORT.md reads them all (rcbench figures --results FOLDER...).
#
# Usage, from a clean checkout:
#   RCBENCH=rcbench DATA=../shared/data results/mnist-tuned/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
rcbench=${RCBENCH:-rcbench}
data=${DATA:-../shared/data}
out=${OUT:-results/mnist-tuned}
run() {  # run FOLDER CONTENDERS: one resumable run of three seeds into its own folder
    "$rcbench" run --profile results/mnist-tune/tuned.toml --tasks mnist-temporal --contenders "$2" \
        --seeds 0,1,2 --data-dir "$data" --threads 1 --workers "${WORKERS:-2}" --resume --out "$out/$1"
}
run spiking snn-conv,snn-ttfs
run rc rc-lstm
run full-sequence lstm-eos,lstm-allsteps
"$rcbench" figures --overwrite --results "$out"/*/ --tuning results/mnist-tune/trials.jsonl --out "$out" \
    --bounds results/bound/bound-normalized.json results/bound/bound-cnn-normalized.json
