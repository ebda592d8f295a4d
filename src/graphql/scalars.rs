//! The contract's `Decimal` scalar, over [`Cny`]: output a string with exactly 2 decimals;
//! input a string with at most 2 decimals or a JSON integer. Floats, exponents, more places
//! and text are `BAD_USER_INPUT`, never rounded. (async-graphql's own `decimal` feature reads
//! floats through f64, so it is not used.)
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

use crate::domain::money::Cny;

/// Money in CNY: a string with exactly 2 decimals on output ("12.50"); a string with at most
/// 2 decimals or a JSON integer on input.
#[Scalar(name = "Decimal")]
impl ScalarType for Cny {
    fn parse(value: Value) -> InputValueResult<Self> {
        let parsed = match &value {
            Value::String(s) => s.parse::<Cny>().map_err(|e| e.to_string()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Cny::from_integer(i).map_err(|e| e.to_string()),
                None => Err("a JSON float is not accepted for money: send a string like \"12.50\"".to_owned()),
            },
            _ => Err("expected a string like \"12.50\" or an integer".to_owned()),
        };
        parsed.map_err(|msg| InputValueError::custom(msg).with_extension("code", "BAD_USER_INPUT"))
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(_) | Value::Number(_))
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_string())
    }
}

/// A calendar day, `"2026-12-04"`: read in the shop's time zone by the field that takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub chrono::NaiveDate);

/// A calendar day, "2026-12-04", in the shop's time zone.
#[Scalar(name = "Date")]
impl ScalarType for Day {
    fn parse(value: Value) -> InputValueResult<Self> {
        let parsed = match &value {
            Value::String(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().filter(|_| s.len() == 10),
            _ => None,
        };
        parsed.map(Day).ok_or_else(|| {
            InputValueError::custom("expected a date like \"2026-12-04\"").with_extension("code", "BAD_USER_INPUT")
        })
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(_))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}
