//! Experiment results: who was exposed to which arm of a campaign (their
//! first `Experiment Viewed` event with the campaign as `experiment_id`),
//! whether they reached the campaign's goal within its window after it, what
//! they spent, and what the statistics say (`seglab-stats`): per arm against
//! the control (the holdout when there is one, else the first message), on
//! the conversion rate and on revenue per exposed person, overall and per
//! segment.
//!
//! Everything is read from the engine's timelines, so an experiment run by
//! seglab and one imported from elsewhere (the same event) read alike.

use std::collections::{BTreeMap, HashMap};

use seglab_segments::Segments;
use seglab_stats::{
    Estimate, Summary, bayes_compare, holm, relative_lift, sample_ratio_mismatch, sequential_test,
    shrink, welch_t_test,
};
use serde::Serialize;
use serde_json::Value;

use crate::def::CampaignDef;
use crate::members::Membership;
use crate::plan::{GLOBAL_HOLDOUT, HOLDOUT};
use crate::worker::EXPOSURE_EVENT;

/// The level of every interval.
pub const ALPHA: f64 = 0.05;
/// The sample per arm the always-valid intervals are tuned for (they are
/// narrowest there; any other size stays valid, only wider).
pub const SEQUENTIAL_TARGET: u64 = 1_000;

/// One exposed person.
#[derive(Debug, Clone, PartialEq)]
struct Exposed {
    person: i64,
    arm: String,
    /// Whether the goal happened within the window after the exposure.
    converted: f64,
    /// Revenue of goal events in that window.
    revenue: f64,
    /// Revenue of goal events in the window before the exposure (CUPED).
    before: f64,
}

/// One arm's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmResult {
    pub arm: String,
    pub exposed: u64,
    pub conversions: u64,
    pub conversion_rate: f64,
    pub revenue: f64,
    pub revenue_per_person: f64,
}

/// An arm against the control, on one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub arm: String,
    pub control: String,
    /// `conversion` or `revenue`.
    pub metric: &'static str,
    pub control_mean: f64,
    pub arm_mean: f64,
    /// Welch: the difference of means, its interval and p-value.
    pub difference: f64,
    pub interval: [f64; 2],
    pub p_value: f64,
    /// Holm-adjusted across every comparison of the table.
    pub p_adjusted: f64,
    /// Relative lift with its delta-method interval.
    pub lift: f64,
    pub lift_interval: [f64; 2],
    /// Bayesian (flat prior): chance the arm beats the control, and the
    /// expected loss of choosing it.
    pub chance_to_win: f64,
    pub expected_loss: f64,
    /// The always-valid interval (safe to look at every day).
    pub sequential_interval: [f64; 2],
    pub sequential_significant: bool,
    /// Revenue only: variance removed by CUPED (pre-period revenue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuped_variance_reduction: Option<f64>,
}

/// A segment's effect of the best arm, raw and shrunk toward the overall one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentEffect {
    pub segment: String,
    pub exposed: u64,
    pub raw_lift: f64,
    pub raw_interval: [f64; 2],
    pub shrunk_lift: f64,
    pub shrunk_interval: [f64; 2],
}

/// Everything `results` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Results {
    pub experiment: String,
    /// Only members of this segment, when asked.
    pub segment: Option<String>,
    pub goal: String,
    pub window_days: f64,
    pub arms: Vec<ArmResult>,
    pub comparisons: Vec<Comparison>,
    /// Pearson chi-square of the exposures against the planned shares.
    pub srm_p_value: Option<f64>,
    pub srm_alert: bool,
    /// Per segment (the conversion lift of the leading arm), raw and shrunk.
    pub by_segment: Vec<SegmentEffect>,
    /// What to do, in one sentence.
    pub hint: String,
    /// What could not be computed, and why (never a NaN in the numbers).
    pub notes: Vec<String>,
}

