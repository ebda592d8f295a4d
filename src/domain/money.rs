//! Money: CNY with exactly two decimal places. `Cny` wraps a `Decimal`; the database keeps
//! integer fen. Parsing refuses anything that would need rounding.
use std::{fmt, str::FromStr};

use entity::vocab::Fen;
use rust_decimal::Decimal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cny(Decimal);

impl From<Fen> for Cny {
    fn from(fen: Fen) -> Self {
        Cny::from_fen(fen.0)
    }
}

impl From<Cny> for Fen {
    fn from(amount: Cny) -> Self {
        Fen(amount.fen())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("an amount is a decimal with at most 2 places, like \"12.50\"")]
    Malformed,
    #[error("the amount is out of range")]
    OutOfRange,
}

/// The largest amount accepted anywhere: 10^13 yuan fits i64 fen with room to sum.
pub const MAX_ABS_FEN: i64 = 1_000_000_000_000_000;
/// The integer digits of the largest amount (`MAX_ABS_FEN / 100` yuan): longer text is out of
/// range before it is read as a number.
const MAX_INTEGER_DIGITS: usize = 14;

impl Cny {
    pub const ZERO: Cny = Cny(Decimal::ZERO);

    pub fn from_fen(fen: i64) -> Self {
        Cny(Decimal::new(fen, 2))
    }

    pub fn fen(self) -> i64 {
        // Every Cny holds at most 2 places and |fen| <= MAX_ABS_FEN by construction.
        let scaled = self.0 * Decimal::ONE_HUNDRED;
        i64::try_from(scaled.trunc()).unwrap_or(if scaled.is_sign_negative() { i64::MIN } else { i64::MAX })
    }

    pub fn decimal(self) -> Decimal {
        self.0
    }

    pub fn is_positive(self) -> bool {
        self.0 > Decimal::ZERO
    }

    pub fn is_negative(self) -> bool {
        self.0 < Decimal::ZERO
    }

    /// From a decimal with at most two places; more places are an error, never rounded.
    pub fn from_decimal(d: Decimal) -> Result<Self, MoneyError> {
        let normal = d.normalize();
        if normal.scale() > 2 {
            return Err(MoneyError::Malformed);
        }
        let cny = Cny(normal);
        if (cny.0 * Decimal::ONE_HUNDRED).abs() > Decimal::from(MAX_ABS_FEN) {
            return Err(MoneyError::OutOfRange);
        }
        Ok(cny)
    }

    pub fn from_integer(yuan: i64) -> Result<Self, MoneyError> {
        Self::from_decimal(Decimal::from(yuan))
    }
}

impl FromStr for Cny {
    type Err = MoneyError;

    /// `"7"`, `"7.5"`, `"-3.00"`; no exponent, no sign `+`, no spaces, at most 2 places.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let body = s.strip_prefix('-').unwrap_or(s);
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > 2 || (body.contains('.') && frac.is_empty())
        {
            return Err(MoneyError::Malformed);
        }
        if int.len() > MAX_INTEGER_DIGITS {
            return Err(MoneyError::OutOfRange);
        }
        let d = Decimal::from_str(s).map_err(|_| MoneyError::Malformed)?;
        Self::from_decimal(d)
    }
}

impl fmt::Display for Cny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = self.0;
        d.rescale(2);
        write!(f, "{d}")
    }
}

