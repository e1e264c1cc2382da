use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Contract version 1. Serialised as the integer `1`; any other number is refused when
/// parsing, so a producer on a newer contract fails loudly instead of being half-read.
/// Absent fields default to it (`#[serde(default)]`), which keeps the seed's bodies valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct V1;

impl V1 {
    pub const NUMBER: u64 = 1;
}

impl Serialize for V1 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(Self::NUMBER)
    }
}

impl<'de> Deserialize<'de> for V1 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = u64::deserialize(deserializer)?;
        if number == Self::NUMBER {
            Ok(V1)
        } else {
            Err(de::Error::custom(format_args!(
                "unsupported schema_version {number}: this build reads version {}",
                Self::NUMBER
            )))
        }
    }
}

impl JsonSchema for V1 {
    fn schema_name() -> Cow<'static, str> {
        "SchemaVersion1".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "const": 1, "default": 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Message {
        #[serde(default)]
        #[allow(dead_code)]
        schema_version: V1,
    }

    #[test]
    fn absent_version_defaults_to_one() {
        assert!(serde_json::from_str::<Message>("{}").is_ok());
    }

    #[test]
    fn another_version_is_refused_with_its_number() {
        let error = serde_json::from_str::<Message>(r#"{"schema_version":2}"#).unwrap_err();
        assert!(error.to_string().contains("unsupported schema_version 2"), "{error}");
    }

    #[test]
    fn serialises_as_the_integer_one() {
        assert_eq!(serde_json::to_string(&V1).unwrap(), "1");
    }
}
