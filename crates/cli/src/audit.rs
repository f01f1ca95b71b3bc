//! `socgan audit`: whether a synthetic set copies the real records it was made from, for any
//! files (not only socgan's): posts, or interaction logs (one record per user). The measures are
//! `socgan_audit`'s; here the files are read into one vocabulary, and the report, chart and the
//! synthetic set without its copies are written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use gan_core::DeviceChoice;
use socgan_audit::chart::write_distance_chart;
use socgan_audit::words::words;
use socgan_audit::{audit, AuditOptions, FailRule, RecordKind, Records};
use socgan_data::interactions::{read_log, InteractionLog, KCore, LogColumns, LogFormat};
use socgan_data::posts::{Normalizer, PostFormat, PostReader, ReadOptions};

use crate::experiments::Registry;
use crate::model_scores::{model_measures, zero_shot_measures, Scorer};

/// The exit code of an audit whose `--fail-on` rules were broken (errors exit 1).
pub const BROKEN_RULES: u8 = 3;

#[derive(Args)]
pub struct AuditArgs {
    /// The real records the generator learnt from.
    #[arg(long)]
    train: PathBuf,
    /// The synthetic records to audit.
    #[arg(long)]
    synthetic: PathBuf,
    /// Real records the generator never saw (at least 30), as many as can be had.
    #[arg(long)]
    holdout: PathBuf,
    /// text: posts (one per line, or .csv/.tsv/.jsonl/.parquet with --text-field), compared
    /// word by word (punctuation apart from words); items: interaction logs (`user item` lines, or tabular with
    /// --user-column/--item-column), one record per user, in time order.
    #[arg(long, value_enum, default_value = "text")]
    kind: KindArg,
    /// Column (CSV/TSV, Parquet) or field (JSONL) holding the text.
    #[arg(long, default_value = "text")]
    text_field: String,
    /// Lowercase posts before comparing (mentions, URLs and whitespace are always normalised
    /// as TweetEval does).
    #[arg(long)]
    lowercase: bool,
    /// User column or field of a tabular log.
    #[arg(long)]
    user_column: Option<String>,
    /// Item column or field of a tabular log.
    #[arg(long)]
    item_column: Option<String>,
    /// Jaccard similarity of 1-2-gram sets from which a record is a near duplicate.
    #[arg(long, default_value_t = 0.8)]
    near_threshold: f64,
    /// Synthetic posts (drawn) scored for BLEU and Self-BLEU.
    #[arg(long, default_value_t = 1000)]
    bleu_samples: usize,
    /// Seeds the draws (the DCR's training sample, the BLEU hypotheses).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder for audit.json, audit.md and dcr.svg (created if missing; only these files are
    /// replaced).
    #[arg(long)]
    out: PathBuf,
    /// A rule the synthetic set must keep, `KEY>VALUE` (fail when above) or `KEY<VALUE`;
    /// repeatable. A broken rule exits with code 3 (errors exit 1). Keys are the names in
    /// audit.json's `measures`, e.g. `exact_copy_share>0.01`, `dcr_closer_to_training>0.6`.
    #[arg(long = "fail-on", value_name = "RULE")]
    fail_on: Vec<String>,
    /// Also write the synthetic records without their exact copies and near duplicates to this
    /// file (posts one per line; items as `user item` lines).
    #[arg(long)]
    drop_copies: Option<PathBuf>,
    /// Replace invalid UTF-8 instead of failing.
    #[arg(long)]
    lossy: bool,
    /// The generator's checkpoint (a run folder or a checkpoint folder; a text GAN for posts, a
    /// behaviour GAN for histories): adds membership inference from its per-record likelihood
    /// (training against held-out records, up to --membership-records each) and, for a run
    /// trained with canaries, their exposure.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    #[arg(long, default_value_t = 5000)]
    membership_records: usize,
    /// A language model's checkpoint (a text GAN run; the generator's own, or another): adds a
    /// zero-shot detector, which needs no labels of machine text: how well the synthetic
    /// records' likelihood under it, and the share of their tokens among its top 10
    /// predictions (GLTR), tell them from held-out records (AUC; up to --membership-records each).
    #[arg(long, value_name = "CHECKPOINT")]
    zero_shot: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Text,
    Items,
}

/// One file's records: token ids in the audit's vocabulary, and how to write each back.
struct Read {
    records: Vec<Vec<u32>>,
    /// The post as read (text), or the user's name (items).
    originals: Vec<String>,
    /// What a model scores: the post as read, or the user's items (as in the file) joined by
    /// spaces.
    scored: Vec<String>,
}

/// Ids from 1 for every word or item of the three files.
#[derive(Default)]
struct Vocabulary {
    ids: HashMap<String, u32>,
    /// The item names of ids (items only), for writing logs back.
    names: Vec<String>,
}

impl Vocabulary {
    fn id(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        self.names.push(token.to_string());
        let id = self.names.len() as u32;
        self.ids.insert(token.to_string(), id);
        id
    }
}