impl std::ops::Add for Cny {
    type Output = Cny;
    fn add(self, rhs: Cny) -> Cny {
        Cny(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Cny {
    type Output = Cny;
    fn sub(self, rhs: Cny) -> Cny {
        Cny(self.0 - rhs.0)
    }
}

impl std::iter::Sum for Cny {
    fn sum<I: Iterator<Item = Cny>>(iter: I) -> Cny {
        iter.fold(Cny::ZERO, |a, b| a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_convert_to_fen_and_back_exactly() {
        let amount: Cny = "12.34".parse().unwrap();
        assert_eq!(Fen::from(amount), Fen(1234));
        assert_eq!(amount.decimal(), Decimal::new(1234, 2));
        assert_eq!(Cny::from(Fen(-5)), "-0.05".parse().unwrap());
    }

    #[test]
    fn parses_at_most_two_places_and_never_rounds() {
        for (input, fen) in [("7", 700), ("7.5", 750), ("12.50", 1250), ("-3.00", -300), ("0", 0), ("0.01", 1)] {
            assert_eq!(input.parse::<Cny>().map(Cny::fen), Ok(fen), "{input}");
        }
        for bad in ["1.005", "1e3", "NaN", "abc", "", "-", ".5", "5.", "+5", " 5", "1,00", "0x10", "1.2.3"] {
            assert!(bad.parse::<Cny>().is_err(), "{bad:?} must be refused");
        }
        assert_eq!("99999999999999999999".parse::<Cny>(), Err(MoneyError::OutOfRange));
        // Three places are refused even when they are zeros: nothing is rounded, not even
        // "1.000" to 1 (Decimal would normalise it to two places).
        for bad in ["1.000", "1.230", "-0.000"] {
            assert_eq!(bad.parse::<Cny>(), Err(MoneyError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn the_largest_amounts_and_one_past_them() {
        // MAX_ABS_FEN fen either way, from text, a decimal or a JSON integer.
        let max = Decimal::from(MAX_ABS_FEN / 100);
        assert_eq!(max.to_string().parse::<Cny>().map(Cny::fen), Ok(MAX_ABS_FEN));
        assert_eq!(format!("-{max}").parse::<Cny>().map(Cny::fen), Ok(-MAX_ABS_FEN));
        assert_eq!(format!("{max}.01").parse::<Cny>(), Err(MoneyError::OutOfRange));
        assert_eq!(Cny::from_decimal(max).map(Cny::fen), Ok(MAX_ABS_FEN));
        assert_eq!(Cny::from_decimal(-max).map(Cny::fen), Ok(-MAX_ABS_FEN));
        let past = max + Decimal::new(1, 2);
        assert_eq!(Cny::from_decimal(past), Err(MoneyError::OutOfRange));
        assert_eq!(Cny::from_decimal(-past), Err(MoneyError::OutOfRange));
        assert_eq!(Cny::from_integer(7).map(Cny::fen), Ok(700));
        assert_eq!(Cny::from_integer(MAX_ABS_FEN / 100 + 1), Err(MoneyError::OutOfRange));
        assert_eq!(Cny::from_integer(i64::MAX), Err(MoneyError::OutOfRange));
        assert_eq!((MAX_ABS_FEN / 100).to_string().len(), MAX_INTEGER_DIGITS);
        // Text too long for any amount is out of range before Decimal reads it (Decimal
        // itself would call 40 digits malformed).
        assert_eq!(format!("1{}", "0".repeat(40)).parse::<Cny>(), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn prints_exactly_two_decimals() {
        assert_eq!(Cny::from_fen(1250).to_string(), "12.50");
        assert_eq!(Cny::from_fen(0).to_string(), "0.00");
        assert_eq!(Cny::from_fen(-5).to_string(), "-0.05");
        assert_eq!("7.5".parse::<Cny>().unwrap().to_string(), "7.50");
    }

    #[test]
    fn fen_round_trips_and_sums_exactly() {
        let parts = ["0.10", "0.20", "0.30"].map(|s| s.parse::<Cny>().unwrap());
        assert_eq!(parts.into_iter().sum::<Cny>(), Cny::from_fen(60));
        assert_eq!(Cny::from_fen(123_456_789_012).fen(), 123_456_789_012);
        assert!(Cny::from_decimal(Decimal::new(1005, 3)).is_err());
        assert_eq!(Cny::from_decimal(Decimal::new(1000, 3)).map(Cny::fen), Ok(100));
    }
}
