"""Expected values for seglab-stats, computed with scipy, statsmodels and numpy.

Writes vectors.json next to this file; the Rust integration test reads it.
Every input is fixed (seeded numpy generators, literal lists), so running
this again reproduces the file up to library versions, which it records.

    python3 -m venv .venv
    .venv/bin/pip install scipy statsmodels xxhash
    .venv/bin/python generate.py
"""

import json
import math
import platform
import struct
from pathlib import Path

import numpy as np
import scipy
import statsmodels
import xxhash
from scipy import integrate, optimize, stats
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

rng = np.random.default_rng(20240611)


def floats(values):
    return [float(v) for v in values]


def bernoulli(conversions, exposures):
    return np.r_[np.ones(conversions), np.zeros(exposures - conversions)]


# Arms are given either as raw values, as conversions, or as a summary
# (n, mean, sample variance); `arrays` turns the first two into data for
# scipy, and `summary` all three into (n, mean, variance).
def arm_values(values):
    return {"values": floats(values)}


def arm_conversions(conversions, exposures):
    return {"conversions": conversions, "exposures": exposures}


def arm_summary(n, mean, variance):
    return {"summary": {"n": n, "mean": mean, "variance": variance}}


def array(arm):
    if "values" in arm:
        return np.array(arm["values"])
    if "conversions" in arm:
        return bernoulli(arm["conversions"], arm["exposures"])
    return None


def summary(arm):
    if "summary" in arm:
        s = arm["summary"]
        return s["n"], s["mean"], s["variance"]
    a = array(arm)
    return len(a), float(np.mean(a)), float(np.var(a, ddof=1))


def interval(low, high):
    return {"low": float(low), "high": float(high)}


# --- Welch, relative lift, Bayes, sequential: one list of two-arm cases ---

two_arm_cases = [
    ("normal, unequal variances", arm_values(rng.normal(10.0, 2.0, 40)),
     arm_values(rng.normal(10.8, 3.5, 55)), 0.05),
    ("exponential revenue", arm_values(rng.exponential(25.0, 25)),
     arm_values(rng.exponential(32.0, 30)), 0.10),
    ("two and three values", arm_values([1.0, 2.5]), arm_values([2.0, 4.0, 3.5]), 0.05),
    ("conversions 10 % against 12 %", arm_conversions(100, 1000), arm_conversions(120, 1000), 0.05),
    ("few conversions", arm_conversions(3, 50), arm_conversions(9, 60), 0.01),
    ("one arm without conversions", arm_conversions(4, 40), arm_conversions(0, 40), 0.05),
    ("a million per arm", arm_summary(1_000_000, 0.1, 0.1 * 0.9 * 1_000_000 / 999_999),
     arm_summary(1_000_000, 0.1006, 0.1006 * 0.8994 * 1_000_000 / 999_999), 0.05),
    ("tens of thousands", arm_summary(20_000, 3.2, 9.0), arm_summary(15_000, 3.29, 11.5), 0.05),
    ("just below ten thousand degrees", arm_summary(5_000, 1.0, 4.0),
     arm_summary(5_200, 1.1, 4.4), 0.05),
    ("a strict level", arm_values(rng.normal(0.0, 1.0, 10)),
     arm_values(rng.normal(1.5, 1.2, 12)), 1e-6),
    ("a large negative effect", arm_values(rng.normal(100.0, 5.0, 30)),
     arm_values(rng.normal(60.0, 9.0, 35)), 0.05),
]


