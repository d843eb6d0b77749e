//! Naming one channel of a multi-channel image: by index, or by the name the file gives it
//! (an OME-Zarr `omero` label, an ImageJ slice label).

use std::fmt;

/// One channel of an image, as a manifest column or a command line names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChannelSelector {
    /// 0-based index.
    Index(usize),
    /// A channel name stored in the file.
    Name(String),
}

impl ChannelSelector {
    /// Reads a manifest or command-line value: digits are an index, anything else a name.
    pub fn parse(text: &str) -> ChannelSelector {
        let text = text.trim();
        match text.parse::<usize>() {
            Ok(index) => ChannelSelector::Index(index),
            Err(_) => ChannelSelector::Name(text.to_string()),
        }
    }

    /// The index this selects among channels called `names` (one per channel), or a
    /// sentence saying which channels there are.
    pub fn resolve(&self, names: &[String]) -> std::result::Result<usize, String> {
        match self {
            ChannelSelector::Index(index) if *index < names.len() => Ok(*index),
            ChannelSelector::Index(index) => Err(format!(
                "channel {index} requested but the image has {} channel(s) (indices 0..{})",
                names.len(),
                names.len().saturating_sub(1)
            )),
            ChannelSelector::Name(name) => {
                names.iter().position(|n| n == name).ok_or_else(|| {
                    let listed: Vec<String> = names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| {
                            if n.is_empty() {
                                format!("{i}: (unnamed)")
                            } else {
                                format!("{i}: \"{n}\"")
                            }
                        })
                        .collect();
                    format!(
                        "no channel named \"{name}\"; the image has [{}] (name one of these or give its index)",
                        listed.join(", ")
                    )
                })
            }
        }
    }
}

impl From<usize> for ChannelSelector {
    fn from(index: usize) -> Self {
        ChannelSelector::Index(index)
    }
}

impl From<&str> for ChannelSelector {
    fn from(name: &str) -> Self {
        ChannelSelector::Name(name.to_string())
    }
}

impl fmt::Display for ChannelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelSelector::Index(index) => write!(f, "{index}"),
            ChannelSelector::Name(name) => write!(f, "\"{name}\""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn digits_are_an_index_and_anything_else_a_name() {
        assert_eq!(ChannelSelector::parse(" 3 "), ChannelSelector::Index(3));
        assert_eq!(
            ChannelSelector::parse("DNA"),
            ChannelSelector::Name("DNA".into())
        );
        assert_eq!(
            ChannelSelector::parse("-1"),
            ChannelSelector::Name("-1".into())
        );
    }

    #[test]
    fn names_resolve_and_an_unknown_one_lists_what_there_is() {
        let channels = names(&["bf", "", "dna"]);
        assert_eq!(ChannelSelector::parse("dna").resolve(&channels), Ok(2));
        assert_eq!(ChannelSelector::Index(1).resolve(&channels), Ok(1));
        let error = ChannelSelector::parse("golgi")
            .resolve(&channels)
            .unwrap_err();
        assert_eq!(
            error,
            "no channel named \"golgi\"; the image has [0: \"bf\", 1: (unnamed), 2: \"dna\"] (name one of these or give its index)"
        );
        let error = ChannelSelector::Index(3).resolve(&channels).unwrap_err();
        assert!(error.contains("has 3 channel(s)"), "{error}");
    }
}
