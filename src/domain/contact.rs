//! The check against soliciting off-platform contact (§1 注): asking for a buyer's Alipay,
//! WeChat or QQ, or giving a phone or QQ number, is a violation. Pure.
//!
//! The text is normalised first, so that width, case and spacing do not hide anything: NFKC
//! (full-width digits, letters, colons and parentheses become ASCII ones, the ideographic
//! space a space), then lower case.
//! - **Phrases** (a request for an account) and **QQ numbers** are matched with every
//!   whitespace removed: "支付宝 账号", "加 微 信" and "QQ： 1234 5678" are caught.
//! - **Phone numbers** are read from *digit runs*: digits with separators between them
//!   (whitespace, `-`, `.`, `(`, `)`, `–`, `—`), such as `138 0013 8000`, `138.0013.8000` or
//!   `(021)12345678`. A run is made of *groups* (the digits between separators), and a
//!   number is made of whole consecutive groups, never of part of one. A mobile number is
//!   exactly 11 digits starting 13–19 (`+86` may precede it); a landline is an area code
//!   (0 and 2–3 more digits) as one group followed by 7–8 more digits not starting with 0.
//!   So an order number (a longer run of digits, `2026112712345`) is no phone number, and
//!   neither is a substring of it; prices (`12.50`), dates (`2026-11-27`) and times
//!   (`12:30`, the colon separates nothing) never add up to one.
use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

#[expect(clippy::expect_used, reason = "a literal pattern: the unit tests compile it")]
static ACCOUNT_REQUEST: LazyLock<Regex> = LazyLock::new(|| {
    // On the normalised text without whitespace. 参加/增加/追加微信… is not "add on WeChat".
    Regex::new(concat!(
        r"支付宝(?:号|[账帐][号户])",
        r"|(?:微信|v信)号",
        r"|(?:^|[^参增追])加(?:我|个|一下|下)?(?:微信|v信)",
        r"|qq号",
        r"|wechat",
        r"|alipayaccount",
    ))
    .expect("account request regex")
});
#[expect(clippy::expect_used, reason = "a literal pattern: the unit tests compile it")]
static QQ_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    // On the normalised text without whitespace: "qq:12345678", "qq号码是12345678", and
    // "12345678(qq)" — but not "12345678 QQ音乐", where "QQ" starts another word.
    Regex::new(r"qq(?:号码|号|群)?[:是为]?[1-9][0-9]{4,10}|(?:^|[^0-9])[1-9][0-9]{4,10}\(?qq(?:$|[^a-z\p{Han}])")
        .expect("qq regex")
});
#[expect(clippy::expect_used, reason = "a literal pattern: the unit tests compile it")]
static DIGIT_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\+)?[0-9]+(?:[\s\-.()–—]+[0-9]+)*").expect("digit run regex"));
#[expect(clippy::expect_used, reason = "a literal pattern: the unit tests compile it")]
static DIGIT_GROUP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[0-9]+").expect("digit group regex"));

/// Why `text` solicits off-platform contact, or `None` when it does not.
pub fn off_platform_contact(text: &str) -> Option<&'static str> {
    let normal: String = text.nfkc().collect::<String>().to_lowercase();
    let compact: String = normal.chars().filter(|c| !c.is_whitespace()).collect();
    if ACCOUNT_REQUEST.is_match(&compact) {
        return Some("asks for an Alipay, WeChat or QQ account");
    }
    if QQ_NUMBER.is_match(&compact) {
        return Some("contains a QQ number");
    }
    if has_phone_number(&normal) {
        return Some("contains a phone number");
    }
    None
}

/// Does some sequence of whole consecutive digit groups of a run make a phone number?
fn has_phone_number(normal: &str) -> bool {
    DIGIT_RUN.captures_iter(normal).any(|run| {
        let after_plus = run.get(1).is_some();
        let groups: Vec<&str> = DIGIT_GROUP.find_iter(&run[0]).map(|g| g.as_str()).collect();
        (0..groups.len()).any(|first| {
            let mut digits = String::new();
            for (taken, group) in groups[first..].iter().enumerate() {
                digits.push_str(group);
                let subscriber = &digits[groups[first].len()..];
                if is_mobile(&digits)
                    || (after_plus && first == 0 && digits.strip_prefix("86").is_some_and(is_mobile))
                    || (taken > 0 && is_area_code(groups[first]) && is_subscriber(subscriber))
                {
                    return true;
                }
                if digits.len() > 13 {
                    break;
                }
            }
            false
        })
    })
}

/// 11 digits, 13… to 19… (mainland mobile numbers).
fn is_mobile(digits: &str) -> bool {
    let b = digits.as_bytes();
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])
}

/// 0 then 2–3 digits, the first not 0 (`021`, `0755`).
fn is_area_code(group: &str) -> bool {
    let b = group.as_bytes();
    (3..=4).contains(&b.len()) && b[0] == b'0' && b[1] != b'0'
}