/// The arms a campaign plans, with their shares in percent.
fn planned(def: &CampaignDef) -> Vec<(String, f64)> {
    let mut arms: Vec<(String, f64)> = Vec::new();
    if def.holdout > 0 {
        arms.push((HOLDOUT.to_owned(), f64::from(def.holdout)));
    }
    for m in &def.messages {
        arms.push((m.name.clone(), f64::from(m.weight)));
    }
    arms
}

/// Every person exposed to `experiment`, with their arm and outcomes.
fn exposed(segments: &Segments, experiment: &str, goal: &str, window: i64) -> Vec<Exposed> {
    let mut first: HashMap<i64, (i64, String)> = HashMap::new();
    segments.with_engine(|e| {
        e.timelines()
            .for_each_named(EXPOSURE_EVENT, i64::MIN, |person, time, props| {
                if props.get("experiment_id").and_then(Value::as_str) != Some(experiment) {
                    return;
                }
                let Some(arm) = props
                    .get("variation_id")
                    .and_then(Value::as_str)
                    .filter(|a| *a != GLOBAL_HOLDOUT)
                else {
                    return;
                };
                let entry = first.entry(person).or_insert((time, arm.to_owned()));
                if time < entry.0 {
                    *entry = (time, arm.to_owned());
                }
            });
    });
    let mut out: Vec<Exposed> = first
        .into_iter()
        .map(|(person, (at, arm))| {
            let events = segments.with_engine(|e| e.timelines().person_events(person));
            let (mut converted, mut revenue, mut before) = (0.0, 0.0, 0.0);
            for ev in events.iter().filter(|ev| ev.name == goal) {
                let value = ev
                    .properties
                    .get("revenue")
                    .and_then(Value::as_f64)
                    .filter(|v| v.is_finite())
                    .unwrap_or(0.0);
                if ev.time > at && ev.time <= at.saturating_add(window) {
                    converted = 1.0;
                    revenue += value;
                } else if ev.time <= at && ev.time > at.saturating_sub(window) {
                    before += value;
                }
            }
            Exposed {
                person,
                arm,
                converted,
                revenue,
                before,
            }
        })
        .collect();
    out.sort_by_key(|x| x.person);
    out
}

fn pair(i: seglab_stats::Interval) -> [f64; 2] {
    [i.low, i.high]
}

/// Compares `arm` with `control` on one metric; `None` with a note when the
/// data cannot say (no exposures, no variance).
fn compare(
    metric: &'static str,
    arm: &str,
    control: &str,
    a: &[f64],
    c: &[f64],
    pre: Option<(&[f64], &[f64])>,
    notes: &mut Vec<String>,
) -> Option<Comparison> {
    let run = || -> seglab_stats::Result<Comparison> {
        let (sa, sc) = (Summary::from_values(a)?, Summary::from_values(c)?);
        let welch = welch_t_test(&sc, &sa, ALPHA)?;
        let lift = relative_lift(&sc, &sa, ALPHA)?;
        let bayes = bayes_compare(&sc, &sa)?;
        let seq = sequential_test(&sc, &sa, ALPHA, SEQUENTIAL_TARGET)?;
        let cuped = match pre {
            Some((pa, pc)) => seglab_stats::cuped(&[
                seglab_stats::CupedArm { y: c, x: pc },
                seglab_stats::CupedArm { y: a, x: pa },
            ])
            .ok()
            .map(|cu| cu.arms.iter().map(|x| x.variance_reduction).sum::<f64>() / 2.0),
            None => None,
        };
        Ok(Comparison {
            arm: arm.to_owned(),
            control: control.to_owned(),
            metric,
            control_mean: sc.mean(),
            arm_mean: sa.mean(),
            difference: welch.difference,
            interval: pair(welch.interval),
            p_value: welch.p_value,
            p_adjusted: welch.p_value,
            lift: lift.lift,
            lift_interval: pair(lift.interval),
            chance_to_win: bayes.chance_to_beat_control,
            expected_loss: bayes.expected_loss,
            sequential_interval: pair(seq.interval),
            sequential_significant: seq.significant,
            cuped_variance_reduction: cuped.filter(|v| v.is_finite()),
        })
    };
    match run() {
        Ok(c) => Some(c),
        Err(e) => {
            notes.push(format!("{arm} vs {control} on {metric}: {e}"));
            None
        }
    }
}

