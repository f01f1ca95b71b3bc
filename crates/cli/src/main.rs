//! `socgan`: train, sample from and evaluate GANs on social-media data.
//!
//! The binary parses arguments, dispatches on the run's task tag to the model crate that owns
//! it (through [`gan_core::Experiment`], the list in [`experiments`]), and prints. Errors are
//! printed as one line (`error: ...`) with a non-zero exit; nothing already written is replaced
//! except through atomic renames.

mod audit;
mod data;
mod experiments;
mod model_scores;
mod run;

use std::process::ExitCode;

use anyhow::Result;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use gan_core::experiment::{CommandPlace, CommandRequest};
use gan_core::DeviceChoice;

use crate::experiments::Registry;

#[derive(Parser)]
#[command(
    name = "socgan",
    version,
    about = "GANs for social-media data, on candle"
)]
struct Cli {
    /// Where to compute: auto (the first CUDA device of a `--features cuda` build when one is
    /// present, else the CPU), cpu, or cuda:N.
    #[arg(long, global = true, value_name = "DEVICE", default_value = "auto")]
    device: DeviceChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model from a TOML run config (its `task` says which model).
    Train(Box<run::TrainArgs>),
    /// Sample from a checkpoint.
    Generate(run::GenerateArgs),
    /// Evaluate checkpoints with their run's protocol.
    Eval(run::EvalArgs),
    /// Time one benchmark workload (used by `cargo xtask bench`).
    Bench(run::BenchArgs),
    /// One metric of several runs against the run step, in one SVG chart.
    Chart(run::ChartArgs),
    /// Inspect, fetch and encode data.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Whether synthetic records (posts or user histories, any files) copy the real records
    /// they were made from: exact and near copies, distance to the closest record against
    /// held-out records, novelty, divergences, BLEU; a report, a chart, --fail-on rules.
    Audit(Box<audit::AuditArgs>),
}

/// candle allocates a fresh buffer for every op; a GAN step makes many of tens of megabytes.
/// glibc serves blocks above its mmap threshold (at most 32 MB) straight from the kernel and
/// returns them on free, so each op pays page faults and page clearing (a fifth of the time of a
/// RelGAN round, measured with perf). Raising the threshold and the trim threshold keeps freed
/// blocks in the heap for reuse.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// The whole command line: the binary's own commands, each experiment's flags and commands.
fn command(registry: &Registry) -> clap::Command {
    let tasks = registry.flag_names();
    let mut command = Cli::command()
        .after_help(registry.help())
        .mut_subcommand("train", |train| {
            let train = train.mut_arg("task", |arg| {
                arg.value_parser(clap::builder::PossibleValuesParser::new(tasks.clone()))
            });
            with_flags(train, |c| registry.iter().fold(c, |c, e| e.train_flags(c)))
        })
        .mut_subcommand("generate", |c| {
            with_flags(c, |c| registry.iter().fold(c, |c, e| e.generate_flags(c)))
        })
        .mut_subcommand("eval", |c| {
            with_flags(c, |c| registry.iter().fold(c, |c, e| e.eval_flags(c)))
        });
    for experiment in registry.iter() {
        for (place, sub) in experiment.commands() {
            command = match place {
                CommandPlace::TopLevel => command.subcommand(sub),
                CommandPlace::Data => command.mut_subcommand("data", |d| d.subcommand(sub)),
            };
        }
    }
    command
}

/// `command` with the flags `add` adds, keeping its own help text (an `Args` struct's doc
/// comment would replace it).
fn with_flags(
    command: clap::Command,
    add: impl FnOnce(clap::Command) -> clap::Command,
) -> clap::Command {
    let about = command.get_about().cloned();
    let long_about = command.get_long_about().cloned();
    let command = add(command);
    let command = match about {
        Some(about) => command.about(about),
        None => command,
    };
    match long_about {
        Some(long_about) => command.long_about(long_about),
        None => command.long_about(None::<&str>),
    }
}

