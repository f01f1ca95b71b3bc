#!/usr/bin/env bash
# The audit figures of docs/BENCHMARKS.md (section 12), on ../shared/data, for COCO captions and
# TweetEval sentiment tweets alike. Each source file is split in file order into the
# generator's training records (80%), a calibration set (10%) and the held-out records (10%):
# 1. calibration: the calibration set (real records, never trained on) audited as if it were
#    synthetic: what a generator that copies nothing scores on this data;
# 2. a healthy MLE generator (the training records; COCO 10 epochs, tweets 2) and one made to
#    memorise (the first 500 training records, 300 epochs), 2,000 records each, audited against
#    their own training records and the held-out ones, with --checkpoint and two --fail-on rules;
# 3. the audit's time: 10,000 and 100,000 tweets from the healthy tweet generator against all
#    45,615 training tweets and the 12,284 test tweets.
# Usage, from the repository root: benches/audit/text.sh OUT   (after cargo build --release)
set -euo pipefail
out=$1
socgan=target/release/socgan
data=../shared/data
mkdir -p "$out"
rules=(--fail-on 'exact_copy_share>0.05' --fail-on 'dcr_closer_to_training_low>0.6')

audit() { # NAME TRAIN SYNTHETIC HOLDOUT [ARGS...]
    local name=$1 train=$2 synthetic=$3 holdout=$4
    shift 4
    set +e
    "$socgan" audit --train "$train" --synthetic "$synthetic" --holdout "$holdout" \
        --out "$out/audit-$name" "$@" | tail -n 1 > "$out/audit-$name.json"
    echo "$name: exit code ${PIPESTATUS[0]}"
    set -e
}

for set in coco tweets; do
    if [ $set = coco ]; then
        source=$data/image_coco/image_coco.txt config=configs/coco/mle.toml epochs=10
    else
        source=$data/tweeteval/sentiment/train_text.txt config=configs/tweeteval/mle.toml epochs=2
    fi
    n=$(wc -l < "$source")
    train_n=$((n * 8 / 10)) calib_n=$((n / 10))
    sed -n "1,${train_n}p" "$source" > "$out/$set-train.txt"
    sed -n "$((train_n + 1)),$((train_n + calib_n))p" "$source" > "$out/$set-calibration.txt"
    sed -n "$((train_n + calib_n + 1)),\$p" "$source" > "$out/$set-holdout.txt"
    sed -n '1,500p' "$out/$set-train.txt" > "$out/$set-train-500.txt"
    audit "$set-calibration" "$out/$set-train.txt" "$out/$set-calibration.txt" "$out/$set-holdout.txt" "${rules[@]}"
    for run in healthy memorising; do
        if [ $run = healthy ]; then train=$out/$set-train.txt e=$epochs; else train=$out/$set-train-500.txt e=300; fi
        "$socgan" train --quiet --config $config --out-dir "$out/$set-$run" \
            --set "data.train=\"$train\"" --set "data.test=\"$out/$set-holdout.txt\"" \
            --set schedule.mle_epochs=$e --set schedule.mle_eval_every_epochs=$e \
            --set schedule.mle_checkpoint_every_epochs=$e > /dev/null
        "$socgan" generate --checkpoint "$out/$set-$run" -n 2000 --seed 1 --output "$out/$set-$run.txt"
        audit "$set-$run" "$train" "$out/$set-$run.txt" "$out/$set-holdout.txt" \
            --checkpoint "$out/$set-$run" --drop-copies "$out/$set-$run-without-copies.txt" "${rules[@]}"
    done
done

"$socgan" generate --checkpoint "$out/tweets-healthy" -n 100000 --seed 2 --output "$out/tweets-100k.txt"
sed -n '1,10000p' "$out/tweets-100k.txt" > "$out/tweets-10k.txt"
for n in 10k 100k; do
    /usr/bin/time -f "tweets $n: %e s, %M KB peak" "$socgan" audit \
        --train "$data/tweeteval/sentiment/train_text.txt" --synthetic "$out/tweets-$n.txt" \
        --holdout "$data/tweeteval/sentiment/test_text.txt" --out "$out/audit-tweets-$n" \
        | tail -n 1 > "$out/audit-tweets-$n.json"
done
