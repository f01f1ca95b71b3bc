//! Social-media text normalisation, TweetEval's by default.

/// Switchable social-media normalisation. `Default` is TweetEval's convention: mentions become
/// `@user`, URLs `http`; whitespace is collapsed; case is kept; emoji and hashtags are untouched.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Normalizer {
    pub mentions: bool,
    pub urls: bool,
    pub lowercase: bool,
    pub whitespace: bool,
}

impl Default for Normalizer {
    fn default() -> Self {
        Self {
            mentions: true,
            urls: true,
            lowercase: false,
            whitespace: true,
        }
    }
}

impl Normalizer {
    /// ```
    /// use socgan_data::posts::Normalizer;
    /// let n = Normalizer::default();
    /// assert_eq!(n.apply("@bob  loved it 😍 https://t.co/x #win"), "@user loved it 😍 http #win");
    /// ```
    pub fn apply(&self, text: &str) -> String {
        let mut words = Vec::new();
        for word in text.split_whitespace() {
            let word = if self.mentions && word.starts_with('@') && word.len() > 1 {
                "@user"
            } else if self.urls && (word.starts_with("http") || word.starts_with("www.")) {
                "http"
            } else {
                word
            };
            words.push(if self.lowercase {
                word.to_lowercase()
            } else {
                word.to_string()
            });
        }
        if self.whitespace {
            words.join(" ")
        } else if self.mentions || self.urls || self.lowercase {
            // Keep the original spacing: replace word by word in place.
            let mut out = String::with_capacity(text.len());
            let mut rest = text;
            let mut it = words.iter();
            while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
                out.push_str(&rest[..start]);
                let tail = &rest[start..];
                let end = tail.find(char::is_whitespace).unwrap_or(tail.len());
                out.push_str(it.next().map(String::as_str).unwrap_or(&tail[..end]));
                rest = &tail[end..];
            }
            out.push_str(rest);
            out
        } else {
            text.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_switches() {
        let all_off = Normalizer {
            mentions: false,
            urls: false,
            lowercase: false,
            whitespace: false,
        };
        assert_eq!(all_off.apply(" @Bob  http://x "), " @Bob  http://x ");
        let lower = Normalizer {
            lowercase: true,
            whitespace: false,
            ..Default::default()
        };
        assert_eq!(lower.apply("Hi  @Bob #Yes"), "hi  @user #yes");
        assert_eq!(
            Normalizer::default().apply("  a\t b  www.x.com "),
            "a b http"
        );
    }
}