def welch(control, treatment, alpha):
    c, t = array(control), array(treatment)
    if c is not None and t is not None:
        res = stats.ttest_ind(t, c, equal_var=False)
        ci = res.confidence_interval(confidence_level=1.0 - alpha)
        statistic, p_value, df = res.statistic, res.pvalue, res.df
        low, high = ci.low, ci.high
    else:
        (nc, mc, vc), (nt, mt, vt) = summary(control), summary(treatment)
        res = stats.ttest_ind_from_stats(mt, math.sqrt(vt), nt, mc, math.sqrt(vc), nc,
                                         equal_var=False)
        statistic, p_value = res.statistic, res.pvalue
        a, b = vt / nt, vc / nc
        df = (a + b) ** 2 / (a * a / (nt - 1) + b * b / (nc - 1))
        q = stats.t.ppf(1.0 - alpha / 2.0, df)
        low, high = mt - mc - q * math.sqrt(a + b), mt - mc + q * math.sqrt(a + b)
    (nc, mc, vc), (nt, mt, vt) = summary(control), summary(treatment)
    se = math.sqrt(vt / nt + vc / nc)
    return {
        "difference": mt - mc,
        "standard_error": se,
        "t": float(statistic),
        "df": float(df),
        "p_value": float(p_value),
        "interval": interval(low, high),
    }


def lift(control, treatment, alpha):
    # None: seglab-stats must return an error (zero control mean or zero
    # standard error).
    (nc, mc, vc), (nt, mt, vt) = summary(control), summary(treatment)
    if mc == 0.0:
        return None
    r = mt / mc
    se = math.sqrt(vt / nt / mc**2 + r**2 * vc / nc / mc**2)
    if se == 0.0:
        return None
    z = stats.norm.isf(alpha / 2.0)
    value = r - 1.0
    return {
        "lift": value,
        "standard_error": se,
        "interval": interval(value - z * se, value + z * se),
        "p_value": float(2.0 * stats.norm.sf(abs(value) / se)),
    }


def bayes(control, treatment):
    (nc, mc, vc), (nt, mt, vt) = summary(control), summary(treatment)
    d, sd = mt - mc, math.sqrt(vt / nt + vc / nc)
    # E[max(X, 0)] by direct integration, not by the closed form.
    loss_t = integrate.quad(lambda x: max(-x, 0.0) * stats.norm.pdf(x, d, sd), d - 12 * sd,
                            d + 12 * sd, points=[0.0] if abs(d) < 12 * sd else None,
                            epsabs=1e-15, epsrel=1e-12, limit=200)[0]
    loss_c = integrate.quad(lambda x: max(x, 0.0) * stats.norm.pdf(x, d, sd), d - 12 * sd,
                            d + 12 * sd, points=[0.0] if abs(d) < 12 * sd else None,
                            epsabs=1e-15, epsrel=1e-12, limit=200)[0]
    return {
        "difference": d,
        "standard_error": sd,
        "chance_to_beat_control": float(stats.norm.sf(0.0, d, sd)),
        "expected_loss": loss_t,
        "expected_loss_control": loss_c,
    }


def sequential(control, treatment, alpha, target_n):
    # The paper's form, as in the authors' R package (std_conjmix_margin).
    (nc, mc, vc), (nt, mt, vt) = summary(control), summary(treatment)
    n = nc + nt
    rho2 = (-2.0 * math.log(alpha) + math.log(-2.0 * math.log(alpha) + 1.0)) / target_n
    sigma = math.sqrt(n * (vt / nt + vc / nc))
    margin = math.sqrt(2.0 * (n * rho2 + 1.0) * math.log(math.sqrt(n * rho2 + 1.0) / alpha)
                       / (n * n * rho2))
    half = sigma * margin
    d = mt - mc
    return {
        "rho_squared": rho2,
        "critical_value": half / math.sqrt(vt / nt + vc / nc),
        "interval": interval(d - half, d + half),
        "significant": bool(d - half > 0.0 or d + half < 0.0),
    }


two_arm = []
for name, control, treatment, alpha in two_arm_cases:
    n = summary(control)[0] + summary(treatment)[0]
    two_arm.append({
        "name": name,
        "control": control,
        "treatment": treatment,
        "alpha": alpha,
        "welch": welch(control, treatment, alpha),
        "lift": lift(control, treatment, alpha),
        "bayes": bayes(control, treatment),
        "sequential_target_n": 2 * n,
        "sequential": sequential(control, treatment, alpha, 2 * n),
    })

