//! Offers: a coupon code per person and campaign, and when it expires.

use rand::Rng;

use crate::context::OfferCtx;
use crate::def::OfferDef;

/// The characters of generated codes: no `0 O 1 I` to misread.
pub const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// How many random characters follow the prefix.
pub const CODE_CHARS: usize = 8;

/// `PREFIX-` and 8 random characters of [`ALPHABET`] (32^8, about 10^12
/// codes per prefix; the ledger's unique index catches the rare repeat).
pub fn generate_code<R: Rng + ?Sized>(prefix: &str, rng: &mut R) -> String {
    let mut code = String::with_capacity(prefix.len() + 1 + CODE_CHARS);
    code.push_str(prefix);
    code.push('-');
    for _ in 0..CODE_CHARS {
        code.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    code
}

/// When a code sent at `sent_at` expires (`None`: it does not).
pub fn expires_at(sent_at: i64, offer: &OfferDef) -> Option<i64> {
    offer.valid_for_ms.map(|ms| sent_at.saturating_add(ms))
}

/// What templates see of an offer (`offer.*`).
pub fn offer_context(code: String, sent_at: i64, offer: &OfferDef) -> OfferCtx {
    OfferCtx {
        code,
        discount: offer.discount.clone(),
        expires_at: expires_at(sent_at, offer)
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(|ts| ts.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::def::CodeSource;

    fn offer(valid_for_ms: Option<i64>) -> OfferDef {
        OfferDef {
            codes: CodeSource::Generated {
                prefix: "BACK".into(),
            },
            discount: Some("10%".into()),
            valid_for_ms,
        }
    }

    #[test]
    fn codes_have_the_prefix_and_8_unambiguous_characters() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let code = generate_code("BACK", &mut rng);
            let rest = code.strip_prefix("BACK-").unwrap();
            assert_eq!(rest.len(), CODE_CHARS);
            assert!(rest.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            assert!(seen.insert(code));
        }
        assert_eq!(ALPHABET.len(), 32);
        assert!(!ALPHABET.iter().any(|b| b"01OI".contains(b)));
    }

    #[test]
    fn expiry() {
        assert_eq!(
            expires_at(1_000, &offer(Some(72 * 3_600_000))),
            Some(259_201_000)
        );
        assert_eq!(expires_at(1_000, &offer(None)), None);
        assert_eq!(expires_at(i64::MAX, &offer(Some(1))), Some(i64::MAX));
        let ctx = offer_context(
            "BACK-ABCDEFGH".into(),
            1_796_893_200_000,
            &offer(Some(3_600_000)),
        );
        assert_eq!(ctx.expires_at.as_deref(), Some("2026-12-10T10:00:00Z"));
        assert_eq!(ctx.discount.as_deref(), Some("10%"));
        assert_eq!(
            offer_context("X".into(), i64::MAX, &offer(Some(1))).expires_at,
            None
        );
    }
}