/// The results of `def`'s experiment, for members of `only` when given;
/// `per_segment` lists segments to break the leading arm's effect down by.
pub fn results(
    segments: &Segments,
    members: &dyn Membership,
    def: &CampaignDef,
    only: Option<&str>,
    per_segment: &[String],
) -> Results {
    let (goal, window) = match &def.goal {
        Some(g) => (g.event.clone(), g.within_ms),
        None => ("Order Completed".to_owned(), 7 * 86_400_000),
    };
    let mut notes = Vec::new();
    if def.goal.is_none() {
        notes.push("the campaign names no goal: Order Completed within 7 days is used".into());
    }
    let mut all = exposed(segments, &def.name, &goal, window);
    if let Some(s) = only {
        let m = members.members(s).unwrap_or_default();
        all.retain(|x| m.contains(x.person as u64));
    }
    let plan = planned(def);
    let mut by_arm: BTreeMap<String, Vec<&Exposed>> = BTreeMap::new();
    for x in &all {
        by_arm.entry(x.arm.clone()).or_default().push(x);
    }
    let arms: Vec<ArmResult> = plan
        .iter()
        .map(|(name, _)| {
            let xs = by_arm.get(name).map(Vec::as_slice).unwrap_or(&[]);
            let n = xs.len() as u64;
            let conversions = xs.iter().filter(|x| x.converted > 0.0).count() as u64;
            let revenue: f64 = xs.iter().map(|x| x.revenue).sum();
            ArmResult {
                arm: name.clone(),
                exposed: n,
                conversions,
                conversion_rate: if n > 0 {
                    conversions as f64 / n as f64
                } else {
                    0.0
                },
                revenue,
                revenue_per_person: if n > 0 { revenue / n as f64 } else { 0.0 },
            }
        })
        .collect();
    // Arms seen in the data that the campaign no longer plans (edited).
    for name in by_arm.keys() {
        if !plan.iter().any(|(p, _)| p == name) {
            notes.push(format!(
                "exposures to {name:?}, which the campaign no longer has"
            ));
        }
    }
    let (srm_p_value, srm_alert) = {
        let observed: Vec<u64> = arms.iter().map(|a| a.exposed).collect();
        let weights: Vec<f64> = plan.iter().map(|(_, w)| *w).collect();
        if plan.len() < 2 {
            (None, false)
        } else {
            match sample_ratio_mismatch(&observed, &weights) {
                Ok(s) => (Some(s.p_value), s.mismatch),
                Err(e) => {
                    notes.push(format!("sample ratio: {e}"));
                    (None, false)
                }
            }
        }
    };
    let control = plan.first().map(|(n, _)| n.clone()).unwrap_or_default();
    let values = |arm: &str, f: fn(&Exposed) -> f64| -> Vec<f64> {
        by_arm
            .get(arm)
            .map(|xs| xs.iter().map(|x| f(x)).collect())
            .unwrap_or_default()
    };
    let mut comparisons = Vec::new();
    for (arm, _) in plan.iter().skip(1) {
        let (a, c) = (
            values(arm, |x| x.converted),
            values(&control, |x| x.converted),
        );
        comparisons.extend(compare(
            "conversion",
            arm,
            &control,
            &a,
            &c,
            None,
            &mut notes,
        ));
        let (a, c) = (values(arm, |x| x.revenue), values(&control, |x| x.revenue));
        let (pa, pc) = (values(arm, |x| x.before), values(&control, |x| x.before));
        comparisons.extend(compare(
            "revenue",
            arm,
            &control,
            &a,
            &c,
            Some((&pa, &pc)),
            &mut notes,
        ));
    }
    if let Ok(adjusted) = holm(&comparisons.iter().map(|c| c.p_value).collect::<Vec<_>>()) {
        for (c, p) in comparisons.iter_mut().zip(adjusted) {
            c.p_adjusted = p;
        }
    }
    // The leading arm on conversion, broken down by segment.
    let leader = comparisons
        .iter()
        .filter(|c| c.metric == "conversion")
        .max_by(|a, b| a.chance_to_win.total_cmp(&b.chance_to_win))
        .map(|c| c.arm.clone());
    let mut by_segment = Vec::new();
    if let Some(leader) = &leader
        && only.is_none()
    {
        let mut raw = Vec::new();
        for s in per_segment {
            let m = members.members(s).unwrap_or_default();
            let pick = |arm: &str| -> Vec<f64> {
                all.iter()
                    .filter(|x| x.arm == arm && m.contains(x.person as u64))
                    .map(|x| x.converted)
                    .collect()
            };
            let (a, c) = (pick(leader), pick(&control));
            let n = (a.len() + c.len()) as u64;
            let estimate = Summary::from_values(&a)
                .and_then(|sa| Ok((sa, Summary::from_values(&c)?)))
                .and_then(|(sa, sc)| welch_t_test(&sc, &sa, ALPHA));
            if let Ok(w) = estimate {
                raw.push((s.clone(), n, w));
            }
        }
        let estimates: Vec<Estimate> = raw
            .iter()
            .map(|(_, _, w)| Estimate {
                effect: w.difference,
                standard_error: w.standard_error,
            })
            .collect();
        match shrink(&estimates, ALPHA) {
            Ok(sh) => {
                for ((s, n, _), e) in raw.iter().zip(sh.segments) {
                    by_segment.push(SegmentEffect {
                        segment: s.clone(),
                        exposed: *n,
                        raw_lift: e.raw,
                        raw_interval: pair(e.raw_interval),
                        shrunk_lift: e.shrunk,
                        shrunk_interval: pair(e.shrunk_interval),
                    });
                }
            }
            Err(e) if !raw.is_empty() => notes.push(format!("per segment: {e}")),
            Err(_) => {}
        }
    }
    let hint = hint(&comparisons, srm_alert, &arms);
    Results {
        experiment: def.name.clone(),
        segment: only.map(str::to_owned),
        goal,
        window_days: window as f64 / 86_400_000.0,
        arms,
        comparisons,
        srm_p_value,
        srm_alert,
        by_segment,
        hint,
        notes,
    }
}