/// A command one experiment declared (`predict`, `recommend`, `data embed`), if that is what
/// `matches` ran: its name, its matches and the experiment's index.
fn experiment_command<'m>(
    registry: &Registry,
    matches: &'m ArgMatches,
) -> Option<(&'m str, &'m ArgMatches, usize)> {
    let (name, sub) = matches.subcommand()?;
    let (place, name, sub) = match (name, sub.subcommand()) {
        ("data", Some((nested, nested_matches))) => (CommandPlace::Data, nested, nested_matches),
        _ => (CommandPlace::TopLevel, name, sub),
    };
    registry
        .iter()
        .position(|e| {
            e.commands()
                .iter()
                .any(|(p, c)| *p == place && c.get_name() == name)
        })
        .map(|i| (name, sub, i))
}

fn dispatch(registry: &Registry, matches: &ArgMatches) -> Result<ExitCode> {
    let cli = |m: &ArgMatches| -> Result<Cli> { Ok(Cli::from_arg_matches(m)?) };
    let device_choice = || -> Result<DeviceChoice> {
        Ok(matches
            .get_one::<DeviceChoice>("device")
            .copied()
            .unwrap_or_default())
    };
    if let Some((name, sub, index)) = experiment_command(registry, matches) {
        let experiment = registry.iter().nth(index).expect("index from the registry");
        gan_core::host::set_build_commit(env!("SOCGAN_COMMIT"));
        experiment
            .run_command(CommandRequest {
                name,
                matches: sub,
                device: device_choice()?.open()?,
            })
            .map_err(anyhow::Error::from_boxed)?;
        return Ok(ExitCode::SUCCESS);
    }
    let parsed = cli(matches)?;
    let device = device_choice()?;
    gan_core::host::set_build_commit(env!("SOCGAN_COMMIT"));
    let (_, flags) = matches.subcommand().expect("clap requires a subcommand");
    match parsed.command {
        Command::Train(args) => run::train(registry, *args, flags, device),
        Command::Generate(args) => {
            run::generate(registry, args, flags, device).map(|()| ExitCode::SUCCESS)
        }
        Command::Eval(args) => run::eval(registry, args, flags, device).map(|()| ExitCode::SUCCESS),
        Command::Bench(args) => run::bench(registry, args, device).map(|()| ExitCode::SUCCESS),
        Command::Chart(args) => {
            gan_core::charts::metric_chart(
                &args.metric,
                &args.runs,
                &args.out,
                args.title.as_deref(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Data(command) => data::run(command).map(|()| ExitCode::SUCCESS),
        Command::Audit(args) => audit::run(registry, *args, device),
    }
}

/// An error and its causes on one line, each cause once (a cause whose message its wrapper
/// already repeats is not printed again).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let message = cause.to_string();
        if !line.contains(&message) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&message);
        }
    }
    line.replace('\n', " ")
}

/// A panic inside a guarded call into a dependency (a malformed Parquet file) is reported as
/// the usual one-line error; only other panics, socgan's bugs, print the panic message.
fn quiet_guarded_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !socgan_data::guard::panicking_in_guard() {
            report(info);
        }
    }));
}

fn main() -> ExitCode {
    tune_allocator();
    quiet_guarded_panics();
    let registry = Registry::new(experiments::all());
    let matches = command(&registry).get_matches();
    match dispatch(&registry, &matches) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        // Flags and commands added by model crates must not collide with the binary's own, nor
        // replace its help texts.
        let command = command(&Registry::new(experiments::all()));
        command.clone().debug_assert();
        let about = |name: &str| {
            command
                .find_subcommand(name)
                .and_then(|c| c.get_about())
                .map(|a| a.to_string())
                .unwrap_or_default()
        };
        assert!(
            about("train").starts_with("Train a model"),
            "{}",
            about("train")
        );
        assert!(
            about("eval").starts_with("Evaluate checkpoints"),
            "{}",
            about("eval")
        );
        assert!(
            about("predict").starts_with("Label every post"),
            "{}",
            about("predict")
        );
        assert!(
            about("recommend").starts_with("Top-k items"),
            "{}",
            about("recommend")
        );
    }

    #[test]
    fn errors_print_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(gan_core::Error::io("/x/config.toml", io));
        assert_eq!(one_line(&e), "/x/config.toml: no such file");
        let e = anyhow::anyhow!("outer").context("context");
        assert_eq!(one_line(&e), "context: outer");
    }
}
