//! The payout vocabulary: enums stored by their contract names.
use async_graphql::Enum;

/// What the compensation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
pub enum PayoutType {
    /// 退运费
    ShippingFee,
    /// 补差价
    PriceDifference,
    /// 其他
    Other,
}

impl PayoutType {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutType::ShippingFee => "SHIPPING_FEE",
            PayoutType::PriceDifference => "PRICE_DIFFERENCE",
            PayoutType::Other => "OTHER",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "SHIPPING_FEE" => PayoutType::ShippingFee,
            "PRICE_DIFFERENCE" => PayoutType::PriceDifference,
            "OTHER" => PayoutType::Other,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in [PayoutType::ShippingFee, PayoutType::PriceDifference, PayoutType::Other] {
            assert_eq!(PayoutType::parse(t.as_str()), Some(t));
        }
        assert_eq!(PayoutType::parse("shipping_fee"), None);
    }
}
