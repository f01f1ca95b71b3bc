//! The command-line flags of behaviour runs, included by the `socgan` binary beside its own.

use std::path::PathBuf;

use crate::experiment::config::LogLayout;
use crate::loss::NextItemLoss;

/// The model of a run without a config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelArg {
    Sasrec,
    Gru4rec,
    Popularity,
}

/// `socgan train --task behaviour --dataset LOG` flags of runs without a config file (named
/// apart from the other tasks' `--model` and `--loss`; the epochs are `--set training.epochs=N`).
#[derive(clap::Args, Clone, Debug)]
pub struct BehaviourTrainArgs {
    /// Next-item model of a behaviour run.
    #[arg(long, value_enum, default_value_t = ModelArg::Sasrec)]
    pub recommender: ModelArg,
    /// Objective of a behaviour run.
    #[arg(long, value_enum, default_value_t = NextItemLoss::Softmax)]
    pub next_item_loss: NextItemLoss,
    /// How the interaction log is laid out.
    #[arg(long, value_enum, default_value_t = LogLayout::Auto)]
    pub log_layout: LogLayout,
    /// User column (CSV / TSV / Parquet) or field (JSONL).
    #[arg(long)]
    pub user_column: Option<String>,
    #[arg(long)]
    pub item_column: Option<String>,
    #[arg(long)]
    pub timestamp_column: Option<String>,
    #[arg(long)]
    pub action_column: Option<String>,
    /// Keep only these action types (comma-separated; needs --action-column).
    #[arg(long, value_delimiter = ',')]
    pub actions: Option<Vec<String>>,
    /// k-core filtering: users and items with fewer interactions are dropped, repeatedly.
    #[arg(long, default_value_t = 0)]
    pub min_user_interactions: usize,
    #[arg(long, default_value_t = 0)]
    pub min_item_interactions: usize,
}

/// `socgan recommend` flags.
#[derive(clap::Args, Clone, Debug)]
pub struct RecommendArgs {
    /// One user id, as the log writes it.
    #[arg(long, conflicts_with = "users", required_unless_present_any = ["users", "history"])]
    pub user: Option<String>,
    /// A file of user ids, one per line.
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// Recommend after this history instead of a known user's (item ids as the log writes
    /// them, oldest first, comma-separated).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["user", "users"])]
    pub history: Option<Vec<String>>,
    /// Items per user.
    #[arg(short = 'k', long, default_value_t = 10)]
    pub top: usize,
    /// Also recommend items the user already interacted with.
    #[arg(long)]
    pub include_seen: bool,
    /// Write here (CSV, or JSONL by extension; atomically) instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// `socgan recommend`: a behaviour checkpoint and what to recommend.
#[derive(clap::Args, Clone, Debug)]
pub struct RecommendCommandArgs {
    /// Behaviour checkpoint: a run directory (its best checkpoint) or a checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub request: RecommendArgs,
}
