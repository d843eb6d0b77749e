//! A YAML document in the order it is written, emitted in block style: enough for `rdf.yaml`,
//! without a YAML library. Strings are written double-quoted with JSON's escapes, which YAML
//! reads alike.

/// A YAML value; maps keep their keys in insertion order.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Map(Vec<(String, Yaml)>),
    List(Vec<Yaml>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

/// A map from `(key, value)` pairs.
pub fn map<const N: usize>(entries: [(&str, Yaml); N]) -> Yaml {
    Yaml::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

pub fn str(text: impl Into<String>) -> Yaml {
    Yaml::Str(text.into())
}

impl Yaml {
    /// A JSON value (a network's kwargs) as YAML.
    pub fn from_json(value: &serde_json::Value) -> Yaml {
        use serde_json::Value;
        match value {
            Value::Null => Yaml::Null,
            Value::Bool(b) => Yaml::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Yaml::Int(i),
                None => Yaml::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Yaml::Str(s.clone()),
            Value::Array(items) => Yaml::List(items.iter().map(Yaml::from_json).collect()),
            Value::Object(entries) => Yaml::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), Yaml::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// The document, block style, two spaces per level.
    pub fn to_document(&self) -> String {
        let mut out = String::new();
        self.write_block(&mut out, 0);
        out
    }

    /// Whether the value fits on its key's line.
    fn is_inline(&self) -> bool {
        match self {
            Yaml::Map(entries) => entries.is_empty(),
            Yaml::List(items) => items.is_empty() || items.iter().all(Yaml::is_scalar),
            _ => true,
        }
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, Yaml::Map(_) | Yaml::List(_))
    }

    fn inline(&self) -> String {
        match self {
            Yaml::Map(_) => "{}".into(),
            Yaml::List(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(Yaml::inline)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Yaml::Str(s) => serde_json::to_string(s).expect("a string serializes"),
            Yaml::Int(i) => i.to_string(),
            Yaml::Float(x) => float(*x),
            Yaml::Bool(b) => b.to_string(),
            Yaml::Null => "null".into(),
        }
    }

    /// Writes a map's entries or a list's items at `indent`, each on its own lines.
    fn write_block(&self, out: &mut String, indent: usize) {
        let pad = " ".repeat(indent);
        match self {
            Yaml::Map(entries) => {
                for (key, value) in entries {
                    out.push_str(&format!("{pad}{}:", key_text(key)));
                    if value.is_inline() {
                        out.push_str(&format!(" {}\n", value.inline()));
                    } else {
                        out.push('\n');
                        value.write_block(out, indent + 2);
                    }
                }
            }
            Yaml::List(items) => {
                for item in items {
                    if item.is_inline() {
                        out.push_str(&format!("{pad}- {}\n", item.inline()));
                    } else {
                        // The item's block two deeper, its first line's indent taken by "- ".
                        let mut block = String::new();
                        item.write_block(&mut block, indent + 2);
                        out.push_str(&format!("{pad}- {}", &block[indent + 2..]));
                    }
                }
            }
            scalar => out.push_str(&format!("{pad}{}\n", scalar.inline())),
        }
    }
}

/// A key, bare where it is a plain identifier.
fn key_text(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && key.starts_with(|c: char| c.is_ascii_alphabetic());
    if plain {
        key.to_string()
    } else {
        serde_json::to_string(key).expect("a string serializes")
    }
}

/// A float as YAML 1.1 and 1.2 both read it: a decimal point and a signed exponent
/// (`1.0e-6` and `1.0e+20`, not `1e-6` and `1e20`).
fn float(x: f64) -> String {
    let text = format!("{x:?}");
    let Some(e) = text.find('e') else {
        return text;
    };
    let (mantissa, exponent) = (&text[..e], &text[e + 1..]);
    let point = if mantissa.contains('.') { "" } else { ".0" };
    let sign = if exponent.starts_with('-') { "" } else { "+" };
    format!("{mantissa}{point}e{sign}{exponent}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_maps_and_lists_in_block_style() {
        let doc = map([
            ("name", str("a \"b\"")),
            (
                "axes",
                Yaml::List(vec![
                    map([("type", str("batch"))]),
                    map([
                        ("type", str("space")),
                        ("size", map([("min", Yaml::Int(8)), ("step", Yaml::Int(8))])),
                    ]),
                ]),
            ),
            ("names", Yaml::List(vec![str("x")])),
            ("eps", Yaml::Float(1e-6)),
            ("scale", Yaml::Float(0.29)),
            ("large", Yaml::Float(1e20)),
            ("empty", Yaml::Map(vec![])),
        ]);
        assert_eq!(
            doc.to_document(),
            "name: \"a \\\"b\\\"\"\naxes:\n  - type: \"batch\"\n  - type: \"space\"\n    size:\n      min: 8\n      step: 8\nnames: [\"x\"]\neps: 1.0e-6\nscale: 0.29\nlarge: 1.0e+20\nempty: {}\n"
        );
    }
}
