//! JSON Lines logs: one object per line, fields chosen by name.

use std::path::Path;

use serde_json::{Map, Value};

use crate::interactions::{parse_id, parse_timestamp, Interaction, LogColumns};
use crate::posts::lines::LineSource;
use crate::Result;

/// Every object of `path` in file order.
pub(super) fn read(path: &Path, columns: &LogColumns, lossy: bool) -> Result<Vec<Interaction>> {
    let mut source = LineSource::open(path, lossy)?;
    let mut interactions = Vec::new();
    while let Some(line) = source.next_line() {
        let line = line?;
        interactions.push(parse(&line, columns).map_err(|message| source.malformed(message))?);
    }
    Ok(interactions)
}

fn parse(line: &str, columns: &LogColumns) -> std::result::Result<Interaction, String> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| format!("expected a JSON object ({e})"))?;
    let object = value
        .as_object()
        .ok_or_else(|| format!("expected a JSON object, found {value}"))?;
    let timestamp = match &columns.timestamp {
        Some(name) => Some(timestamp(field(object, name)?, name)?),
        None => None,
    };
    let action = match &columns.action {
        Some(name) => Some(text(field(object, name)?, name)?),
        None => None,
    };
    Ok(Interaction {
        user: parse_id(
            &text(field(object, &columns.user)?, &columns.user)?,
            &columns.user,
        )?,
        item: parse_id(
            &text(field(object, &columns.item)?, &columns.item)?,
            &columns.item,
        )?,
        timestamp,
        action,
    })
}

/// Field `name`, or an error listing the fields this object has (a misspelt name is the usual
/// cause).
fn field<'a>(object: &'a Map<String, Value>, name: &str) -> std::result::Result<&'a Value, String> {
    object.get(name).ok_or_else(|| {
        let names: Vec<&str> = object.keys().map(String::as_str).collect();
        format!("no field `{name}` (fields: {})", names.join(", "))
    })
}

/// A string or number as text: ids are often integers.
fn text(value: &Value, name: &str) -> std::result::Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!(
            "expected a string or number in field `{name}`, found {value}"
        )),
    }
}

/// A JSON number, or a string holding one (exporters often quote large integers).
fn timestamp(value: &Value, name: &str) -> std::result::Result<f64, String> {
    match value {
        Value::Number(n) => n
            .as_f64()
            .filter(|t| t.is_finite())
            .ok_or_else(|| format!("timestamp `{n}` in `{name}` is not a number")),
        Value::String(s) => parse_timestamp(s, name),
        _ => Err(format!("timestamp `{value}` in `{name}` is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use crate::interactions::{read_log, LogColumns, LogFormat};

    fn format() -> LogFormat {
        LogFormat::Jsonl {
            columns: LogColumns {
                timestamp: Some("ts".into()),
                action: Some("event".into()),
                ..LogColumns::new("user", "item")
            },
        }
    }

    #[test]
    fn numeric_and_string_ids_and_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.jsonl");
        std::fs::write(
            &p,
            "{\"user\": \"u1\", \"item\": 7, \"ts\": 1700000000, \"event\": \"view\"}\n\
             {\"user\": 2, \"item\": \"x\", \"ts\": \"1700000001.5\", \"event\": \"buy\"}\n\
             {\"user\": 2, \"item\": \"y\", \"ts\": 2.5e0, \"event\": 3}\n",
        )
        .unwrap();
        let log = read_log(&p, &format(), false).unwrap();
        assert_eq!((log[0].user.as_str(), log[0].item.as_str()), ("u1", "7"));
        assert_eq!(log[0].timestamp, Some(1700000000.0));
        assert_eq!(log[1].timestamp, Some(1700000001.5));
        assert_eq!(log[1].action.as_deref(), Some("buy"));
        assert_eq!(
            (log[2].timestamp, log[2].action.as_deref()),
            (Some(2.5), Some("3"))
        );
    }

    #[test]
    fn field_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.jsonl");
        let read = |text: &str| {
            std::fs::write(&p, text).unwrap();
            read_log(&p, &format(), false).unwrap_err().to_string()
        };
        let ok = "{\"user\": 1, \"item\": 2, \"ts\": 3, \"event\": \"a\"}\n";
        let err = read(&format!(
            "{ok}{{\"uid\": 1, \"item\": 2, \"ts\": 3, \"event\": \"a\"}}\n"
        ));
        assert!(
            err.contains("log.jsonl:2: no field `user` (fields: event, item, ts, uid)"),
            "{err}"
        );
        let err = read(&format!(
            "{ok}{ok}{{\"user\": 1, \"item\": 2, \"ts\": \"soon\", \"event\": \"a\"}}\n"
        ));
        assert!(
            err.contains("log.jsonl:3: timestamp `soon` in `ts` is not a number"),
            "{err}"
        );
        let err = read(&format!(
            "{ok}{{\"user\": 1, \"item\": 2, \"ts\": null, \"event\": \"a\"}}\n"
        ));
        assert!(err.contains("log.jsonl:2: timestamp `null`"), "{err}");
        let err = read(&format!(
            "{ok}{{\"user\": \"\", \"item\": 2, \"ts\": 3, \"event\": \"a\"}}\n"
        ));
        assert!(err.contains("log.jsonl:2: empty value in `user`"), "{err}");
        let err = read(&format!("{ok}[1, 2]\n"));
        assert!(
            err.contains("log.jsonl:2: expected a JSON object, found [1,2]"),
            "{err}"
        );
        let err = read(&format!("{ok}\n"));
        assert!(
            err.contains("log.jsonl:2: expected a JSON object ("),
            "{err}"
        );
    }

    #[test]
    fn invalid_utf8_is_an_error_unless_lossy() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.jsonl");
        std::fs::write(
            &p,
            b"{\"user\": \"a\xffb\", \"item\": 2, \"ts\": 3, \"event\": \"a\"}\n",
        )
        .unwrap();
        let err = read_log(&p, &format(), false).unwrap_err().to_string();
        assert!(
            err.contains("log.jsonl:1: invalid UTF-8 at byte 11"),
            "{err}"
        );
        let log = read_log(&p, &format(), true).unwrap();
        assert_eq!(log[0].user, "a\u{fffd}b");
    }
}
