//! Reading an application file: TOML to typed config, every error located by file, key path and line.

use super::{AppFile, ConfigError, NumReplicas};

impl AppFile {
    /// Parses and validates an application file. `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let parse_error = |path: String, message: String, span: Option<std::ops::Range<usize>>| {
            let (line, column) = span
                .map(|s| line_column(text, s.start))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            ConfigError::Parse {
                file: file.to_owned(),
                line,
                column,
                path,
                message,
            }
        };
        let de = toml::de::Deserializer::parse(text)
            .map_err(|e| parse_error(String::new(), e.message().to_owned(), e.span()))?;
        let mut parsed: AppFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            parse_error(path, inner.message().to_owned(), inner.span())
        })?;
        // Without autoscaling, an absent `num_replicas` is Ray's 1, spelled
        // out like every other default (so writing it changes nothing).
        for d in parsed
            .applications
            .iter_mut()
            .flat_map(|a| &mut a.deployments)
        {
            if d.num_replicas == NumReplicas::Unset && d.autoscaling_config.is_none() {
                d.num_replicas = NumReplicas::Count(1);
            }
        }
        parsed.validate(file)?;
        Ok(parsed)
    }

    /// Renders the file back to TOML (every default spelled out).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an AppFile always serialises to TOML")
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}
