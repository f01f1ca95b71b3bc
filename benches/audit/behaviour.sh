#!/usr/bin/env bash
# The behaviour-log audit figures of docs/BENCHMARKS.md (section 12): MovieLens latest-small's
# 610 users split by user id modulo 10 (ids follow sign-up time, so a cut in id order would
# compare users of different years): 0-1 held out (122 users), 2 calibration (61), 3-9 the
# generator's (427). Records are what the behaviour GAN learns from: each
# user's training part (the history without its last two items, which leave-one-out keeps for
# validation and test), cut to its newest 20 items (the GAN's max_items).
# 1. calibration: the calibration users' records audited as if synthetic;
# 2. a healthy MLE generator (the 427 users, 5 epochs: the best held-out NLL of section 8) and
#    one made to memorise (the generator's first 100 users by id, 300 epochs), 2,000 synthetic
#    users each,
#    audited with the two --fail-on rules of the text audit.
# Usage, from the repository root: benches/audit/behaviour.sh OUT   (after cargo build --release)
set -euo pipefail
out=$1
socgan=target/release/socgan
ratings=../shared/data/ml-latest-small/ratings.csv
mkdir -p "$out"
rules=(--fail-on 'exact_copy_share>0.05' --fail-on 'dcr_closer_to_training_low>0.6')

# `uN item` lines, each user's interactions in time order (ties in file order).
tail -n +2 "$ratings" | sort -s -t, -k1,1n -k4,4n | awk -F, '{print "u"$1" "$2}' > "$out/all.txt"
# Users whose id modulo 10 is in [lo, hi] and id at most max.
users() { awk -v lo="$1" -v hi="$2" -v max="$3" '{id = substr($1, 2) + 0; r = id % 10} r >= lo && r <= hi && id <= max' "$4"; }
# The training part's newest 20 items of every user.
parts() { awk 'NR == FNR {n[$1]++; next} {c[$1]++; if (c[$1] <= n[$1] - 2 && c[$1] > n[$1] - 22) print}' "$1" "$1"; }
# The generator's first 100 users by id: ids up to 143 with remainders 3-9.
for set in train:3:9:610 train-100:3:9:143 calibration:2:2:610 holdout:0:1:610; do
    IFS=: read -r name lo hi max <<< "$set"
    users "$lo" "$hi" "$max" "$out/all.txt" > "$out/$name-full.txt"
    parts "$out/$name-full.txt" > "$out/$name.txt"
done

audit() { # NAME TRAIN SYNTHETIC [ARGS...]
    local name=$1 train=$2 synthetic=$3
    shift 3
    set +e
    "$socgan" audit --kind items --train "$train" --synthetic "$synthetic" --holdout "$out/holdout.txt" \
        --out "$out/audit-$name" "${rules[@]}" "$@" | tail -n 1 > "$out/audit-$name.json"
    echo "$name: exit code ${PIPESTATUS[0]}"
    set -e
}
audit calibration "$out/train.txt" "$out/calibration.txt"
for run in healthy memorising; do
    if [ $run = healthy ]; then full=$out/train-full.txt train=$out/train.txt e=5; else full=$out/train-100-full.txt train=$out/train-100.txt e=300; fi
    "$socgan" train --quiet --config configs/behaviour-gan/movielens-relgan.toml --out-dir "$out/$run" \
        --set 'algorithm={ kind = "mle" }' --set "data.path=\"$full\"" --set 'data.layout="sasrec"' \
        --set schedule.mle_epochs=$e --set schedule.mle_eval_every_epochs=$e > /dev/null
    "$socgan" generate --checkpoint "$out/$run" -n 2000 --seed 1 --output "$out/$run-synthetic.txt"
    audit "$run" "$train" "$out/$run-synthetic.txt" --checkpoint "$out/$run"
done
