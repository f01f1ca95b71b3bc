//! CPU and CUDA agree: each model crate's tiny run, trained with one seed on the CPU and on CUDA
//! device 0, logs the same numbers (losses, gradient norms, evaluation metrics) within a
//! tolerance for summation order. Every random draw comes from the host's seeded generator, so
//! the two runs see the same initial weights, batches and noise.
//!
//! They need a `--features cuda` build (`cargo xtask cuda-build` sets up the toolkit; then
//! `cargo test --features cuda` with the same environment) and a GPU; elsewhere each test says on
//! stderr that it was skipped, and why.

use std::path::{Path, PathBuf};

use gan_core::testing::logged_records;
use serde_json::Value;

use crate::behaviour_cli::{sasrec_log, TINY_SASREC};
use crate::classifier_cli::{tweeteval_folder, TINY_CNN};
use crate::cli::{write_config, write_mnist_json};
use crate::lifecycle::ring_config;
use crate::support::run::{socgan, stdout_json};

/// Relative and absolute tolerance of every logged number: CUDA's reductions sum in another
/// order than the CPU's, and a few steps of training carry that difference along.
const RELATIVE: f64 = 2e-3;
const ABSOLUTE: f64 = 1e-4;

/// `socgan train ARGS --device DEVICE --out-dir RUN`: the run folder, or socgan's error line when
/// this build or machine has no CUDA.
fn train_on(device: &str, run: &Path, args: &[String]) -> Result<PathBuf, String> {
    let mut full: Vec<&str> = args.iter().map(String::as_str).collect();
    let run_text = run.to_str().unwrap();
    full.extend(["--device", device, "--out-dir", run_text, "--quiet"]);
    let out = socgan(&full);
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success()
        && (err.contains("built without CUDA") || err.contains("no usable CUDA device"))
    {
        return Err(err.trim().to_string());
    }
    stdout_json(&out);
    Ok(run.to_path_buf())
}

/// Trains the run `args_for(device folder)` describes on CUDA, then on the CPU, and asserts their
/// logs agree; says it skipped when there is no CUDA. Returns the two device folders.
fn cpu_and_cuda_agree(
    what: &str,
    dir: &Path,
    name: &str,
    args_for: impl Fn(&Path) -> Vec<String>,
) -> Option<(PathBuf, PathBuf)> {
    let (cuda_dir, cpu_dir) = (dir.join("cuda"), dir.join("cpu"));
    let cuda_run = match train_on("cuda:0", &cuda_dir.join(name), &args_for(&cuda_dir)) {
        Ok(run) => run,
        Err(reason) => {
            eprintln!("skipped: {what}: CPU/CUDA agreement needs a --features cuda build and a GPU ({reason})");
            return None;
        }
    };
    let cpu_run =
        train_on("cpu", &cpu_dir.join(name), &args_for(&cpu_dir)).expect("the CPU is always there");
    let (cpu, cuda) = (logged_records(&cpu_run), logged_records(&cuda_run));
    assert_eq!(cpu.len(), cuda.len(), "{what}: records differ in number");
    for (i, (a, b)) in cpu.iter().zip(&cuda).enumerate() {
        assert_agree(what, &format!("record {i}"), a, b);
    }
    eprintln!("{what}: {} records agree on CPU and CUDA", cpu.len());
    Some((cpu_dir, cuda_dir))
}

fn assert_agree(what: &str, at: &str, cpu: &Value, cuda: &Value) {
    match (cpu, cuda) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(
                (a - b).abs() <= ABSOLUTE + RELATIVE * a.abs(),
                "{what}: {at}: CPU {a} against CUDA {b}"
            );
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "{what}: {at}"
            );
            for (key, value) in a {
                assert_agree(what, &format!("{at}.{key}"), value, &b[key]);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_agree(what, &format!("{at}[{i}]"), x, y);
            }
        }
        _ => assert_eq!(cpu, cuda, "{what}: {at}"),
    }
}

fn config_args(config: &Path, sets: &[String]) -> Vec<String> {
    let mut args = vec![
        "train".into(),
        "--config".into(),
        config.display().to_string(),
    ];
    for s in sets {
        args.extend(["--set".into(), s.clone()]);
    }
    args
}

/// text-models: MLE pretraining, then SeqGAN and RelGAN from each device's own MLE generator,
/// on the tiny random oracle (NLL_oracle, BLEU and the adversarial losses all compared).
#[test]
fn text_models_agree_on_cpu_and_cuda() {
    let dir = tempfile::tempdir().unwrap();
    let mle = write_config(
        dir.path(),
        "mle",
        "algorithm = { kind = \"mle\" }",
        "mle_epochs = 3\nmle_eval_every_epochs = 3",
    );
    let Some(_) = cpu_and_cuda_agree("text-models (MLE)", dir.path(), "mle", |_| {
        config_args(&mle, &[])
    }) else {
        return;
    };
    for (name, algorithm, schedule) in [
        (
            "seqgan",
            "{ kind = \"seqgan\", rollouts = 2 }",
            "discriminator_pretrain_steps = 2\nadversarial_rounds = 2\ndiscriminator_steps_per_round = 1",
        ),
        (
            "relgan",
            "{ kind = \"relgan\", beta_max = 10.0, straight_through = false }",
            "adversarial_rounds = 3\ndiscriminator_steps_per_round = 2\nlog_every = 1",
        ),
    ] {
        let config_for = |device_dir: &Path| {
            let init = format!("init_from = {:?}", device_dir.join("mle").display().to_string());
            let config = write_config(
                device_dir,
                &format!("{name}-config"),
                &format!("algorithm = {algorithm}\n{init}"),
                schedule,
            );
            config_args(&config, &[])
        };
        cpu_and_cuda_agree(&format!("text-models ({name})"), dir.path(), name, config_for);
    }
}

