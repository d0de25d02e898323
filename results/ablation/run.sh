#!/usr/bin/env bash
# The ablation on rank-coded MNIST (issue 14, item 3): rc-lstm from the authors' notebook recipe
# (ablation-00-faithful, the rc-lstm of the profile authors-faithful) to the paper profile's strong
# configuration (ablation-11-augmentation), one change per step. The twelve step profiles are in
# bench/run/profiles/ablation/; each extends the one before it and says what it changes and why
# (docs/authors-recipe.md, "From the faithful recipe to the strong configuration").
#
# Every step's records go into one folder, results/ablation/results.jsonl (resumable: --resume
# skips the cells already there), and `rcbench figures` then writes REPORT.md with the ablation
# table first ("Ablation: mnist-temporal": accuracy at the decision, mean decision step,
# first-step accuracy, training seconds and MACs per step) and figures/mnist-temporal-ablation.png.
#
# Cost, one torch thread: step 0 trains 30 epochs on full 20-step sequences (its decision rule
# reads the whole pass), about 40 CPU-minutes per seed; steps 1-11 train 3 epochs each, about
# 1 to 4 CPU-minutes per seed (the convolutional steps 10 and 11 and the full-pass steps 1-3
# the dearest). Three seeds (the profiles' seeds): about 3 to 3.5 CPU-hours in all, two of them
# step 0's. SEEDS=0 runs one seed (about 1.1 CPU-hours); a later run without it adds the others.
#
# The committed records were made this way from a clean checkout of revision 93023ba, split in four
# folders so that two runs could share the two cores: seed0/ (every step, seed 0), step0-seeds1-2/
# (step 0, seeds 1 and 2), seed1/ and seed2/ (steps 1-11); REPORT.md combines them
# (rcbench figures --results seed0 step0-seeds1-2 seed1 seed2 --out .).
#
# Usage, from a clean checkout (the records carry its git revision), with MNIST in DATA:
#   RCBENCH=rcbench DATA=../shared/data results/ablation/run.sh
#   SEEDS=0 results/ablation/run.sh          # one seed
set -euo pipefail
cd "$(dirname "$0")/../.."
rcbench=${RCBENCH:-rcbench}
data=${DATA:-${RCBENCH_DATA_DIR:-../shared/data}}
seeds=(${SEEDS:+--seeds "$SEEDS"})
out=results/ablation
for step in 00-faithful 01-epochs 02-optimiser 03-loss 04-decision-index 05-threshold 06-background \
            07-normalized 08-schedule-selection 09-width 10-conv 11-augmentation; do
    "$rcbench" run --profile "bench/run/profiles/ablation/ablation-$step.toml" --tasks mnist-temporal \
        --contenders rc-lstm "${seeds[@]}" --data-dir "$data" --threads 1 --workers 1 --resume --out "$out"
done
"$rcbench" figures --results "$out" --overwrite