# --- Chance to be best, by scipy quadrature of the same integral ---


def best(arms):
    posteriors = [(m, math.sqrt(v / n)) for n, m, v in map(summary, arms)]
    out = []
    for i, (mi, si) in enumerate(posteriors):
        def f(z):
            x = mi + si * z
            p = stats.norm.pdf(z)
            for j, (mj, sj) in enumerate(posteriors):
                if j != i:
                    p *= stats.norm.cdf((x - mj) / sj)
            return p
        out.append(integrate.quad(f, -np.inf, np.inf, epsabs=1e-14, epsrel=1e-12,
                                  limit=500)[0])
    return out


best_cases = [
    ("two arms", [arm_conversions(100, 1000), arm_conversions(115, 1000)]),
    ("three arms", [arm_conversions(500, 5000), arm_conversions(520, 5000),
                    arm_conversions(545, 5100)]),
    ("four means", [arm_summary(400, 10.0, 25.0), arm_summary(420, 10.4, 30.0),
                    arm_summary(390, 10.2, 20.0), arm_summary(410, 9.5, 28.0)]),
    ("one very precise arm", [arm_summary(10_000_000, 1.0, 1.0), arm_summary(100, 1.05, 1.0),
                              arm_summary(100, 0.98, 2.0)]),
]
chance_to_be_best = [
    {"name": name, "arms": arms, "chances": best(arms)} for name, arms in best_cases
]

# --- Sample ratio mismatch ---

srm_cases = [
    ([5012, 4988], [50.0, 50.0]),
    ([5300, 4700], [50.0, 50.0]),
    ([4400, 4600, 1000], [45.0, 45.0, 10.0]),
    ([2600, 2400, 2550, 2450], [25.0, 25.0, 25.0, 25.0]),
    ([10_000_400, 9_999_600], [50.0, 50.0]),
    ([900, 120], [90.0, 10.0]),
    ([3, 1], [50.0, 50.0]),
]
srm = []
for observed, weights in srm_cases:
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    res = stats.chisquare(observed, expected)
    srm.append({
        "observed": observed,
        "weights": weights,
        "chi_square": float(res.statistic),
        "p_value": float(res.pvalue),
        "mismatch": bool(res.pvalue < 0.001),
    })

# --- Holm and Benjamini-Hochberg ---

p_lists = [
    [0.01, 0.04, 0.03, 0.005],
    [0.2, 0.2, 0.01, 0.5, 1.0, 0.0],
    floats(rng.uniform(0.0, 0.1, 12)),
    [0.049],
    [0.001, 0.001, 0.001],
]
multiple = [
    {
        "p_values": p,
        "holm": floats(multipletests(p, method="holm")[1]),
        "benjamini_hochberg": floats(multipletests(p, method="fdr_bh")[1]),
    }
    for p in p_lists
]

# --- Power: NormalIndPower on Cohen's h (proportion_effectsize) ---