/// image-models: the 32x32 DCGAN and the MLP GAN, a few steps each, with the classifier-FID
/// evaluation (its classifier trained on each device).
#[test]
fn image_models_agree_on_cpu_and_cuda() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mnist");
    write_mnist_json(&data, 6);
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/mnist");
    for model in ["dcgan32", "mlp"] {
        let config = configs.join(format!("{model}.toml"));
        let args_for = |device_dir: &Path| {
            let sets = [
                format!("data.path={:?}", data.display().to_string()),
                format!(
                    "evaluation.classifier={:?}",
                    device_dir.join("classifier").display().to_string()
                ),
                "model.width=4".into(),
                "batch_size=16".into(),
                "schedule.steps=3".into(),
                "schedule.eval_every=3".into(),
                "schedule.checkpoint_every=3".into(),
                "evaluation.samples=20".into(),
                "evaluation.grid=4".into(),
                "evaluation.classifier_epochs=1".into(),
            ];
            config_args(&config, &sets)
        };
        let what = format!("image-models ({model})");
        if cpu_and_cuda_agree(&what, dir.path(), model, args_for).is_none() {
            return;
        }
    }
}

/// text-classifier: the semi-supervised GAN classifier (K+1 discriminator) on a word CNN, two
/// epochs with a tenth of the labels, then on a fine-tuned BERT (tiny, random weights).
#[test]
fn text_classifier_agrees_on_cpu_and_cuda() {
    let dir = tempfile::tempdir().unwrap();
    let data = tweeteval_folder(dir.path());
    let mut args: Vec<String> = [
        "train",
        "--task",
        "text-classifier",
        "--dataset",
        data.to_str().unwrap(),
        "--labelled-fraction",
        "0.1",
        "--epochs",
        "2",
    ]
    .map(String::from)
    .to_vec();
    for s in TINY_CNN {
        args.extend(["--set".into(), s.into()]);
    }
    if cpu_and_cuda_agree("text-classifier (CNN)", dir.path(), "gan-cnn", |_| {
        args.clone()
    })
    .is_none()
    {
        return;
    }
    let bert = dir.path().join("bert");
    std::fs::create_dir_all(&bert).unwrap();
    text_classifier::encoder::minilm::testing::tiny_bert(&bert);
    let fine_tuned: Vec<String> = [
        "train",
        "--task",
        "text-classifier",
        "--dataset",
        data.to_str().unwrap(),
        "--encoder",
        "minilm-finetuned",
        "--encoder-model",
        bert.to_str().unwrap(),
        "--labelled-fraction",
        "0.5",
        "--epochs",
        "1",
        "--set",
        "schedule.min_steps=0",
        "--set",
        "gan.hidden_dim=16",
    ]
    .map(String::from)
    .to_vec();
    cpu_and_cuda_agree(
        "text-classifier (fine-tuned BERT)",
        dir.path(),
        "gan-bert",
        |_| fine_tuned.clone(),
    );
}

/// behaviour: SASRec and GRU4Rec next-item training with full-ranking evaluation, and the
/// behaviour GAN (MLE then RelGAN on histories) with its copy audit.
#[test]
fn behaviour_agrees_on_cpu_and_cuda() {
    let dir = tempfile::tempdir().unwrap();
    let log = sasrec_log(dir.path());
    let next_item = |model: &str| -> Vec<String> {
        [
            "train",
            "--task",
            "behaviour",
            "--dataset",
            log.to_str().unwrap(),
            "--set",
            "training.epochs=4",
            "--set",
            "training.eval_every_epochs=2",
            "--set",
            model,
        ]
        .map(String::from)
        .to_vec()
    };
    let sasrec = next_item(TINY_SASREC);
    if cpu_and_cuda_agree("behaviour (SASRec)", dir.path(), "sasrec", |_| {
        sasrec.clone()
    })
    .is_none()
    {
        return;
    }
    let gru4rec = next_item(
        "model={ kind = \"gru4rec\", embedding = 8, hidden = 16, max_length = 8, dropout = 0.1 }",
    );
    cpu_and_cuda_agree("behaviour (GRU4Rec)", dir.path(), "gru4rec", |_| {
        gru4rec.clone()
    });
    let config =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/behaviour-gan/games-relgan.toml");
    let sets = [
        format!("data.path={:?}", log.to_str().unwrap()),
        "max_items=8".into(),
        "samples=50".into(),
        "batch_size=16".into(),
        "discriminator={ embed_dim = 8, filter_sizes = [2, 3], num_filters = [4, 4], num_rep = 4 }"
            .into(),
        "schedule.mle_epochs=2".into(),
        "schedule.mle_eval_every_epochs=2".into(),
        "schedule.adversarial_rounds=2".into(),
        "schedule.adversarial_eval_every=2".into(),
    ];
    cpu_and_cuda_agree("behaviour (GAN)", dir.path(), "gan", |_| {
        config_args(&config, &sets)
    });
}

/// ring-gan: the mode-coverage GAN, a few rounds with its evaluation.
#[test]
fn ring_gan_agrees_on_cpu_and_cuda() {
    let dir = tempfile::tempdir().unwrap();
    let config = ring_config(dir.path(), 20);
    cpu_and_cuda_agree("ring-gan", dir.path(), "ring", |_| {
        config_args(&config, &["schedule.eval_every=10".into()])
    });
}