/// What to do: never ship on a sample ratio mismatch; ship an arm whose
/// always-valid interval excludes zero on conversion with a positive
/// difference; otherwise keep running.
fn hint(comparisons: &[Comparison], srm: bool, arms: &[ArmResult]) -> String {
    if srm {
        return "sample ratio mismatch: the arms' sizes are not the planned shares; \
                check the assignment before trusting any result"
            .into();
    }
    if arms.iter().all(|a| a.exposed == 0) {
        return "no exposures yet".into();
    }
    let winner = comparisons
        .iter()
        .filter(|c| c.metric == "conversion" && c.sequential_significant && c.difference > 0.0)
        .max_by(|a, b| a.difference.total_cmp(&b.difference));
    if let Some(w) = winner {
        return format!(
            "{} beats {} ({:+.1} % conversion, {:.0} % chance to win): ship {}",
            w.arm,
            w.control,
            w.lift * 100.0,
            w.chance_to_win * 100.0,
            w.arm
        );
    }
    let leader = comparisons
        .iter()
        .filter(|c| c.metric == "conversion" && c.difference > 0.0 && c.p_adjusted < ALPHA)
        .max_by(|a, b| a.chance_to_win.total_cmp(&b.chance_to_win));
    if let Some(l) = leader {
        return format!(
            "{} leads {} ({:+.1} % conversion, p = {:.3} after Holm, {:.0} % chance to win), \
             but the always-valid interval still includes no difference: keep it running \
             before shipping {}",
            l.arm,
            l.control,
            l.lift * 100.0,
            l.p_adjusted,
            l.chance_to_win * 100.0,
            l.arm
        );
    }
    let loser = comparisons
        .iter()
        .find(|c| c.metric == "conversion" && c.sequential_significant && c.difference < 0.0);
    if let Some(l) = loser {
        return format!("{} does worse than {}: stop it", l.arm, l.control);
    }
    "no arm is ahead yet with confidence: keep it running".into()
}

