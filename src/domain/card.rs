//! Receiving accounts on account cards (§4.1): validation and masking. Pure.
use std::sync::LazyLock;

use regex::Regex;

pub use super::vocab::ReceivingAccountKind as AccountKind;

/// A validated receiving account, as the buyer submitted it on a card: where a retried
/// transfer goes. Its `Debug` shows the number masked, so a logged transfer never holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceivingAccount {
    pub kind: AccountKind,
    /// Normalised by [`normalise`].
    pub number: String,
    /// The account holder's name, which the channel checks against the account.
    pub holder: String,
}

impl std::fmt::Debug for ReceivingAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivingAccount")
            .field("kind", &self.kind)
            .field("number", &mask(self.kind, &self.number))
            .field("holder", &self.holder)
            .finish()
    }
}

/// Why an account number was refused; the message is for the buyer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAccount(pub &'static str);

/// An account card is open this long.
pub const CARD_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(72);

/// The merchant may send a new card at most this often per payout (a card "not received" is
/// resent, not sprayed).
pub const RESEND_INTERVAL: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// May a new card be sent now, the payout's newest card having been sent at `last_sent`?
pub fn may_resend(last_sent: Option<chrono::DateTime<chrono::Utc>>, now: chrono::DateTime<chrono::Utc>) -> bool {
    last_sent.is_none_or(|sent| now - sent >= RESEND_INTERVAL)
}

#[expect(clippy::expect_used, reason = "a literal pattern: the unit tests compile it")]
static MOBILE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^1[3-9][0-9]{9}$").expect("mobile"));
#[expect(clippy::expect_used, reason = "a literal pattern: the unit tests compile it")]
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$").expect("email")
});

/// The Luhn checksum of a string of digits.
pub fn luhn(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.chars().rev().enumerate() {
        let Some(mut d) = c.to_digit(10) else { return false };
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// Validates and normalises an account number: an Alipay account is a mainland mobile number
/// or an e-mail address; a bank card is 16–19 digits passing the Luhn check (spaces allowed).
pub fn normalise(kind: AccountKind, account_no: &str) -> Result<String, InvalidAccount> {
    let raw = account_no.trim();
    match kind {
        AccountKind::Alipay => {
            if MOBILE.is_match(raw) || EMAIL.is_match(raw) {
                Ok(raw.to_owned())
            } else {
                Err(InvalidAccount("an Alipay account is a mobile number or an e-mail address"))
            }
        }
        AccountKind::BankCard => {
            let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
            if !(16..=19).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(InvalidAccount("a bank card number has 16 to 19 digits"));
            }
            if !luhn(&digits) {
                return Err(InvalidAccount("this bank card number fails its check digit"));
            }
            Ok(digits)
        }
    }
}

/// What may be shown of an account: `138****0000`, `a***@example.com`, `**** 1234`.
pub fn mask(kind: AccountKind, account_no: &str) -> String {
    match kind {
        AccountKind::BankCard => format!("**** {}", &account_no[account_no.len().saturating_sub(4)..]),
        AccountKind::Alipay => match account_no.split_once('@') {
            Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
            None if account_no.len() == 11 => format!("{}****{}", &account_no[..3], &account_no[7..]),
            None => "****".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transfer may be logged: its account shows masked, the holder as given.
    #[test]
    fn a_receiving_account_debugs_masked() {
        let account =
            ReceivingAccount { kind: AccountKind::Alipay, number: "13800138000".into(), holder: "张三".into() };
        let shown = format!("{account:?}");
        assert!(!shown.contains("13800138000"), "{shown}");
        assert!(shown.contains("138****8000") && shown.contains("张三") && shown.contains("Alipay"), "{shown}");
    }

    #[test]
    fn luhn_accepts_valid_numbers_only() {
        assert!(luhn("4111111111111111"));
        // Doubled digits above 9 (5–9 in every other place) lose 9.
        assert!(luhn("79927398713") && luhn("5555555555554444"));
        assert!(!luhn("79927398710"));
        assert!(luhn("6222020000000000000"));
        assert!(!luhn("6222020000000000008"));
        assert!(!luhn("4111111111111112"));
        assert!(!luhn(""));
    }

    #[test]
    fn accounts_are_validated_by_kind() {
        assert_eq!(normalise(AccountKind::Alipay, " 13800138000 ").unwrap(), "13800138000");
        assert!(normalise(AccountKind::Alipay, "buyer@example.com").is_ok());
        for bad in ["1380013800", "23800138000", "buyer@", "not an account"] {
            assert!(normalise(AccountKind::Alipay, bad).is_err(), "{bad}");
        }
        assert_eq!(normalise(AccountKind::BankCard, "4111 1111 1111 1111").unwrap(), "4111111111111111");
        for bad in ["411111111111111", "41111111111111111111", "4111111111111112", "4111-1111-1111-1111"] {
            assert!(normalise(AccountKind::BankCard, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_card_is_resent_at_most_once_a_minute() {
        use chrono::{TimeDelta, TimeZone, Utc};
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap();
        assert!(may_resend(None, now));
        assert!(may_resend(Some(now - TimeDelta::seconds(60)), now));
        assert!(!may_resend(Some(now - TimeDelta::seconds(59)), now));
    }

    #[test]
    fn a_bank_card_needs_16_to_19_digits_even_when_its_check_digit_passes() {
        // 15 digits passing Luhn (an Amex test number): still refused, for its length.
        assert!(luhn("378282246310005"));
        assert_eq!(
            normalise(AccountKind::BankCard, "378282246310005"),
            Err(InvalidAccount("a bank card number has 16 to 19 digits"))
        );
        assert_eq!(
            normalise(AccountKind::BankCard, "411111111111111x"),
            Err(InvalidAccount("a bank card number has 16 to 19 digits"))
        );
        // An Alipay value that is neither 11 digits nor an e-mail shows nothing.
        assert_eq!(mask(AccountKind::Alipay, "12345"), "****");
    }

    #[test]
    fn masks_never_show_the_whole_number() {
        assert_eq!(mask(AccountKind::Alipay, "13800130000"), "138****0000");
        assert_eq!(mask(AccountKind::Alipay, "buyer@example.com"), "b***@example.com");
        assert_eq!(mask(AccountKind::BankCard, "6222020000000000008"), "**** 0008");
    }
}
