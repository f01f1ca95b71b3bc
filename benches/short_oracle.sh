#!/usr/bin/env bash
# A shortened oracle table with a given socgan binary, for checking that a refactor leaves the
# CPU's figures unchanged: run it with the binaries before and after, then compare the runs'
# metrics.jsonl (elapsed_s aside). Random oracle (seed 0), 2,000 training sequences, NLL_oracle
# of 500 samples; MLE 2 epochs, SeqGAN 2 rounds, RelGAN 4 steps, RelGAN with WGAN-GP 3 steps.
# Usage, from the repository root: benches/short_oracle.sh BINARY OUTDIR
set -euo pipefail
socgan=$1
out=$2
common=(--set 'data.oracle={ source = "random", seed = 0 }' --set data.num_train=2000
    --set data.num_test=500 --set data.eval_samples=500)
train() { "$socgan" train --quiet --config "configs/oracle-quick/$1.toml" --out-dir "$out/$2" "${common[@]}" "${@:3}" > /dev/null; }
train mle mle --set schedule.mle_epochs=2 --set schedule.mle_eval_every_epochs=2 \
    --set schedule.mle_checkpoint_every_epochs=2
from=(--set "init_from=\"$out/mle\"")
train seqgan seqgan "${from[@]}" --set schedule.discriminator_pretrain_steps=5 \
    --set schedule.adversarial_rounds=2 --set schedule.adversarial_eval_every=2 --set schedule.checkpoint_every=2
train relgan relgan "${from[@]}" --set schedule.adversarial_rounds=4 \
    --set schedule.adversarial_eval_every=4 --set schedule.checkpoint_every=4
train relgan wgan "${from[@]}" --set 'loss={ kind = "wgan_gp", lambda = 10.0 }' \
    --set schedule.adversarial_rounds=3 --set schedule.adversarial_eval_every=3 --set schedule.checkpoint_every=3
echo "runs in $out"