/// What all marketing campaigns together earn: everyone in the global holdout
/// against everyone else, on orders (`Order Completed`) and their revenue
/// over the last `days` days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalResults {
    pub share: u32,
    pub days: u32,
    pub holdout: ArmResult,
    pub reached: ArmResult,
    /// Reached against the holdout, on conversion and on revenue per person.
    pub comparisons: Vec<Comparison>,
    /// (revenue per reached person − per held-out person) × reached people.
    pub incremental_revenue: Option<f64>,
    pub notes: Vec<String>,
}

/// See [`GlobalResults`].
pub fn global(segments: &Segments, share: u32, days: u32, now: i64) -> GlobalResults {
    let since = now.saturating_sub(i64::from(days) * 86_400_000);
    let mut revenue: HashMap<i64, f64> = HashMap::new();
    let mut people: Vec<i64> = Vec::new();
    segments.with_engine(|e| {
        let t = e.timelines();
        t.for_each_named("Order Completed", since, |person, time, props| {
            if time <= now {
                let v = props
                    .get("revenue")
                    .and_then(Value::as_f64)
                    .filter(|v| v.is_finite())
                    .unwrap_or(0.0);
                *revenue.entry(person).or_default() += v;
            }
        });
        people = t.people().map(|(_, id)| id).collect();
    });
    let mut arms: [(Vec<f64>, Vec<f64>); 2] = Default::default();
    for p in people {
        let held = crate::plan::in_global_holdout(share, p);
        let r = revenue.get(&p).copied();
        let arm = &mut arms[usize::from(!held)];
        arm.0.push(if r.is_some() { 1.0 } else { 0.0 });
        arm.1.push(r.unwrap_or(0.0));
    }
    let result = |name: &str, (conv, rev): &(Vec<f64>, Vec<f64>)| {
        let n = conv.len() as u64;
        let conversions = conv.iter().filter(|c| **c > 0.0).count() as u64;
        let total: f64 = rev.iter().sum();
        ArmResult {
            arm: name.to_owned(),
            exposed: n,
            conversions,
            conversion_rate: if n > 0 {
                conversions as f64 / n as f64
            } else {
                0.0
            },
            revenue: total,
            revenue_per_person: if n > 0 { total / n as f64 } else { 0.0 },
        }
    };
    let holdout = result(GLOBAL_HOLDOUT, &arms[0]);
    let reached = result("reached", &arms[1]);
    let mut notes = Vec::new();
    if share == 0 {
        notes.push("the policy has no global holdout (`global_holdout` in [policy])".into());
    }
    let mut comparisons = Vec::new();
    comparisons.extend(compare(
        "conversion",
        "reached",
        GLOBAL_HOLDOUT,
        &arms[1].0,
        &arms[0].0,
        None,
        &mut notes,
    ));
    comparisons.extend(compare(
        "revenue",
        "reached",
        GLOBAL_HOLDOUT,
        &arms[1].1,
        &arms[0].1,
        None,
        &mut notes,
    ));
    let incremental_revenue = (holdout.exposed > 0 && reached.exposed > 0).then_some(
        (reached.revenue_per_person - holdout.revenue_per_person) * reached.exposed as f64,
    );
    GlobalResults {
        share,
        days,
        holdout,
        reached,
        comparisons,
        incremental_revenue,
        notes,
    }
}
