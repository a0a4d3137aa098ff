//! Which message (variant) a person gets: drawn by weight, but stable, so a
//! person sees the same variant every time and the split is reproducible.

use xxhash_rust::xxh3::xxh3_64;

use crate::def::MessageDef;

/// The index of the message `person` gets from `campaign`: each message
/// with a share of people proportional to its weight, the same person
/// always getting the same one while the messages do not change. `0` when
/// there are no messages or no weight.
pub fn choose_variant(messages: &[MessageDef], campaign: &str, person: &str) -> usize {
    let total: u64 = messages.iter().map(|m| u64::from(m.weight)).sum();
    if total == 0 {
        return 0;
    }
    let mut key = Vec::with_capacity(campaign.len() + 1 + person.len());
    key.extend_from_slice(campaign.as_bytes());
    key.push(0);
    key.extend_from_slice(person.as_bytes());
    let mut point = xxh3_64(&key) % total;
    for (i, m) in messages.iter().enumerate() {
        let weight = u64::from(m.weight);
        if point < weight {
            return i;
        }
        point -= weight;
    }
    messages.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(weights: &[u32]) -> Vec<MessageDef> {
        weights
            .iter()
            .map(|&weight| MessageDef {
                name: format!("m{weight}"),
                weight,
                subject: String::new(),
                html: None,
                text: None,
            })
            .collect()
    }

    #[test]
    fn splits_by_weight_and_is_stable() {
        let m = messages(&[1, 3]);
        let mut counts = [0usize; 2];
        for i in 0..20_000 {
            let person = format!("p{i}");
            let v = choose_variant(&m, "c", &person);
            assert_eq!(v, choose_variant(&m, "c", &person));
            counts[v] += 1;
        }
        // 25% and 75%, give or take.
        assert!((4_500..5_500).contains(&counts[0]), "{counts:?}");
        // Another campaign splits people differently.
        let differ = (0..100)
            .filter(|i| {
                let p = format!("p{i}");
                choose_variant(&m, "c", &p) != choose_variant(&m, "d", &p)
            })
            .count();
        assert!(differ > 10);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(choose_variant(&[], "c", "p"), 0);
        assert_eq!(choose_variant(&messages(&[0, 0]), "c", "p"), 0);
        assert_eq!(choose_variant(&messages(&[0, 5]), "c", "p"), 1);
        assert_eq!(choose_variant(&messages(&[7]), "c", "p"), 0);
    }
}
