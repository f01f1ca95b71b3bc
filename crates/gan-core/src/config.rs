//! Run configs as TOML: a file (or a model crate's default), `KEY=VALUE` overrides, a `task` tag
//! that says which model crate reads the rest, and one-line errors. Each model crate deserialises
//! its own config struct (with `deny_unknown_fields`) from the resulting table.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::{Error, Result};

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
    let parsed: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").expect("just parsed"),
        Err(_) => toml::Value::String(raw.to_string()),
    };
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
