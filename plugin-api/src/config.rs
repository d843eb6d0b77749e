//! Component configuration: each component is built from its TOML table in the registry.

use crate::PluginError;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// The config of a component that takes no keys: any key in its table is refused.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// Parses a component's registry table (as TOML text) into its config type.
///
/// Errors name the offending key, e.g. `key `depth`: invalid type: string "4", expected u32`.
/// Config types should use `#[serde(default, deny_unknown_fields)]` so that unset keys take the
/// component's defaults and misspelt ones are refused.
pub fn parse_config<C: DeserializeOwned>(table: &str) -> Result<C, PluginError> {
    let table: toml::Table = table
        .parse()
        .map_err(|e: toml::de::Error| PluginError::new(format!("invalid TOML: {}", e.message())))?;
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.message().trim().to_string();
        if path == "." {
            PluginError::new(message)
        } else {
            PluginError::new(format!("key `{path}`: {message}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Example {
        depth: u32,
        name: String,
    }

    impl Default for Example {
        fn default() -> Self {
            Self {
                depth: 4,
                name: "x".into(),
            }
        }
    }

    #[test]
    fn defaults_fill_unset_keys() {
        assert_eq!(
            parse_config::<Example>("depth = 2").unwrap(),
            Example {
                depth: 2,
                name: "x".into()
            }
        );
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = parse_config::<Example>("depth = \"4\"").unwrap_err();
        assert_eq!(
            err.message(),
            "key `depth`: invalid type: string \"4\", expected u32"
        );
    }

    #[test]
    fn no_config_takes_no_keys() {
        assert_eq!(parse_config::<NoConfig>("").unwrap(), NoConfig {});
        assert!(parse_config::<NoConfig>("x = 1")
            .unwrap_err()
            .message()
            .contains("unknown field `x`"));
    }

    #[test]
    fn unknown_key_is_refused() {
        let err = parse_config::<Example>("dept = 4").unwrap_err();
        assert!(err.message().contains("unknown field `dept`"), "{err}");
    }
}
