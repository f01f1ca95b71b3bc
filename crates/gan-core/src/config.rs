//! Run configs as TOML: a file (or a model crate's default), `KEY=VALUE` overrides, a `task` tag
//! that says which model crate reads the rest, and one-line errors. Each model crate deserialises
//! its own config struct (with `deny_unknown_fields`) from the resulting table.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Checkpoint, Error, Result};

/// The key naming the model crate a config belongs to.
pub const TASK_KEY: &str = "task";

/// A config table and where it came from (for error messages).
#[derive(Clone, Debug)]
pub struct ConfigTable {
    pub table: toml::Table,
    pub origin: String,
}

impl ConfigTable {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let table = toml::from_str(text)
            .map_err(|e| Error::Config(format!("{origin}: {}", one_line(&e.to_string()))))?;
        Ok(Self {
            table,
            origin: origin.to_string(),
        })
    }

    /// Applies `a.b.c=value` overrides in order (see [`apply_override`]).
    pub fn with_overrides(mut self, overrides: &[String]) -> Result<Self> {
        for assignment in overrides {
            apply_override(&mut self.table, assignment)?;
        }
        Ok(self)
    }

    /// The `task` tag, if the config has one.
    pub fn task(&self) -> Result<Option<&str>> {
        match self.table.get(TASK_KEY) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(Error::Config(format!(
                "{}: `task` must be a string, found {other}",
                self.origin
            ))),
        }
    }

    /// Deserialises the table into a model crate's config type.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T> {
        self.table.clone().try_into().map_err(|e: toml::de::Error| {
            Error::Config(format!("{}: {}", self.origin, one_line(&e.to_string())))
        })
    }
}

/// The config file written beside a run and every checkpoint.
pub const CONFIG_FILE: &str = "config.toml";

/// A model crate's run config: a serde struct with `deny_unknown_fields`, a one-variant task tag
/// (see [`task_tag!`](crate::task_tag)), `seed` and `out_dir`. Reading from a table, from TOML
/// text and back from a checkpoint, and writing it as TOML, are the same for every crate.
pub trait RunConfig: Serialize + DeserializeOwned {
    /// The task tag, as in `task = "..."`.
    const TASK: &'static str;

    /// Where the run's files go.
    fn out_dir(&self) -> &Path;

    /// Impossible settings, as [`Error::Config`] naming the setting (the file is added by
    /// [`RunConfig::from_table`]).
    fn validate(&self) -> Result<()>;

    /// Deserialises and validates `table`; errors name its origin once.
    fn from_table(table: ConfigTable) -> Result<Self> {
        let config: Self = table.deserialize()?;
        config.validate().map_err(|e| e.in_config(&table.origin))?;
        Ok(config)
    }

    /// Parses TOML `text`; `origin` names it in errors.
    fn parse(text: &str, origin: &str) -> Result<Self> {
        Self::from_table(ConfigTable::parse(text, origin)?)
    }

    /// The config saved beside `ckpt`'s weights.
    fn from_checkpoint(ckpt: &Checkpoint) -> Result<Self> {
        let text = ckpt.read_extra(CONFIG_FILE)?;
        Self::parse(&text, &ckpt.dir.join(CONFIG_FILE).display().to_string())
    }

    /// The config as TOML (what is written beside the run and every checkpoint).
    fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Config(format!("config as TOML: {e}")))
    }
}

/// A one-variant enum that (de)serialises as a task tag, so that a config of another task is
/// refused by the type: `task_tag!(ImageGanTag, ImageGan, "image_gan")`.
#[macro_export]
macro_rules! task_tag {
    ($(#[$meta:meta])* $name:ident, $variant:ident, $tag:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            #[default]
            #[serde(rename = $tag)]
            $variant,
        }

        impl $name {
            /// The tag as written in configs and checkpoints.
            pub const TAG: &'static str = $tag;
        }
    };
}

/// Every config under the workspace's `configs/` whose task is `task`, read (not validated):
/// the tests of each model crate check that the configs users copy parse and train.
pub fn example_configs(
    configs_dir: &Path,
    task: &str,
) -> Result<Vec<(std::path::PathBuf, ConfigTable)>> {
    let mut found = Vec::new();
    let mut dirs = vec![configs_dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let path = entry.map_err(|e| Error::io(&dir, e))?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                let table = ConfigTable::read(&path)?;
                if table.task()? == Some(task) {
                    found.push((path, table));
                }
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// toml's messages span several lines (with a source excerpt); errors here are one line.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('|') && !l.chars().all(|c| c == '^' || c == ' ')
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Applies `a.b.c=value`; `value` is read as TOML (numbers, booleans, quoted strings, inline
/// tables) and as a bare string if it is not valid TOML.
///
/// ```
/// let mut t = toml::Table::new();
/// gan_core::config::apply_override(&mut t, "schedule.rounds=5").unwrap();
/// gan_core::config::apply_override(&mut t, "out_dir=runs/x").unwrap();
/// assert_eq!(t["schedule"]["rounds"].as_integer(), Some(5));
/// assert_eq!(t["out_dir"].as_str(), Some("runs/x"));
/// ```
pub fn apply_override(root: &mut toml::Table, assignment: &str) -> Result<()> {
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| Error::Config(format!("override `{assignment}`: expected KEY=VALUE")))?;
    let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(Error::Config(format!(
            "override `{assignment}`: empty key part"
        )));
    }
    let mut table = root;
    for part in &parts[..parts.len() - 1] {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| Error::Config(format!("override `{key}`: `{part}` is not a table")))?;
    }
    table.insert(parts[parts.len() - 1].to_string(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Small {
        task: String,
        rounds: u64,
    }

    #[test]
    fn overrides_task_tag_and_one_line_errors() {
        let c = ConfigTable::parse("task = \"toy\"\nrounds = 1\n", "toy.toml")
            .unwrap()
            .with_overrides(&["rounds=3".into()])
            .unwrap();
        assert_eq!(c.task().unwrap(), Some("toy"));
        assert_eq!(c.deserialize::<Small>().unwrap().rounds, 3);
        let bad = c.with_overrides(&["bogus=1".into()]).unwrap();
        let err = bad.deserialize::<Small>().unwrap_err().to_string();
        assert!(
            err.contains("toy.toml")
                && err.contains("unknown field `bogus`")
                && !err.contains('\n'),
            "{err}"
        );
        let err = ConfigTable::parse("rounds = ", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid setting: x.toml:") && !err.contains('\n'),
            "{err}"
        );
        let err = apply_override(&mut toml::Table::new(), "noequals")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected KEY=VALUE"), "{err}");
    }
}