/// 7–8 digits, the first not 0.
fn is_subscriber(digits: &str) -> bool {
    (7..=8).contains(&digits.len()) && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_groups_that_are_no_phone_number_pass() {
        for text in [
            "批次 12345 7654321", // not an area code before a subscriber number
            "批次 123 7654321",   // three digits, but no leading 0
            "房间 021 99 号",     // an area code, but a subscriber number is 7–8 digits
            "编号 021 0123456",   // …and never starts with 0
            "批次 1234 7654321",  // four digits, no leading 0
        ] {
            assert_eq!(off_platform_contact(text), None, "{text}");
        }
        // Each digit of those rules, on the other side: these are phone numbers.
        for text in ["电话 021 7654321", "电话 0755 87654321"] {
            assert_eq!(off_platform_contact(text), Some("contains a phone number"), "{text}");
        }
    }

    #[test]
    fn solicitations_are_caught() {
        for (text, why) in [
            ("请加微信 abc123 联系", "account"),
            ("麻烦告诉我您的支付宝账号", "account"),
            ("您的支付宝号是多少？", "account"),
            ("支付宝帐号发一下", "account"),
            ("把支付宝账户告诉我", "account"),
            ("请提供支付宝 账号", "account"),
            ("ＡＬＩＰＡＹ　ａｃｃｏｕｎｔ please", "account"),
            ("send your Alipay account", "account"),
            ("微信号发我一下", "account"),
            ("微 信 号 发我一下", "account"),
            ("加 微 信 详聊", "account"),
            ("加我微信", "account"),
            ("加个微信吧", "account"),
            ("加V信", "account"),
            ("V信号多少", "account"),
            ("Add me on WeChat please", "account"),
            ("add me on we chat", "account"),
            ("QQ号多少", "account"),
            ("ｑｑ号多少", "account"),
            ("加我QQ: 12345678", "QQ"),
            ("QQ：12345678", "QQ"),
            ("QQ：１２３４５６７８", "QQ"),
            ("qq 987654321", "QQ"),
            ("Q Q 9876 54321", "QQ"),
            ("联系 12345678(QQ)", "QQ"),
            ("联系 12345678 QQ", "QQ"),
            ("12345678 QQ，加我", "QQ"),
            ("联系 12345678（ＱＱ）", "QQ"),
            ("加QQ群 1234567", "QQ"),
            ("打电话 13800138000", "phone"),
            ("有问题请拨打１３８００１３８０００", "phone"),
            ("电话 138-0013-8000 找我", "phone"),
            ("电话 138.0013.8000", "phone"),
            ("电话 138 0013 8000", "phone"),
            ("电话 138　0013　8000", "phone"),
            ("电话 138－0013－8000", "phone"),
            ("+86 139 1234 5678", "phone"),
            ("+8613912345678", "phone"),
            ("86-139-1234-5678", "phone"),
            ("补差价12.50元 13800138000", "phone"),
            ("tel13800138000", "phone"),
            ("座机 021-12345678", "phone"),
            ("座机 (021)12345678", "phone"),
            ("座机（０２１）１２３４５６７８", "phone"),
            ("座机 0755 1234 5678", "phone"),
            ("座机 0755-1234567", "phone"),
        ] {
            let found = off_platform_contact(text);
            assert!(found.is_some_and(|w| w.contains(why)), "{text}: {found:?}");
        }
    }

    #[test]
    fn ordinary_messages_pass() {
        for text in [
            "运费已退回，请查收",
            "补差价 12.50 元，订单 DEMO-0001",
            "补差价 6.50 元",
            "¥12.50",
            "￥１２．５０",
            "12.50元",
            "抱歉发错颜色，补偿 5 元",
            "order 2026112612345 refund",
            "订单 2026112712345",
            // Decision (README): 13 digits without a `+` are a number like an order's, not a
            // mobile number with its country code; "+86…" and "86-139…" are phone numbers.
            "订单 8613800138000",
            "订单号：2026112712345",
            "订单 261127-512345678901234",
            "订单 DEMO-0005",
            "2026-11-27 已发货",
            "2026-11-27 12:30 已处理",
            "12:30 前处理",
            "2026/11/27 13:00",
            "快递单号 SF1380013800012",
            "QQ音乐会员不在本次补偿范围",
            "订单 2026112712345 QQ音乐会员补偿",
            "会员号 12345678 QQ会员不在范围",
            "已通过平台转账，请在支付宝零钱查看",
            "请在微信零钱查看，或在支付宝账单里查看",
            "感谢参加微信活动",
            "数量 3 件，每件 2.00 元，共 6.00 元",
            "第 1 次补偿",
            "补偿 10 元（运费 8 元 + 差价 2 元）",
        ] {
            assert_eq!(off_platform_contact(text), None, "{text}");
        }
    }
}