pub fn run(registry: &Registry, args: AuditArgs, device: DeviceChoice) -> Result<ExitCode> {
    let rules = args
        .fail_on
        .iter()
        .map(|r| {
            r.parse::<FailRule>()
                .map_err(|e| anyhow::anyhow!("--fail-on {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut vocabulary = Vocabulary::default();
    let mut read = |path: &Path| match args.kind {
        KindArg::Text => read_posts(path, &args, &mut vocabulary),
        KindArg::Items => read_histories(path, &args, &mut vocabulary),
    };
    let (training, synthetic, holdout) = (
        read(&args.train)?,
        read(&args.synthetic)?,
        read(&args.holdout)?,
    );
    let records = Records {
        kind: match args.kind {
            KindArg::Text => RecordKind::Text,
            KindArg::Items => RecordKind::Items,
        },
        training: training.records,
        synthetic: synthetic.records,
        holdout: holdout.records,
        vocab_size: vocabulary.names.len(),
    };
    let options = AuditOptions {
        near_threshold: args.near_threshold,
        bleu_samples: args.bleu_samples,
        seed: args.seed,
    };
    let started = std::time::Instant::now();
    let mut result = audit(&records, &options)?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &args.checkpoint {
        let scorer = Scorer::open(registry, path, device)?;
        result.report.measures.extend(model_measures(
            &scorer,
            &training.scored,
            &holdout.scored,
            args.membership_records,
            args.seed,
        )?);
    }
    if let Some(path) = &args.zero_shot {
        let scorer = Scorer::open(registry, path, device)?;
        result.report.measures.extend(zero_shot_measures(
            &scorer,
            &synthetic.scored,
            &holdout.scored,
            args.membership_records,
            args.seed,
        )?);
    }
    // Unknown measures in the rules are an error before anything is written.
    let broken = result.report.broken(&rules)?;
    write_outputs(&args, &result, seconds)?;
    if let Some(path) = &args.drop_copies {
        let kept = drop_copies(
            &args,
            &synthetic.originals,
            &records.synthetic,
            &result.copies,
            &vocabulary,
        );
        socgan_io::write_atomic(path, kept.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    print!("{}", result.report.text());
    if let Some(path) = &args.drop_copies {
        let dropped = result.copies.iter().filter(|&&c| c).count();
        println!(
            "- dropped {dropped} copies: {} synthetic records kept in {}",
            result.copies.len() - dropped,
            path.display()
        );
    }
    println!("{}", serde_json::to_string(&result.report)?);
    if broken.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("audit failed: {}", broken.join("; "));
    Ok(ExitCode::from(BROKEN_RULES))
}

fn read_posts(path: &Path, args: &AuditArgs, vocabulary: &mut Vocabulary) -> Result<Read> {
    let format = PostFormat::for_path(path, &args.text_field, None);
    let reader = PostReader::open(path, &format, ReadOptions { lossy: args.lossy })?;
    let normalizer = Normalizer {
        lowercase: args.lowercase,
        ..Normalizer::default()
    };
    let mut out = Read {
        records: Vec::new(),
        originals: Vec::new(),
        scored: Vec::new(),
    };
    for post in reader {
        let post = post?;
        let text = normalizer.apply(&post.text);
        out.records
            .push(words(&text).into_iter().map(|w| vocabulary.id(w)).collect());
        out.scored.push(post.text.clone());
        out.originals.push(post.text);
    }
    Ok(out)
}

fn read_histories(path: &Path, args: &AuditArgs, vocabulary: &mut Vocabulary) -> Result<Read> {
    let columns = match (&args.user_column, &args.item_column) {
        (Some(user), Some(item)) => Some(LogColumns::new(user, item)),
        (None, None) => None,
        _ => anyhow::bail!("--user-column and --item-column go together"),
    };
    let format = LogFormat::for_path(path, columns)?;
    let log = InteractionLog::build(read_log(path, &format, args.lossy)?, KCore::default(), None)
        .with_context(|| path.display().to_string())?;
    let records = log
        .histories()
        .iter()
        .map(|h| h.iter().map(|&i| vocabulary.id(log.item_name(i))).collect())
        .collect();
    let scored = log
        .histories()
        .iter()
        .map(|h| {
            h.iter()
                .map(|&i| log.item_name(i))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    Ok(Read {
        records,
        originals: log.user_names().to_vec(),
        scored,
    })
}

fn write_outputs(args: &AuditArgs, result: &socgan_audit::Audit, seconds: f64) -> Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut json = serde_json::to_value(&result.report)?;
    json["seconds"] = seconds.into();
    socgan_io::write_atomic(
        &args.out.join("audit.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    socgan_io::write_atomic(&args.out.join("audit.md"), result.report.text().as_bytes())?;
    write_distance_chart(
        &args.out.join("dcr.svg"),
        &result.to_training,
        &result.to_holdout,
    )?;
    Ok(())
}

/// The synthetic records that copy nothing, in their file's form.
fn drop_copies(
    args: &AuditArgs,
    originals: &[String],
    records: &[Vec<u32>],
    copies: &[bool],
    vocabulary: &Vocabulary,
) -> String {
    let mut out = String::new();
    for ((original, record), _) in originals
        .iter()
        .zip(records)
        .zip(copies)
        .filter(|(_, &copy)| !copy)
    {
        match args.kind {
            KindArg::Text => {
                out.push_str(&original.replace(['\n', '\r'], " "));
                out.push('\n');
            }
            KindArg::Items => {
                for &item in record {
                    out.push_str(&format!(
                        "{original} {}\n",
                        vocabulary.names[item as usize - 1]
                    ));
                }
            }
        }
    }
    out
}