power_analysis = NormalIndPower()
power_cases = [
    (0.10, 0.10, 0.05, 0.8, 1_000, 2),
    (0.03, 0.05, 0.05, 0.8, 25_000, 2),
    (0.25, -0.08, 0.01, 0.9, 4_000, 3),
    (0.50, 0.02, 0.05, 0.8, 100_000, 2),
    (0.80, 0.10, 0.10, 0.7, 300, 4),
]
power = []
for baseline, relative, alpha, target, weekly, arms in power_cases:
    p2 = baseline * (1.0 + relative)
    h = float(proportion_effectsize(p2, baseline))
    n = float(power_analysis.solve_power(effect_size=abs(h), nobs1=None, alpha=alpha,
                                         power=target, ratio=1.0,
                                         alternative="two-sided"))
    per_arm = math.ceil(n)
    total = per_arm * arms
    # solve_power stops early when solving for the effect size (its power is
    # off by ~5e-6); the root of the same power function to full precision:
    mde_h = optimize.brentq(
        lambda es: power_analysis.power(es, per_arm, alpha, ratio=1.0,
                                        alternative="two-sided") - target,
        1e-9, 10.0, xtol=1e-16, rtol=1e-15)
    loose = power_analysis.solve_power(effect_size=None, nobs1=per_arm, alpha=alpha,
                                       power=target, ratio=1.0, alternative="two-sided")
    assert abs(loose - mde_h) < 1e-4 * mde_h
    mde_p2 = math.sin(math.asin(math.sqrt(baseline)) + mde_h / 2.0) ** 2
    power.append({
        "baseline": baseline,
        "relative_lift": relative,
        "alpha": alpha,
        "power": target,
        "weekly_size": weekly,
        "arms": arms,
        "effect_size": h,
        "per_arm_exact": n,
        "per_arm": per_arm,
        "total": total,
        "weeks": total / weekly,
        "whole_weeks": math.ceil(total / weekly),
        "mde_at_per_arm": mde_p2 / baseline - 1.0,
        "power_at_half": float(power_analysis.power(abs(h), per_arm // 2, alpha, ratio=1.0,
                                                    alternative="two-sided")),
    })

# --- CUPED, by a direct numpy computation on Y − θ(X − X̄) ---


def cuped_arm(n, shift, noise):
    x = rng.gamma(2.0, 5.0, n)
    y = 0.8 * x + shift + rng.normal(0.0, noise, n)
    return {"y": floats(y), "x": floats(x)}


cuped_cases = [
    ("two arms", [cuped_arm(50, 1.0, 3.0), cuped_arm(60, 1.5, 3.0)]),
    ("three arms, weak predictor", [cuped_arm(40, 0.0, 15.0), cuped_arm(45, 0.5, 15.0),
                                    cuped_arm(38, 1.0, 15.0)]),
    ("three people each", [{"y": [1.0, 4.0, 2.0], "x": [0.5, 3.0, 2.5]},
                           {"y": [3.0, 5.0, 2.0], "x": [2.0, 4.5, 0.5]}]),
]
cuped = []
for name, arms in cuped_cases:
    all_y = np.concatenate([a["y"] for a in arms])
    all_x = np.concatenate([a["x"] for a in arms])
    theta = float(np.cov(all_y, all_x, ddof=1)[0, 1] / np.var(all_x, ddof=1))
    x_bar = float(np.mean(all_x))
    out = []
    for a in arms:
        y, x = np.array(a["y"]), np.array(a["x"])
        adjusted = y - theta * (x - x_bar)
        out.append({
            "raw_mean": float(np.mean(y)),
            "raw_variance": float(np.var(y, ddof=1)),
            "adjusted_mean": float(np.mean(adjusted)),
            "adjusted_variance": float(np.var(adjusted, ddof=1)),
        })
    cuped.append({"name": name, "arms": arms, "theta": theta, "pre_period_mean": x_bar,
                  "results": out})

# --- Empirical Bayes shrinkage (DerSimonian-Laird), numpy, tau² checked
# against statsmodels' combine_effects ---

