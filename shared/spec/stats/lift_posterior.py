#!/usr/bin/env python3
"""Reference values of bayesianTest for a relative lift (docs/statistics.md, "Bayesian").

Used by generate.py; run on its own (numpy and scipy only) it recomputes the expected values of the
relative cases of bayesian.json from their stored inputs:

    python3 shared/spec/stats/lift_posterior.py

Flat prior: P(lift > 0) = P(muT > muC) from the difference's normal posterior, the credible interval
is Fieller's set with the normal quantile (solved in ratio space with numpy.roots), the risk is the
difference's expected loss over |mean C|.

Informative prior N(mu0, s0^2) on the lift L: posterior (c = muC) proportional to
N(mC; c, vC) N(mT; c + L|c|, vT) N(L; mu0, s0^2) |c|. Independently of the engine (which integrates
over c with L | c normal), this integrates over L with scipy.integrate.quad, the c-integral of each
L in closed form (moments of a truncated normal on c > 0 and c < 0, where muT = (1 + L)c and
muT = (1 - L)c respectively); quantiles by brentq on the cumulative integral.
"""

import json
import math
import os

import numpy as np
from scipy import integrate, optimize, stats

HERE = os.path.dirname(os.path.abspath(__file__))


def f(x):
    x = float(x)
    return None if math.isinf(x) else x


def positive_part(mean, sd):
    return mean * stats.norm.cdf(mean / sd) + sd * stats.norm.pdf(mean / sd)


def fieller_two_sided(mc, vc, mt, vt, crit):
    s = 1.0 if mc > 0 else -1.0
    c2 = crit * crit
    a = mc * mc - c2 * vc
    roots = np.roots([a, -2 * mt * mc, mt * mt - c2 * vt])
    real = sorted(float(s * (r.real - 1)) for r in roots if abs(r.imag) <= 1e-12 * abs(r))
    lift = (mt - mc) / abs(mc)
    if a > 0:
        lo, hi = real
        assert lo <= lift <= hi
        return [lo, hi]
    if (mt - mc) ** 2 > c2 * (vt + vc) and len(real) == 2:
        return [min(r for r in real if r > 0), math.inf] if lift > 0 else [-math.inf, max(r for r in real if r < 0)]
    return [-math.inf, math.inf]


def truncated_moments(center, var):
    """(int_{c>0} c N(c; center, var) dc, int_{c>0} c^2 N(c; center, var) dc)."""
    sd = math.sqrt(var)
    k = center / sd
    cdf, pdf = stats.norm.cdf(k), stats.norm.pdf(k)
    return center * cdf + sd * pdf, (center * center + var) * cdf + center * sd * pdf


def density_terms(L, mc, vc, mt, vt):
    """(int N(mC; c, vC) N(mT; c + L|c|, vT) |c| dc, the same with c^2), c > 0 and c < 0 in closed form."""
    first = second = 0.0
    for sign in (1.0, -1.0):
        r = 1 + sign * L
        lik = stats.norm.pdf(mt, r * mc, math.sqrt(vt + r * r * vc))
        w = 1 / (1 / vc + r * r / vt)
        center = w * (mc / vc + r * mt / vt)
        m1, m2 = truncated_moments(sign * center, w)
        first += lik * m1
        second += lik * m2
    return first, second


def relative_expected(mc, vc, mt, vt, alpha, inverse, non_negative, prior):
    base = abs(mc)
    if prior is None:
        sd = math.sqrt(vc + vt)
        effect = (mt - mc) / base
        se = sd / base
        p_pos = stats.norm.sf(-(mt - mc) / sd)
        p_neg = stats.norm.sf((mt - mc) / sd)
        ci = fieller_two_sided(mc, vc, mt, vt, stats.norm.isf(alpha / 2))
        gain, loss = positive_part(effect, se), positive_part(-effect, se)
    else:
        mu0, s0 = prior["mean"], math.sqrt(prior["variance"])
        delta = math.sqrt((vt + (mt / mc) ** 2 * vc) / mc ** 2)
        estimate = (mt - mc) / base
        lo = min(mu0 - 40 * s0, estimate - 60 * delta)
        hi = max(mu0 + 40 * s0, estimate + 60 * delta)
        points = sorted({p for c, w in ((mu0, s0), (estimate, delta)) for p in (c + k * w for k in (-8, -4, -2, -1, 0, 1, 2, 4, 8)) if lo < p < hi})

        def dens(L):
            return density_terms(L, mc, vc, mt, vt)[0] * stats.norm.pdf(L, mu0, s0)

        def quad(g, a, b):
            inner = [p for p in points if a < p < b]
            value, _ = integrate.quad(g, a, b, points=inner or None, limit=2000, epsabs=0, epsrel=1e-12)
            return value

        z = quad(dens, lo, hi)
        mean = quad(lambda L: L * dens(L), lo, hi) / z
        var = quad(lambda L: (L - mean) ** 2 * dens(L), lo, hi) / z
        p_pos = quad(dens, 0, hi) / z if hi > 0 else 0.0
        p_neg = quad(dens, lo, 0) / z if lo < 0 else 0.0

        def diff_dens(L):
            return density_terms(L, mc, vc, mt, vt)[1] * stats.norm.pdf(L, mu0, s0)

        gain = (quad(lambda L: L * diff_dens(L), 0, hi) / z if hi > 0 else 0.0) / base
        loss = (quad(lambda L: -L * diff_dens(L), lo, 0) / z if lo < 0 else 0.0) / base
        q = alpha / 2
        lower = optimize.brentq(lambda x: quad(dens, lo, x) / z - q, lo, hi, xtol=1e-14, rtol=1e-13)
        upper = optimize.brentq(lambda x: quad(dens, x, hi) / z - q, lo, hi, xtol=1e-14, rtol=1e-13)
        effect, se, ci = mean, math.sqrt(var), [lower, upper]
    if non_negative:
        ci = [max(ci[0], -1.0), max(ci[1], -1.0)]
    return {"effect": f(effect), "se": f(se), "ci": [f(ci[0]), f(ci[1])],
            "chanceToWin": f(p_neg if inverse else p_pos),
            "risk": [f(loss), f(gain)] if inverse else [f(gain), f(loss)]}


def arm_moments(arm, metric_type):
    n = arm["n"]
    mean = arm["sum"] / n
    var = mean * (1 - mean) if metric_type == "proportion" else (arm["sumSquares"] - arm["sum"] * arm["sum"] / n) / (n - 1)
    return mean, var / n


def case_expected(case):
    o = case["options"]
    metric_type = o.get("statisticType", "mean")
    mc, vc = arm_moments(case["control"], metric_type)
    mt, vt = arm_moments(case["treatment"], metric_type)
    return relative_expected(mc, vc, mt, vt, o.get("alpha", 0.05), o.get("inverse", False),
                             metric_type == "proportion" or o.get("nonNegative", False), o.get("prior"))


if __name__ == "__main__":
    path = os.path.join(HERE, "bayesian.json")
    with open(path) as fh:
        payload = json.load(fh)
    count = 0
    for case in payload["cases"]:
        if case["options"].get("difference") == "relative":
            case["expected"] = case_expected(case)
            count += 1
    payload["reference"] = (
        "absolute: conjugate normal update in numpy, scipy.stats.norm for chance to win, credible interval and "
        "expected loss; relative: lift_posterior.py (flat prior: the difference's posterior and Fieller's set by "
        "numpy.roots; informative prior: scipy.integrate.quad over the lift)")
    with open(path, "w") as fh:
        json.dump(payload, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"bayesian.json: {count} relative cases recomputed")
