//! JSON whose objects name each member once. serde_json keeps the last of a duplicated member
//! (serde-rs/json#1112), and a token's `"role":"cs", …, "role":"admin"` read as an admin where
//! another reader of the same token may take the first. RFC 7515 §5.2 and RFC 7519 §4 let a
//! verifier refuse such a header or claims set; smallpay refuses it. Written here because no
//! maintained crate offers it: a serde visitor that builds the `serde_json::Value` as
//! serde_json's own does, refusing a name already in the object.
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses a JSON text; an object that names a member twice, at any depth, is an error that
/// names the member.
pub fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = UniqueValue.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

struct UniqueValue;

impl<'de> DeserializeSeed<'de> for UniqueValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if object.contains_key(&name) {
                return Err(de::Error::custom(format_args!("the member `{name}` appears more than once")));
            }
            let value = map.next_value_seed(UniqueValue)?;
            object.insert(name, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::parse;

    #[test]
    fn a_member_named_twice_is_refused_at_any_depth() {
        let cases = [
            (r#"{"role":"cs","role":"admin"}"#, "`role`"),
            (r#"{"role":"cs","role":"cs"}"#, "`role`"),
            (r#"{"ns":{"a":1,"b":2,"a":3}}"#, "`a`"),
            (r#"{"list":[{"x":1},{"x":1,"x":2}]}"#, "`x`"),
            // The same name spelt with an escape is the same name.
            (r#"{"role":"cs","r\u006fle":"admin"}"#, "`role`"),
        ];
        for (text, names) in cases {
            let err = parse(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("more than once") && err.contains(names), "{text}: {err}");
        }
    }

    #[test]
    fn any_other_json_reads_as_serde_json_reads_it() {
        for text in [
            r#"{"sub":"a","n":-1,"u":18446744073709551615,"f":1.5,"t":true,"z":null,"l":[1,"x",{"k":[]}],"o":{}}"#,
            r#"[{"a":1},{"a":2}]"#,
            r#""just a string""#,
            "  42  ",
        ] {
            let expected: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse(text.as_bytes()).unwrap(), expected, "{text}");
        }
        assert_eq!(parse(br#"{"a":{"a":1}}"#).unwrap(), json!({ "a": { "a": 1 } }), "one name per object");
        assert!(parse(b"{\"a\":1} trailing").is_err());
        assert!(parse(b"{\"a\":").is_err());
    }
}
