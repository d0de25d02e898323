#!/usr/bin/env bash
# Rank-order coded MNIST and Fashion-MNIST at paper scale (issue 3): full training and test sets,
# three seeds, the four contenders, in two configurations:
#   results/images-authors/  profile 'authors': the rank-coding authors' configuration
#   results/images-strong/   profile 'paper': the strong configuration (normalized encoding, conv encoder)
# then a REPORT.md and figures for each, and one REPORT.md and the figures of both in results/images/.
#
# Every run is resumable (--resume keeps finished cells), so it can be spread over several
# sittings; CONTENDERS limits a sitting to some contenders (default: all four).
# MNIST is read from MNIST_DATA/mnist, Fashion-MNIST from FMNIST_DATA/fashion-mnist (the Debian
# package dataset-fashion-mnist puts it under /usr/share/datasets).
#
# Usage, from a clean checkout (the records carry its git revision):
#   RCBENCH=rcbench MNIST_DATA=../shared/data FMNIST_DATA=/usr/share/datasets results/images/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
rcbench=${RCBENCH:-rcbench}
mnist_data=${MNIST_DATA:-../shared/data}
fmnist_data=${FMNIST_DATA:-/usr/share/datasets}
contenders=${CONTENDERS:-rc-lstm,lstm-eos,lstm-allsteps,snn-ttfs}
for profile in authors paper; do
    out=results/images-$([ "$profile" = authors ] && echo authors || echo strong)
    "$rcbench" run --profile "$profile" --tasks mnist-temporal --contenders "$contenders" \
        --data-dir "$mnist_data" --threads 1 --workers 1 --resume --out "$out"
    "$rcbench" run --profile "$profile" --tasks fmnist-temporal --contenders "$contenders" \
        --data-dir "$fmnist_data" --threads 1 --workers 1 --resume --out "$out"
done
"$rcbench" figures --results results/images-authors --bounds results/bound/bound-authors.json
"$rcbench" figures --results results/images-strong \
    --bounds results/bound/bound-normalized.json results/bound/bound-cnn-normalized.json
"$rcbench" figures --results results/images-authors results/images-strong --out results/images \
    --bounds results/bound/bound-authors.json results/bound/bound-normalized.json \
    results/bound/bound-cnn-normalized.json
