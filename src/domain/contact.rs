//! The check against soliciting off-platform contact (§1 注): asking for a buyer's Alipay,
//! WeChat or QQ, or giving a phone or QQ number, is a violation. Pure.
use std::sync::LazyLock;

use regex::Regex;

/// Phrases that ask for an account or contact off the platform (case-insensitive).
const PHRASES: &[&str] =
    &["支付宝号", "支付宝账号", "支付宝帐号", "微信号", "加微信", "加我微信", "qq号", "wechat", "alipay account"];

#[expect(clippy::expect_used, reason = "a literal pattern: the unit tests compile it")]
static MOBILE: LazyLock<Regex> = LazyLock::new(|| {
    // A Chinese mobile number, digits optionally split by spaces or dashes, +86 optional.
    Regex::new(r"(?:^|[^0-9])(?:\+?86[\s-]?)?1[3-9](?:[\s-]?[0-9]){9}(?:[^0-9]|$)").expect("mobile regex")
});
#[expect(clippy::expect_used, reason = "a literal pattern: the unit tests compile it")]
static LANDLINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[^0-9])0[1-9][0-9]{1,2}[\s-][0-9]{7,8}(?:[^0-9]|$)").expect("landline regex"));
#[expect(clippy::expect_used, reason = "a literal pattern: the unit tests compile it")]
static QQ_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:q\s*q\s*(?:号码|号)?\s*[:：是为]?\s*[1-9][0-9]{4,10})|(?:[1-9][0-9]{4,10}\s*[(（]?\s*q\s*q)")
        .expect("qq regex")
});

/// Why `text` solicits off-platform contact, or `None` when it does not.
pub fn off_platform_contact(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    if PHRASES.iter().any(|p| lower.contains(p)) {
        return Some("asks for an Alipay, WeChat or QQ account");
    }
    if QQ_NUMBER.is_match(text) {
        return Some("contains a QQ number");
    }
    if MOBILE.is_match(text) || LANDLINE.is_match(text) {
        return Some("contains a phone number");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicitations_are_caught() {
        for text in [
            "请加微信 abc123 联系",
            "麻烦告诉我您的支付宝账号",
            "您的支付宝号是多少？",
            "微信号发我一下",
            "QQ号多少",
            "加我QQ: 12345678",
            "qq 987654321",
            "联系 12345678(QQ)",
            "打电话 13800138000",
            "电话 138-0013-8000 找我",
            "+86 139 1234 5678",
            "座机 021-12345678",
            "Add me on WeChat please",
            "send your Alipay account",
        ] {
            assert!(off_platform_contact(text).is_some(), "{text}");
        }
    }

    #[test]
    fn ordinary_messages_pass() {
        for text in [
            "运费已退回，请查收",
            "补差价 12.50 元，订单 DEMO-0001",
            "抱歉发错颜色，补偿 5 元",
            "order 2026112612345 refund",
            "QQ音乐会员不在本次补偿范围",
            "已通过平台转账，请在支付宝零钱查看",
        ] {
            assert_eq!(off_platform_contact(text), None, "{text}");
        }
    }
}
