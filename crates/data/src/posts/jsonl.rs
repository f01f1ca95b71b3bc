//! JSON Lines: one object per line, the text (and label) in fields chosen by name.

use crate::posts::lines::LineSource;
use crate::posts::{Post, PostSource};
use crate::Result;

pub(crate) struct JsonlReader {
    pub(crate) source: LineSource,
    pub(crate) text: String,
    pub(crate) label: Option<String>,
}

/// A string, number or boolean field as text (labels are often integer class ids).
fn json_field(value: &serde_json::Value, field: &str) -> Option<String> {
    match value.get(field)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl JsonlReader {
    fn parse(&self, line: &str) -> Result<Post> {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            self.source
                .malformed(format!("expected a JSON object ({e})"))
        })?;
        let text = json_field(&value, &self.text).ok_or_else(|| {
            self.source
                .malformed(format!("expected a string field `{}`", self.text))
        })?;
        let label = match &self.label {
            Some(name) => Some(
                json_field(&value, name)
                    .ok_or_else(|| self.source.malformed(format!("expected a field `{name}`")))?,
            ),
            None => None,
        };
        Ok(Post { text, label })
    }
}

impl Iterator for JsonlReader {
    type Item = Result<Post>;
    fn next(&mut self) -> Option<Result<Post>> {
        Some(self.source.next_line()?.and_then(|line| self.parse(&line)))
    }
}

impl PostSource for JsonlReader {
    fn replaced_invalid_utf8(&self) -> usize {
        self.source.replaced
    }

    fn last_line(&self) -> usize {
        self.source.line
    }
}