shrink_cases = [
    ("heterogeneous", [0.0, 0.5, 0.9, -0.4, 0.2], [0.01, 0.01, 0.3, 0.3, 0.1], 0.05),
    ("homogeneous", [0.10, 0.11, 0.09], [0.05, 0.05, 0.05], 0.05),
    ("lifts by country", floats(rng.normal(0.04, 0.03, 8)),
     floats(rng.uniform(0.01, 0.05, 8)), 0.10),
    ("two segments", [0.02, 0.2], [0.03, 0.04], 0.05),
]
shrinkage = []
for name, effects, ses, alpha in shrink_cases:
    y, s = np.array(effects), np.array(ses)
    w = 1.0 / s**2
    fixed = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - fixed) ** 2)
    c = np.sum(w) - np.sum(w**2) / np.sum(w)
    tau2 = max(0.0, (q - (len(y) - 1)) / c)
    reference = combine_effects(y, s**2, method_re="dl")
    # statsmodels reports the untruncated moment estimate.
    assert abs(max(0.0, reference.tau2) - tau2) <= 1e-12 * max(1.0, tau2)
    wr = 1.0 / (s**2 + tau2)
    overall = float(np.sum(wr * y) / np.sum(wr))
    v = 1.0 / np.sum(wr)
    if reference.tau2 >= 0.0:
        assert abs(reference.mean_effect_re - overall) <= 1e-12, (reference.mean_effect_re, overall)
    b = s**2 / (s**2 + tau2)
    shrunk = overall + (1.0 - b) * (y - overall)
    se = np.sqrt((1.0 - b) * s**2 + b**2 * v)
    z = stats.norm.isf(alpha / 2.0)
    shrinkage.append({
        "name": name,
        "effects": effects,
        "standard_errors": ses,
        "alpha": alpha,
        "overall": overall,
        "overall_standard_error": float(math.sqrt(v)),
        "tau_squared": float(tau2),
        "shrinkage": floats(b),
        "shrunk": floats(shrunk),
        "standard_error": floats(se),
        "shrunk_low": floats(shrunk - z * se),
        "shrunk_high": floats(shrunk + z * se),
        "raw_low": floats(y - z * s),
        "raw_high": floats(y + z * s),
    })

# --- Assignment: xxh3-64 from the Python xxhash binding ---


def top_bits(experiment, person):
    e, p = experiment.encode(), person.encode()
    return xxhash.xxh3_64_intdigest(struct.pack("<Q", len(e)) + e + p) >> 11


def bucket(experiment, person):
    return top_bits(experiment, person) / float(1 << 53)


def assign(experiment, person, variants, holdout):
    position = bucket(experiment, person) * 100.0
    if position < holdout:
        return "holdout"
    edge = holdout
    for i, share in enumerate(variants):
        edge += share
        if position < edge:
            return i
    return max(i for i, share in enumerate(variants) if share > 0.0)


allocations = [([50.0, 50.0], 0.0), ([45.0, 45.0], 10.0), ([20.0, 30.0, 0.0, 40.0], 10.0)]
people = [f"person-{i}" for i in range(40)] + ["", "ünïcødé", "a" * 300, "42"]
experiments = ["checkout-button", "", "onboarding-email/2"]
assignment = []
for experiment in experiments:
    for variants, holdout in allocations:
        assignment.append({
            "experiment": experiment,
            "variants": variants,
            "holdout": holdout,
            "people": people,
            # The bucket is this integer over 2^53; integers survive JSON
            # exactly, where a float may be parsed one ulp off.
            "top_bits": [top_bits(experiment, p) for p in people],
            "arms": [assign(experiment, p, variants, holdout) for p in people],
        })

vectors = {
    "generated_with": {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
        "xxhash": xxhash.VERSION,
    },
    "two_arm": two_arm,
    "chance_to_be_best": chance_to_be_best,
    "srm": srm,
    "multiple": multiple,
    "power": power,
    "cuped": cuped,
    "shrinkage": shrinkage,
    "assignment": assignment,
}



def dump(sections):
    """One case per line: short enough to read, and a regenerated case shows
    up as one changed line."""
    parts = []
    for key, value in sections.items():
        if isinstance(value, list):
            body = ",\n".join("  " + json.dumps(case) for case in value)
            parts.append(f" {json.dumps(key)}: [\n{body}\n ]")
        else:
            parts.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


out = Path(__file__).with_name("vectors.json")
out.write_text(dump(vectors))
print(f"wrote {out}")
