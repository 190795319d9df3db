//! Parsing a stage's `config:` block (handed over as JSON) into the stage's typed config.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// The config of a stage that takes none: an absent block, `null` or `{}`; any key is refused.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// Declares a stage's config type: a struct read from the stage's `config:` block, refusing keys
/// it does not have, with no serde dependency or attribute in the plugin; or an enum (a choice
/// among names, `#[serde(rename_all = "lowercase")]`) used by one. It derives `Debug` and serde's
/// `Deserialize`; serde's attributes (`#[serde(default)]`, `#[serde(rename = "...")]`) pass
/// through.
///
/// ```
/// use etl_sdk::Decimal;
///
/// etl_sdk::config! {
///     /// The filter's settings.
///     pub struct Config {
///         /// Keep the rows worth more than this.
///         pub min_amount: Decimal,
///         /// The column to read the amounts from.
///         #[serde(default = "default_column")]
///         pub column: String,
///     }
/// }
///
/// fn default_column() -> String {
///     "amount".into()
/// }
///
/// let config: Config = etl_sdk::parse_config(r#"{"min_amount": "9.99"}"#)?;
/// assert_eq!((config.min_amount.to_string(), config.column.as_str()), ("9.99".into(), "amount"));
/// let error = etl_sdk::parse_config::<Config>(r#"{"min_amount": 1, "max": 2}"#).unwrap_err();
/// assert!(error.message().contains("unknown field `max`, expected `min_amount` or `column`"), "{error}");
/// # Ok::<(), etl_sdk::Error>(())
/// ```
///
/// The expansion names the SDK `etl_sdk`: a plugin that renames the dependency derives
/// `Deserialize` itself (with its own `serde` dependency).
#[macro_export]
macro_rules! config {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($fields:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, $crate::serde::Deserialize)]
        #[serde(crate = "etl_sdk::serde", deny_unknown_fields)]
        $vis struct $name { $($fields)* }
    };
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variants:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, $crate::serde::Deserialize)]
        #[serde(crate = "etl_sdk::serde")]
        $vis enum $name { $($variants)* }
    };
}

/// Parses `json` into `C`, naming the offending key on failure
/// (`rules[2].max: invalid type: string "x", expected a number`).
///
/// An empty string and `null` are read as `{}`, so a stage whose config is all defaults needs no
/// `config:` block.
pub fn parse_config<C: DeserializeOwned>(json: &str) -> Result<C, Error> {
    let json = match json.trim() {
        "" | "null" => "{}",
        other => other,
    };
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path.is_empty() || path == "." {
            Error::config(inner.to_string())
        } else {
            Error::config(format!("{path}: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rules {
        #[allow(dead_code)]
        rules: Vec<Rule>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rule {
        #[allow(dead_code)]
        max: i64,
    }

    #[test]
    fn names_the_key_that_is_wrong() {
        let error = parse_config::<Rules>(r#"{"rules": [{"max": 1}, {"max": "x"}]}"#).unwrap_err();
        assert_eq!(error, Error::config("rules[1].max: invalid type: string \"x\", expected i64 at line 1 column 34"));
    }

    #[test]
    fn refuses_unknown_keys() {
        let error = parse_config::<NoConfig>(r#"{"speed": 3}"#).unwrap_err();
        assert!(error.message().contains("unknown field `speed`"), "{error}");
    }

    #[test]
    fn empty_and_null_mean_defaults() {
        parse_config::<NoConfig>("").unwrap();
        parse_config::<NoConfig>("null").unwrap();
        parse_config::<NoConfig>(" {} ").unwrap();
    }
}
