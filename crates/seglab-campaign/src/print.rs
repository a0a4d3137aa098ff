//! A campaign back as the `[[campaign]]` TOML it checks from (for versions
//! seglab writes itself, such as shipping an experiment's winner).

use std::fmt::Write;

use crate::def::{
    CampaignDef, Cap, Channel, CodeSource, Ladder, MessageDef, OfferDef, Reentry, Trigger,
};
use crate::duration::format_duration;

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn cap(c: &Cap) -> String {
    let channel = c
        .channel
        .map(|ch| format!("channel = {}, ", quoted(ch.as_str())))
        .unwrap_or_default();
    format!(
        "{{ {channel}max = {}, per = {} }}",
        c.max,
        quoted(&format_duration(c.per_ms))
    )
}

fn trigger(out: &mut String, t: &Trigger) {
    out.push_str("[campaign.trigger]\n");
    match t {
        Trigger::Entry {
            delay_ms,
            still_in_segment,
            reentry,
        } => {
            out.push_str("on = \"entry\"\n");
            if *delay_ms > 0 {
                let _ = writeln!(out, "delay = {}", quoted(&format_duration(*delay_ms)));
            }
            let _ = writeln!(out, "still_in_segment = {still_in_segment}");
            let reentry = match reentry {
                Reentry::Once => "once".to_owned(),
                Reentry::EveryEntry => "every_entry".to_owned(),
                Reentry::AtMostEvery(ms) => format_duration(*ms),
            };
            let _ = writeln!(out, "reentry = {}", quoted(&reentry));
        }
        Trigger::Schedule { at, every_ms } => {
            out.push_str("on = \"schedule\"\n");
            let _ = writeln!(
                out,
                "at = {}",
                quoted(&seglab_event::time::format_timestamp(*at))
            );
            if let Some(every) = every_ms {
                let _ = writeln!(out, "every = {}", quoted(&format_duration(*every)));
            }
        }
        Trigger::Decision { placement } => {
            out.push_str("on = \"decision\"\n");
            let _ = writeln!(out, "placement = {}", quoted(placement));
        }
    }
}

fn ladder(out: &mut String, l: &Ladder) {
    out.push_str("[campaign.personalize]\n");
    let _ = writeln!(out, "product_views = {}", l.product_views);
    let _ = writeln!(out, "category_views = {}", l.category_views);
    let _ = writeln!(out, "within = {}", quoted(&format_duration(l.within_ms)));
}

fn offer(out: &mut String, o: &OfferDef) {
    out.push_str("[campaign.offer]\n");
    match &o.codes {
        CodeSource::Generated { prefix } => {
            let _ = writeln!(out, "code_prefix = {}", quoted(prefix));
        }
        CodeSource::Pool => out.push_str("pool = true\n"),
    }
    if let Some(d) = &o.discount {
        let _ = writeln!(out, "discount = {}", quoted(d));
    }
    if let Some(v) = o.valid_for_ms {
        let _ = writeln!(out, "valid_for = {}", quoted(&format_duration(v)));
    }
}

fn message(out: &mut String, m: &MessageDef, weighted: bool) {
    out.push_str("[[campaign.message]]\n");
    let _ = writeln!(out, "name = {}", quoted(&m.name));
    if weighted {
        let _ = writeln!(out, "weight = {}", m.weight);
    }
    if !m.subject.is_empty() {
        let _ = writeln!(out, "subject = {}", quoted(&m.subject));
    }
    if let Some(h) = &m.html {
        let _ = writeln!(out, "html = {}", quoted(h));
    }
    if let Some(t) = &m.text {
        let _ = writeln!(out, "text = {}", quoted(t));
    }
}

/// `def` as a `[[campaign]]` table.
pub fn to_toml(def: &CampaignDef) -> String {
    let mut out = String::from("[[campaign]]\n");
    let _ = writeln!(out, "name = {}", quoted(&def.name));
    if let Some(t) = &def.title {
        let _ = writeln!(out, "title = {}", quoted(t));
    }
    let _ = writeln!(out, "segment = {}", quoted(&def.segment));
    let _ = writeln!(out, "channel = {}", quoted(def.channel.kind().as_str()));
    if let Channel::Webhook { url } = &def.channel {
        let _ = writeln!(out, "webhook_url = {}", quoted(url));
    }
    let _ = writeln!(out, "priority = {}", def.priority);
    if def.transactional {
        out.push_str("transactional = true\n");
    }
    if let Some(g) = &def.goal {
        let _ = writeln!(
            out,
            "goal = {{ event = {}, within = {} }}",
            quoted(&g.event),
            quoted(&format_duration(g.within_ms))
        );
    }
    if let Some(c) = &def.cap {
        let _ = writeln!(out, "cap = {}", cap(c));
    }
    if def.holdout > 0 {
        let _ = writeln!(out, "holdout = {}", def.holdout);
    }
    trigger(&mut out, &def.trigger);
    if let Some(l) = &def.personalize {
        ladder(&mut out, l);
    }
    if let Some(o) = &def.offer {
        offer(&mut out, o);
    }
    for m in &def.messages {
        message(&mut out, m, true);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_starter_campaign_prints_back_to_itself() {
        let starter = include_str!("../../../campaigns/starter.toml");
        let files = [("starter.toml".to_owned(), starter.to_owned())];
        let checked = crate::check_files(&files, &|_| true).unwrap();
        for def in &checked.definitions.campaigns {
            let printed = to_toml(def);
            let again = crate::check_files(&[("p.toml".to_owned(), printed.clone())], &|_| true)
                .unwrap_or_else(|e| panic!("{}\n{printed}", e.rendered));
            assert_eq!(&again.definitions.campaigns[0], def, "{printed}");
        }
    }
}
