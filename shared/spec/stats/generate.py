#!/usr/bin/python3
"""Reference fixtures for the xp statistics engine (shared/src/stats).

Run with Debian's interpreter after `apt-get install python3-scipy python3-statsmodels`:

    /usr/bin/python3 shared/spec/stats/generate.py

Every procedure gets at least 200 random cases from a fixed seed. Expected values come from SciPy /
statsmodels where a library call exists (ttest_ind_from_stats, t, norm, chi2, chisquare, multipletests,
NormalIndPower, OLS, quad) and from the closed-form formula written out in numpy where none does
(ratio delta method, confidence sequences, Gaussian posterior, the Fieller interval of a relative lift).
A relative lift is tested as the difference of the means (same statistic and p-value as the absolute
test); its interval is Fieller's, solved here in ratio space with numpy.roots. Infinite interval ends
are written as null. The TypeScript tests read the JSON files; CI never runs this script.
"""

import json
import math
import os

import numpy as np
import scipy
import statsmodels
import statsmodels.api as sm
from scipy import integrate, optimize, special, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower

import lift_posterior

SEED = 20240601
CASES = 240
HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(SEED)


def f(x):
    """Plain float for JSON; infinities become null."""
    x = float(x)
    return None if math.isinf(x) else x


def write(name, procedure, reference, cases):
    path = os.path.join(HERE, name)
    payload = {
        "procedure": procedure,
        "reference": reference,
        "versions": {"scipy": scipy.__version__, "statsmodels": statsmodels.__version__, "numpy": np.__version__},
        "seed": SEED,
        "cases": cases,
    }
    with open(path, "w") as fh:
        json.dump(payload, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"{name}: {len(cases)} cases, {os.path.getsize(path)} bytes")


def log_uniform(lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def t_isf(q, df):
    """Upper t quantile, polished with one Newton step on SciPy's (boost) survival function."""
    x = stats.t.isf(q, df)
    return x + (stats.t.sf(x, df) - q) / stats.t.pdf(x, df)


def norm_isf(q):
    x = stats.norm.isf(q)
    return x + (stats.norm.sf(x) - q) / stats.norm.pdf(x)


# ---------------------------------------------------------------------------------------------------
# Special functions


def special_functions():
    cases = []
    for _ in range(CASES):
        z = float(rng.uniform(-8, 38)) if rng.random() < 0.7 else float(rng.uniform(-3, 3))
        cases.append({"fn": "normalSf", "x": z, "expected": f(stats.norm.sf(z))})
    for _ in range(CASES):
        p = 10.0 ** float(rng.uniform(-300, -0.31))
        cases.append({"fn": "normalQuantile", "p": p, "expected": f(stats.norm.ppf(p))})
    for _ in range(CASES):
        df = log_uniform(1, 1e9) if rng.random() < 0.85 else float(rng.integers(1, 6))
        t = float(rng.uniform(-40, 40)) if rng.random() < 0.5 else float(rng.uniform(-4, 4))
        cases.append({"fn": "studentTSf", "x": t, "df": df, "expected": f(stats.t.sf(t, df))})
    for _ in range(CASES):
        df = log_uniform(1, 1e9) if rng.random() < 0.85 else float(rng.integers(1, 6))
        q = 10.0 ** float(rng.uniform(-15, -0.31))
        cases.append({"fn": "studentTIsf", "q": q, "df": df, "expected": f(t_isf(q, df))})
    for _ in range(CASES):
        k = int(rng.integers(1, 30))
        x = float(rng.uniform(0, 400)) if rng.random() < 0.5 else float(rng.uniform(0, 3 * k))
        cases.append({"fn": "chiSquareSf", "x": x, "df": k, "expected": f(stats.chi2.sf(x, k))})
    write("special-functions.json", "normal / Student t / chi-square tails and quantiles",
          "scipy.stats.norm.sf/ppf, scipy.stats.t.sf/isf (isf polished by one Newton step), scipy.stats.chi2.sf", cases)


# ---------------------------------------------------------------------------------------------------
# Arms


def random_sample_arm(mean, sd, n):
    n = int(n)
    total = n * mean
    squares = (n - 1) * sd * sd + n * mean * mean
    return {"n": n, "sum": float(total), "sumSquares": float(squares)}


def moments(arm, metric_type):
    n = arm["n"]
    mean = arm["sum"] / n
    if metric_type == "proportion":
        return n, mean, mean * (1 - mean)
    var = (arm["sumSquares"] - arm["sum"] * arm["sum"] / n) / (n - 1)
    return n, mean, var


def effect_estimate(c, t, difference):
    """(effect, variance, df) from (n, mean, per-unit variance) of both arms; delta method for lift."""
    nc, mc, vc_unit = c
    nt, mt, vt_unit = t
    vc, vt = vc_unit / nc, vt_unit / nt
    df = (vc + vt) ** 2 / (vc * vc / (nc - 1) + vt * vt / (nt - 1))
    if difference == "absolute":
        return mt - mc, vc + vt, df
    base = abs(mc)
    ratio = mt / mc
    return (mt - mc) / base, (vt + ratio * ratio * vc) / (base * base), df


def arm_means(c, t):
    """(mean, variance of the mean) of control and treatment from (n, mean, per-unit variance)."""
    return (c[1], c[2] / c[0]), (t[1], t[2] / t[0])


def fieller(arms, crit, alternative):
    """Fieller set for the lift L = (muT - muC)/|muC|: the r = muT/muC with
    (mT - r mC)^2 <= crit^2 (vT + r^2 vC), mapped by L = s (r - 1), s = sign(mC). Bounded when
    mC^2 > crit^2 vC; otherwise the whole line, or two rays: reported as the whole line unless 0 lies
    between them (the test of equal means rejects), then as the ray holding the estimate (one-sided
    sets: only when that ray points the alternative's way)."""
    (mc, vc), (mt, vt) = arms
    s = 1.0 if mc > 0 else -1.0
    c2 = crit * crit
    a = mc * mc - c2 * vc
    roots = np.roots([a, -2 * mt * mc, mt * mt - c2 * vt])
    real = sorted(float(s * (r.real - 1)) for r in roots if abs(r.imag) <= 1e-12 * abs(r))
    lift = (mt - mc) / abs(mc)
    if a > 0:
        lo, hi = real
        assert lo <= lift <= hi
        return [lo, math.inf] if alternative == "greater" else [-math.inf, hi] if alternative == "less" else [lo, hi]
    rejects = (mt - mc) ** 2 > c2 * (vt + vc)
    if rejects and len(real) == 2:
        if lift > 0 and alternative != "less":
            return [min(r for r in real if r > 0), math.inf]
        if lift < 0 and alternative != "greater":
            return [-math.inf, max(r for r in real if r < 0)]
    return [-math.inf, math.inf]


def welch_expected(effect, variance, df, alternative, alpha, arms=None):
    """Welch test of the effect; with `arms` (a relative lift), the test of equal means and Fieller's interval."""
    se = math.sqrt(variance)
    stat = effect / se
    if arms is not None:
        (mc, vc), (mt, vt) = arms
        stat = (mt - mc) / math.sqrt(vc + vt)
        se = math.sqrt(vc + vt) / abs(mc)
    if alternative == "two-sided":
        p = 2 * stats.t.sf(abs(stat), df)
        crit = t_isf(alpha / 2, df)
        ci = [effect - crit * se, effect + crit * se]
    elif alternative == "greater":
        p = stats.t.sf(stat, df)
        crit = t_isf(alpha, df)
        ci = [effect - crit * se, math.inf]
    else:
        p = stats.t.cdf(stat, df)
        crit = t_isf(alpha, df)
        ci = [-math.inf, effect + crit * se]
    if arms is not None:
        ci = fieller(arms, crit, alternative)
    return {"effect": f(effect), "se": f(se), "statistic": f(stat), "df": f(df), "pValue": f(min(1.0, p)),
            "ci": [f(ci[0]), f(ci[1])]}


ALTERNATIVES = ["two-sided", "greater", "less"]
SCIPY_ALT = {"two-sided": "two-sided", "greater": "greater", "less": "less"}


def random_options():
    return (str(rng.choice(ALTERNATIVES)), float(rng.choice([0.05, 0.1, 0.01, 0.2, 0.001])))


def random_mean_pair(extreme):
    nc = log_uniform(2, 2e5) if rng.random() < 0.8 else float(rng.integers(2, 8))
    nt = log_uniform(2, 2e5) if rng.random() < 0.8 else float(rng.integers(2, 8))
    mc = float(rng.choice([-1, 1]) * log_uniform(0.1, 100))
    sdc = log_uniform(0.05, 3) * abs(mc)
    sdt = sdc * log_uniform(0.5, 2)
    se = math.sqrt(sdc ** 2 / int(nc) + sdt ** 2 / int(nt))
    shift = float(rng.normal(0, 3)) * se
    if extreme:
        nc, nt = log_uniform(100, 2e8), log_uniform(100, 2e8)
        se = math.sqrt(sdc ** 2 / int(nc) + sdt ** 2 / int(nt))
        shift = float(rng.choice([-1, 1])) * float(rng.uniform(8, 60)) * se
    return random_sample_arm(mc, sdc, nc), random_sample_arm(mc + shift, sdt, nt)


def random_proportion_pair(extreme):
    nc, nt = int(log_uniform(20, 2e5)), int(log_uniform(20, 2e5))
    pc = log_uniform(0.01, 0.6)
    pt = min(0.95, max(0.005, pc * math.exp(rng.normal(0, 0.15 if not extreme else 1.0))))
    cc, ct = int(rng.binomial(nc, pc)), int(rng.binomial(nt, pt))
    cc, ct = max(1, min(nc - 1, cc)), max(1, min(nt - 1, ct))
    return ({"n": nc, "sum": float(cc), "sumSquares": float(cc)}, {"n": nt, "sum": float(ct), "sumSquares": float(ct)})


def welch():
    cases = []
    for i in range(CASES * 2):
        metric_type = "proportion" if i % 4 == 3 else "mean"
        extreme = i % 10 == 0
        c, t = random_proportion_pair(extreme) if metric_type == "proportion" else random_mean_pair(extreme)
        difference = "absolute" if i % 2 == 0 else "relative"
        alternative, alpha = random_options()
        cm, tm = moments(c, metric_type), moments(t, metric_type)
        effect, variance, df = effect_estimate(cm, tm, difference)
        arms = arm_means(cm, tm) if difference == "relative" else None
        expected = welch_expected(effect, variance, df, alternative, alpha, arms)
        # SciPy's own Welch test must agree with the closed form the fixture records (for a lift too:
        # its test is the test of equal means).
        ref = stats.ttest_ind_from_stats(tm[1], math.sqrt(tm[2]), tm[0], cm[1], math.sqrt(cm[2]), cm[0],
                                         equal_var=False, alternative=SCIPY_ALT[alternative])
        expected["statistic"], expected["pValue"] = f(ref.statistic), f(ref.pvalue)
        cases.append({"control": c, "treatment": t, "options": {"statisticType": metric_type, "difference": difference,
                                                                 "alternative": alternative, "alpha": alpha},
                      "expected": expected})
    write("welch.json", "frequentistTest: fixed-horizon Welch t-test (absolute and relative, means and proportions)",
          "scipy.stats.ttest_ind_from_stats(equal_var=False) + scipy.stats.t.isf; relative: the same test, Fieller interval by numpy.roots",
          cases)


# ---------------------------------------------------------------------------------------------------
# Ratio metrics and CUPED (raw per-unit data, so OLS can be run on it)


def ratio_arm_from_data(num, den):
    return {"n": int(len(num)), "numerator": {"sum": float(num.sum()), "sumSquares": float((num * num).sum())},
            "denominator": {"sum": float(den.sum()), "sumSquares": float((den * den).sum())},
            "sumProducts": float((num * den).sum())}


def ratio_moments(arm):
    n = arm["n"]
    sn, sd = arm["numerator"]["sum"], arm["denominator"]["sum"]
    mn, md = sn / n, sd / n
    r = sn / sd
    vn = (arm["numerator"]["sumSquares"] - sn * mn) / (n - 1)
    vd = (arm["denominator"]["sumSquares"] - sd * md) / (n - 1)
    cov = (arm["sumProducts"] - sn * md) / (n - 1)
    var = (vn - 2 * r * cov + r * r * vd) / (md * md)
    return n, r, var, np.array([1 / md, -r / md])


def random_ratio_data(n, lift):
    sessions = rng.poisson(3.0, n) + 1.0
    revenue = sessions * rng.gamma(2.0, 5.0 * (1 + lift), n)
    return revenue, sessions


def ratio():
    cases = []
    for i in range(CASES):
        nc, nt = int(log_uniform(5, 3000)), int(log_uniform(5, 3000))
        lift = float(rng.normal(0, 0.1))
        c = ratio_arm_from_data(*random_ratio_data(nc, 0.0))
        t = ratio_arm_from_data(*random_ratio_data(nt, lift))
        difference = "absolute" if i % 2 == 0 else "relative"
        alternative, alpha = random_options()
        cm, tm = ratio_moments(c)[:3], ratio_moments(t)[:3]
        effect, variance, df = effect_estimate(cm, tm, difference)
        arms = arm_means(cm, tm) if difference == "relative" else None
        cases.append({"control": c, "treatment": t,
                      "options": {"difference": difference, "alternative": alternative, "alpha": alpha},
                      "expected": welch_expected(effect, variance, df, alternative, alpha, arms)})
    write("ratio.json", "frequentistTest on ratio metrics (delta method)",
          "delta method in numpy + scipy.stats.t; relative: Fieller interval by numpy.roots", cases)


def cuped():
    cases = []
    for i in range(CASES):
        nc, nt = int(log_uniform(10, 1500)), int(log_uniform(10, 1500))
        rho = float(rng.uniform(-0.95, 0.95))
        lift = float(rng.normal(0, 0.3))
        data = []
        for n, shift in ((nc, 0.0), (nt, lift)):
            x = rng.normal(10, 3, n)
            y = 10 + shift + rho * (x - 10) + math.sqrt(1 - rho * rho) * 3 * rng.normal(0, 1, n)
            data.append((x, y))
        arms, covariates = [], []
        for x, y in data:
            arms.append({"n": int(len(y)), "sum": float(y.sum()), "sumSquares": float((y * y).sum())})
            covariates.append({"pre": {"n": int(len(x)), "sum": float(x.sum()), "sumSquares": float((x * x).sum())},
                               "sumProducts": float((x * y).sum())})
        # OLS y ~ 1 + treatment + x: the x coefficient is the pooled theta, the treatment one the effect.
        x_all = np.concatenate([data[0][0], data[1][0]])
        y_all = np.concatenate([data[0][1], data[1][1]])
        d_all = np.concatenate([np.zeros(nc), np.ones(nt)])
        fit = sm.OLS(y_all, np.column_stack([np.ones(nc + nt), d_all, x_all])).fit()
        theta = float(fit.params[2])
        center = x_all.mean()
        adjusted = [float(fit.predict(np.array([[1.0, d, center]]))[0]) for d in (0.0, 1.0)]
        # Per-arm variance of y - theta x (theta treated as known), as in the engine.
        per_arm = []
        for k, (arm, cov) in enumerate(zip(arms, covariates)):
            n = arm["n"]
            vy = (arm["sumSquares"] - arm["sum"] ** 2 / n) / (n - 1)
            vx = (cov["pre"]["sumSquares"] - cov["pre"]["sum"] ** 2 / n) / (n - 1)
            cxy = (cov["sumProducts"] - arm["sum"] * cov["pre"]["sum"] / n) / (n - 1)
            per_arm.append((n, adjusted[k], vy + theta * theta * vx - 2 * theta * cxy))
        difference = "absolute" if i % 2 == 0 else "relative"
        alternative, alpha = random_options()
        sequential = i % 3 == 0
        effect, variance, df = effect_estimate(per_arm[0], per_arm[1], difference)
        # The reduction of the variance the test uses: of the difference, over the control mean² for a lift.
        means = arm_means(per_arm[0], per_arm[1]) if difference == "relative" else None
        raw_means = arm_means(moments(arms[0], "mean"), moments(arms[1], "mean"))
        test_var = per_arm[0][2] / per_arm[0][0] + per_arm[1][2] / per_arm[1][0]
        raw_test_var = raw_means[0][1] + raw_means[1][1]
        if difference == "relative":
            test_var, raw_test_var = test_var / per_arm[0][1] ** 2, raw_test_var / raw_means[0][0] ** 2
        if sequential:
            expected = sequential_expected(effect, variance, nc + nt, alternative, alpha, 5000, means)
        else:
            expected = welch_expected(effect, variance, df, alternative, alpha, means)
        expected.update({"theta": theta, "olsEffect": float(fit.params[1]), "adjustedMeans": adjusted,
                         "varianceReduction": 1 - test_var / raw_test_var})
        cases.append({"control": arms[0], "treatment": arms[1],
                      "cuped": {"control": covariates[0], "treatment": covariates[1]},
                      "options": {"difference": difference, "alternative": alternative, "alpha": alpha,
                                  "sequential": sequential},
                      "expected": expected})
    write("cuped.json", "frequentistTest with CUPED (pooled theta), fixed-horizon and sequential",
          "statsmodels OLS y ~ 1 + arm + x on the raw rows (theta, effect, adjusted means); numpy + scipy.stats.t for the test",
          cases)


def cuped_ratio():
    cases = []
    for i in range(CASES):
        nc, nt = int(log_uniform(10, 1500)), int(log_uniform(10, 1500))
        lift = float(rng.normal(0, 0.1))
        arms, covariates, rows = [], [], []
        for n, shift in ((nc, 0.0), (nt, lift)):
            habit = rng.gamma(2.0, 1.0, n)
            pre_den = rng.poisson(2.0 * habit) + 1.0
            pre_num = pre_den * rng.gamma(2.0, 5.0 * habit)
            post_den = rng.poisson(2.0 * habit) + 1.0
            post_num = post_den * rng.gamma(2.0, 5.0 * habit * (1 + shift))
            arms.append(ratio_arm_from_data(post_num, post_den))
            covariates.append({"pre": ratio_arm_from_data(pre_num, pre_den), "crossProducts": {
                "numeratorNumerator": float((post_num * pre_num).sum()),
                "numeratorDenominator": float((post_num * pre_den).sum()),
                "denominatorNumerator": float((post_den * pre_num).sum()),
                "denominatorDenominator": float((post_den * pre_den).sum())}})
            rows.append((post_num, post_den, pre_num, pre_den))
        per_unit = []
        for arm, cov, (pn, pd, qn, qd) in zip(arms, covariates, rows):
            n, r, var, grad = ratio_moments(arm)
            _, rx, varx, gradx = ratio_moments(cov["pre"])
            cross = np.array([[np.cov(pn, qn)[0, 1], np.cov(pn, qd)[0, 1]], [np.cov(pd, qn)[0, 1], np.cov(pd, qd)[0, 1]]])
            per_unit.append((n, r, var, rx, varx, float(grad @ cross @ gradx)))
        theta = sum((u[0] - 1) * u[5] for u in per_unit) / sum((u[0] - 1) * u[4] for u in per_unit)
        center = (covariates[0]["pre"]["numerator"]["sum"] + covariates[1]["pre"]["numerator"]["sum"]) / (
            covariates[0]["pre"]["denominator"]["sum"] + covariates[1]["pre"]["denominator"]["sum"])
        adjusted = [(u[0], u[1] - theta * (u[3] - center), u[2] + theta * theta * u[4] - 2 * theta * u[5]) for u in per_unit]
        difference = "absolute" if i % 2 == 0 else "relative"
        alternative, alpha = random_options()
        sequential = i % 3 == 0
        effect, variance, df = effect_estimate(adjusted[0], adjusted[1], difference)
        means = arm_means(adjusted[0], adjusted[1]) if difference == "relative" else None
        if sequential:
            expected = sequential_expected(effect, variance, nc + nt, alternative, alpha, 5000, means)
        else:
            expected = welch_expected(effect, variance, df, alternative, alpha, means)
        expected["theta"] = theta
        cases.append({"control": arms[0], "treatment": arms[1],
                      "cuped": {"control": covariates[0], "treatment": covariates[1]},
                      "options": {"difference": difference, "alternative": alternative, "alpha": alpha,
                                  "sequential": sequential},
                      "expected": expected})
    write("cuped-ratio.json", "frequentistTest with CUPED on ratio metrics (delta-method covariances)",
          "numpy (np.cov for the cross-covariances on the raw rows) + scipy.stats.t / norm", cases)


# ---------------------------------------------------------------------------------------------------
# Sequential


def rho_squared(alpha, tuning):
    l = -2 * math.log(alpha)
    return (l + math.log(1 + l)) / tuning


def one_sided_log_m(z, r):
    s2 = r / (1 + r)
    return math.log(2) - 0.5 * math.log1p(r) + 0.5 * z * z * s2 + stats.norm.logcdf(z * math.sqrt(s2))


def one_sided_boundary(alpha, r):
    hi = 10.0
    while one_sided_log_m(hi, r) + math.log(alpha) < 0:
        hi *= 2
    return optimize.brentq(lambda x: one_sided_log_m(x, r) + math.log(alpha), 0, hi, xtol=1e-15, rtol=1e-15)


def sequential_expected(effect, variance, n, alternative, alpha, tuning, arms=None):
    """Confidence sequence; with `arms` (a relative lift), the equal-means statistic and Fieller's set."""
    se = math.sqrt(variance)
    z = effect / se
    if arms is not None:
        (mc, vc), (mt, vt) = arms
        z = (mt - mc) / math.sqrt(vc + vt)
        se = math.sqrt(vc + vt) / abs(mc)
    if alternative == "two-sided":
        r = n * rho_squared(alpha, tuning)
        b = math.sqrt((1 + r) / r * (-2 * math.log(alpha) + math.log1p(r)))
        p = min(1.0, math.exp(0.5 * math.log1p(r) - z * z * r / (2 * (1 + r))))
        ci = [effect - b * se, effect + b * se]
    else:
        r = n * rho_squared(min(2 * alpha, 0.5), tuning)
        zz = z if alternative == "greater" else -z
        log_m = one_sided_log_m(zz, r)
        p = 1.0 if log_m <= 0 else math.exp(-log_m)
        b = one_sided_boundary(alpha, r)
        ci = [effect - b * se, math.inf] if alternative == "greater" else [-math.inf, effect + b * se]
    if arms is not None:
        ci = fieller(arms, b, alternative)
    return {"effect": f(effect), "se": f(se), "statistic": f(z), "pValue": f(p), "ci": [f(ci[0]), f(ci[1])]}


def sequential():
    cases = []
    for i in range(CASES):
        extreme = i % 10 == 0
        metric_type = "proportion" if i % 4 == 3 else "mean"
        c, t = random_proportion_pair(extreme) if metric_type == "proportion" else random_mean_pair(extreme)
        difference = "absolute" if i % 2 == 0 else "relative"
        alternative, alpha = random_options()
        tuning = float(rng.choice([5000, 100, 1e5, log_uniform(50, 1e6)]))
        cm, tm = moments(c, metric_type), moments(t, metric_type)
        effect, variance, _ = effect_estimate(cm, tm, difference)
        arms = arm_means(cm, tm) if difference == "relative" else None
        cases.append({"control": c, "treatment": t,
                      "options": {"statisticType": metric_type, "difference": difference, "alternative": alternative,
                                  "alpha": alpha, "sequentialTuning": tuning},
                      "expected": sequential_expected(effect, variance, c["n"] + t["n"], alternative, alpha, tuning, arms)})
    write("sequential.json", "frequentistTest(sequential): asymptotic normal-mixture confidence sequences",
          "closed form in numpy (two-sided), half-normal mixture with scipy.stats.norm.logcdf + scipy.optimize.brentq (one-sided)",
          cases)


# ---------------------------------------------------------------------------------------------------
# Bayesian


def bayesian():
    cases = []
    for i in range(CASES):
        metric_type = "proportion" if i % 4 == 3 else "mean"
        c, t = random_proportion_pair(False) if metric_type == "proportion" else random_mean_pair(i % 10 == 0)
        difference = "absolute" if i % 2 == 0 else "relative"
        alpha = float(rng.choice([0.05, 0.1, 0.01]))
        inverse = bool(i % 5 == 4)
        effect, variance, _ = effect_estimate(moments(c, metric_type), moments(t, metric_type), difference)
        options = {"statisticType": metric_type, "difference": difference, "alpha": alpha, "inverse": inverse}
        mean, var = effect, variance
        if i % 3 != 0:
            prior = {"mean": float(rng.normal(0, math.sqrt(variance))), "variance": float(variance * log_uniform(0.1, 10))}
            options["prior"] = prior
            precision = 1 / variance + 1 / prior["variance"]
            mean = (effect / variance + prior["mean"] / prior["variance"]) / precision
            var = 1 / precision
        sd = math.sqrt(var)
        post = stats.norm(mean, sd)
        p_pos = post.sf(0)
        loss_control = mean * stats.norm.cdf(mean / sd) + sd * stats.norm.pdf(mean / sd)
        loss_treatment = -mean * stats.norm.cdf(-mean / sd) + sd * stats.norm.pdf(mean / sd)
        crit = norm_isf(alpha / 2)
        expected = {"effect": mean, "se": sd, "ci": [mean - crit * sd, mean + crit * sd],
                    "chanceToWin": f(post.cdf(0) if inverse else p_pos),
                    "risk": [f(loss_treatment), f(loss_control)] if inverse else [f(loss_control), f(loss_treatment)]}
        case = {"control": c, "treatment": t, "options": options, "expected": expected}
        if difference == "relative":
            # The lift is not a normal with the delta-method variance (the prior above is only scaled
            # by it): see lift_posterior.py, whose __main__ refreshes these cases alone.
            case["expected"] = lift_posterior.case_expected(case)
        cases.append(case)
    write("bayesian.json", "bayesianTest: Gaussian effect model, flat and informative priors",
          "absolute: conjugate normal update in numpy, scipy.stats.norm for chance to win, credible interval and "
          "expected loss; relative: lift_posterior.py (flat prior: the difference's posterior and Fieller's set by "
          "numpy.roots; informative prior: scipy.integrate.quad over the lift)",
          cases)


def beta_binomial():
    cases = []
    for i in range(CASES):
        nc, nt = int(log_uniform(1, 20000)), int(log_uniform(1, 20000))
        pc = log_uniform(0.002, 0.5)
        pt = min(0.99, pc * math.exp(rng.normal(0, 0.2)))
        cc, ct = int(rng.binomial(nc, pc)), int(rng.binomial(nt, pt))
        if i % 10 == 0:
            cc = 0
        if i % 10 == 5:
            ct = 0
        prior = [(1.0, 1.0), (0.5, 0.5), (2.0, 10.0), (float(rng.uniform(0.5, 5)), float(rng.uniform(0.5, 20)))][i % 4]
        ac, bc = prior[0] + cc, prior[1] + nc - cc
        at, bt = prior[0] + ct, prior[1] + nt - ct
        mean_t = at / (at + bt)
        sd_t = math.sqrt(at * bt / ((at + bt) ** 2 * (at + bt + 1)))
        mean_c = ac / (ac + bc)
        sd_c = math.sqrt(ac * bc / ((ac + bc) ** 2 * (ac + bc + 1)))
        points = sorted({min(1.0, max(0.0, m + k * s)) for m, s in ((mean_t, sd_t), (mean_c, sd_c)) for k in (-8, -4, -2, 0, 2, 4, 8)})
        integrand = lambda x: stats.beta.pdf(x, at, bt) * special.betainc(ac, bc, x)
        value, err = integrate.quad(integrand, 0, 1, points=points[1:-1] if len(points) > 2 else None, limit=1000,
                                    epsabs=1e-13, epsrel=1e-12)
        if float(at).is_integer():
            # Exact sum (Evan Miller) as an independent check of the quadrature.
            k = np.arange(int(at))
            exact = float(np.sum(np.exp(special.betaln(ac + k, bc + bt) - np.log(bt + k) - special.betaln(1 + k, bt)
                                        - special.betaln(ac, bc))))
            assert abs(exact - value) < 1e-9, (exact, value, i)
        assert err < 1e-9, err
        cases.append({"control": {"n": nc, "sum": float(cc), "sumSquares": float(cc)},
                      "treatment": {"n": nt, "sum": float(ct), "sumSquares": float(ct)},
                      "prior": {"alpha": prior[0], "beta": prior[1]}, "expected": {"chanceToWin": value}})
    write("beta-binomial.json", "betaBinomialChanceToWin",
          "scipy.integrate.quad of beta.pdf(x; treatment) * betainc(control; x); cross-checked against the exact sum for integer alpha",
          cases)


# ---------------------------------------------------------------------------------------------------
# SRM, corrections, power


def srm():
    cases = []
    for i in range(CASES):
        k = int(rng.integers(2, 8))
        weights = rng.dirichlet(np.ones(k)) if i % 3 else np.ones(k) / k
        weights = [float(round(w, 6)) for w in weights]
        weights = [max(w, 0.001) for w in weights]
        total = int(log_uniform(10, 1e7))
        actual = np.array(weights) / sum(weights)
        if i % 4 == 0:
            actual = actual * np.exp(rng.normal(0, 0.02, k))
            actual = actual / actual.sum()
        counts = [int(c) for c in rng.multinomial(total, actual)]
        expected_counts = np.array(weights) / sum(weights) * sum(counts)
        ref = stats.chisquare(counts, expected_counts)
        cases.append({"counts": counts, "weights": weights,
                      "expected": {"chiSquare": f(ref.statistic), "pValue": f(ref.pvalue), "flagged": bool(ref.pvalue < 0.001),
                                   "df": k - 1}})
    write("srm.json", "srmTest", "scipy.stats.chisquare(counts, total * weights / sum(weights))", cases)


def corrections():
    cases = []
    for i in range(CASES):
        m = int(rng.integers(1, 60))
        p = rng.uniform(0, 1, m) ** float(rng.uniform(1, 6))
        if i % 5 == 0:
            p[: m // 2] = 10.0 ** rng.uniform(-20, -3, m // 2)
        if i % 7 == 0 and m > 2:
            p[1] = p[0]
        method = "holm" if i % 2 == 0 else "bh"
        adjusted = multipletests(p, method="holm" if method == "holm" else "fdr_bh")[1]
        cases.append({"pValues": [float(x) for x in p], "method": method, "expected": [float(x) for x in adjusted]})
    write("corrections.json", "adjustPValues", "statsmodels.stats.multitest.multipletests(method='holm' | 'fdr_bh')", cases)


SM_ALT = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}


def sequential_boundary(alpha, total, tuning, alternative):
    if alternative == "two-sided":
        r = total * rho_squared(alpha, tuning)
        return math.sqrt((1 + r) / r * (-2 * math.log(alpha) + math.log1p(r)))
    return one_sided_boundary(alpha, total * rho_squared(min(2 * alpha, 0.5), tuning))


def normal_power(lam, c, alternative):
    if alternative == "greater":
        return stats.norm.sf(c - lam)
    if alternative == "less":
        return stats.norm.cdf(-c - lam)
    return stats.norm.sf(c - lam) + stats.norm.cdf(-c - lam)


def power():
    cases = []
    nip = NormalIndPower()
    for i in range(CASES):
        alternative = ALTERNATIVES[i % 3]
        alpha = float(rng.choice([0.05, 0.1, 0.01]))
        ratio = float(rng.choice([1.0, 1.0, 0.5, 2.0, log_uniform(0.2, 5)]))
        mean = float(rng.choice([-1, 1]) * log_uniform(0.01, 100))
        sd = abs(mean) * log_uniform(0.1, 5)
        difference = "relative" if i % 2 == 0 else "absolute"
        lift = log_uniform(0.002, 0.3) * (-1 if alternative == "less" else float(rng.choice([-1, 1])) if alternative == "two-sided" else 1)
        effect = lift if difference == "relative" else lift * abs(mean)
        absolute = lift * abs(mean)
        d = absolute / sd
        target = float(rng.choice([0.8, 0.9, 0.5, 0.95]))
        n = float(int(log_uniform(10, 1e6)))
        sequential_case = i % 4 == 3
        tuning = float(rng.choice([5000, 1e4, 500]))
        scale = 1 / abs(mean) if difference == "relative" else 1.0
        sign = -1 if alternative == "less" else 1
        if not sequential_case:
            pw = nip.power(effect_size=d, nobs1=n, alpha=alpha, ratio=ratio, alternative=SM_ALT[alternative])
            # statsmodels' power function, solved to full precision (solve_power's own tolerance is looser).
            d_star = optimize.brentq(lambda x: nip.power(effect_size=x, nobs1=n, alpha=alpha, ratio=ratio,
                                                         alternative=SM_ALT[alternative]) - target,
                                     *((0, 100) if sign > 0 else (-100, 0)), xtol=1e-15, rtol=1e-15)
            n_star = optimize.brentq(lambda x: nip.power(effect_size=d, nobs1=x, alpha=alpha, ratio=ratio,
                                                         alternative=SM_ALT[alternative]) - target,
                                     1e-3, 1e13, xtol=1e-12, rtol=1e-15)
            mde = d_star * sd * scale
        else:
            factor = math.sqrt((1 + ratio) / ratio)
            se = sd * factor / math.sqrt(n)
            c = sequential_boundary(alpha, n * (1 + ratio), tuning, alternative)
            pw = normal_power(absolute / se, c, alternative)
            lam = optimize.brentq(lambda x: normal_power(sign * x, c, alternative) - target, 0, 100, xtol=1e-15, rtol=1e-15)
            mde = sign * lam * se * scale
            per_unit = abs(absolute) / (sd * factor)

            def gap(x):
                cc = sequential_boundary(alpha, x * (1 + ratio), tuning, alternative)
                need = optimize.brentq(lambda y: normal_power(sign * y, cc, alternative) - target, 0, 100, xtol=1e-15, rtol=1e-15)
                return per_unit * math.sqrt(x) - need

            n_star = optimize.brentq(gap, 1.0, 1e15, xtol=1e-10, rtol=1e-14)
        cases.append({"input": {"n": n, "effect": effect, "mean": mean, "variance": sd * sd, "difference": difference,
                                "alpha": alpha, "alternative": alternative, "ratio": ratio, "targetPower": target,
                                "sequential": sequential_case, "sequentialTuning": tuning},
                      "expected": {"power": f(pw), "mde": f(mde), "controlExact": f(n_star)}})
    write("power.json", "power (power, mde) and sampleSize (controlExact), fixed-horizon and sequential",
          "statsmodels NormalIndPower.power (+ scipy.optimize.brentq for the inverses); sequential: closed-form boundary in numpy",
          cases)


# ---------------------------------------------------------------------------------------------------
# CUPED on nearly collinear post and pre (exact rational reference)


def analyst_units():
    """The results-API edge case (tests/t-truth edge_gen.py, random.seed(7)): 200 units per arm, one
    post and one pre event each of 1.7e12 + N(0, 30) shared + N(0, 20), treatment +5. Replays the
    script's calls to `random` in order, so the values are the ones sent to the platform."""
    import random
    gen = random.Random(7)
    ids = list(range(400))
    arms = ["control"] * 200 + ["treat"] * 200
    gen.shuffle(arms)
    for _ in ids:
        gen.randint(30 * 3600_000, 90 * 3600_000)  # exposure times
    pool = ids[:]
    gen.shuffle(pool)
    units = {"control": [], "treat": []}
    for arm in arms:
        lat = gen.gauss(0, 30)
        post = 1.7e12 + lat + gen.gauss(0, 20) + (5 if arm == "treat" else 0)
        pre = 1.7e12 + lat + gen.gauss(0, 20)
        units[arm].append((post, pre))
        if gen.random() < (0.3 if arm == "control" else 0.4):
            gen.uniform(1, 100)
        if gen.random() < 0.3:
            gen.uniform(1, 100)
    return [units["control"], units["treat"]]


def cuped_collinear():
    """Cases where R² of post on pre is within 1e-12 of 1 (large values plus units at 0): reference
    by Fraction arithmetic, engine inputs as the results service builds them (shifted sums, residual
    sums around slope = the double nearest θ). Each arm gets `zeros` units with no events (0, 0)."""
    from fractions import Fraction as Q
    import mpmath
    mpmath.mp.dps = 50

    def shifted(values, shift):
        return float(sum(v - shift for v in values)), float(sum((v - shift) ** 2 for v in values))

    def case(data, difference, alpha):
        # The decimals the platform stores (JSON numbers as their shortest repr), not the binary doubles.
        data = [[(Q(repr(y)), Q(repr(x))) for y, x in arm] for arm in data]
        mom = []
        for arm in data:
            n = len(arm)
            my = sum(y for y, _ in arm) / n
            mx = sum(x for _, x in arm) / n
            syy = sum((y - my) ** 2 for y, _ in arm)
            sxx = sum((x - mx) ** 2 for _, x in arm)
            sxy = sum((y - my) * (x - mx) for y, x in arm)
            mom.append((n, my, mx, syy, sxx, sxy))
        theta = sum(m[5] for m in mom) / sum(m[4] for m in mom)
        center = sum(x for arm in data for _, x in arm) / sum(len(arm) for arm in data)
        slope = Q(float(theta))
        arms, covariates, per_arm = [], [], []
        for arm, (n, my, mx, syy, sxx, sxy) in zip(data, mom):
            ys, xs = [y for y, _ in arm], [x for _, x in arm]
            rs = [y - slope * x for y, x in arm]
            sy, sx, sr = Q(float(my)), Q(float(mx)), Q(float(sum(rs) / n))
            y_sum, y_sq = shifted(ys, sy)
            x_sum, x_sq = shifted(xs, sx)
            r_sum, r_sq = shifted(rs, sr)
            arms.append({"n": n, "sum": y_sum, "sumSquares": y_sq, "shift": float(sy)})
            covariates.append({
                "pre": {"n": n, "sum": x_sum, "sumSquares": x_sq, "shift": float(sx)},
                "sumProducts": float(sum((y - sy) * (x - sx) for y, x in arm)),
                "residual": {"slope": float(slope), "sum": r_sum, "sumSquares": r_sq,
                             "sumProducts": float(sum((r - sr) * (x - sx) for r, x in zip(rs, xs))),
                             "shift": float(sr)},
            })
            per_arm.append((n, my - theta * (mx - center), (syy + theta * theta * sxx - 2 * theta * sxy) / (n - 1),
                            my, syy / (n - 1)))
        mp = lambda q: mpmath.mpf(q.numerator) / q.denominator
        (nc, mc, vc, rc, uc), (nt, mt, vt, rt, ut) = per_arm
        d = mt - mc
        var_c, var_t = vc / nc, vt / nt
        df = (var_c + var_t) ** 2 / (var_c ** 2 / (nc - 1) + var_t ** 2 / (nt - 1))
        stat = mp(d) / mpmath.sqrt(mp(var_c + var_t))
        crit = t_isf(alpha / 2, float(df))
        test_var, raw_test_var = var_c + var_t, uc / nc + ut / nt
        if difference == "absolute":
            effect, se = mp(d), mpmath.sqrt(mp(var_c + var_t))
            ci = [effect - crit * se, effect + crit * se]
        else:
            effect, se = mp(d) / abs(mp(mc)), mpmath.sqrt(mp(var_c + var_t)) / abs(mp(mc))
            test_var, raw_test_var = test_var / mc ** 2, raw_test_var / rc ** 2
            # Fieller: A·L² − 2β·L + K ≤ 0 (see fieller()), solved in 50 digits.
            c2 = mpmath.mpf(crit) ** 2
            a = mp(mc) ** 2 - c2 * mp(var_c)
            beta = mp(d) * abs(mp(mc)) + mpmath.sign(mp(mc)) * c2 * mp(var_c)
            k = mp(d) ** 2 - c2 * mp(var_c + var_t)
            root = mpmath.sqrt(beta ** 2 - a * k)
            ci = [(beta - root) / a, (beta + root) / a]
        p = 2 * stats.t.sf(abs(float(stat)), float(df))
        return {"control": arms[0], "treatment": arms[1],
                "cuped": {"control": covariates[0], "treatment": covariates[1]},
                "options": {"difference": difference, "alternative": "two-sided", "alpha": alpha, "sequential": False},
                "expected": {"effect": float(effect), "se": float(se), "statistic": float(stat), "df": float(df),
                             "pValue": float(p), "ci": [float(ci[0]), float(ci[1])], "theta": float(theta),
                             "adjustedMeans": [float(mc), float(mt)], "adjustedVariances": [float(vc), float(vt)],
                             "varianceReduction": float(1 - test_var / raw_test_var)}}

    # Its own generator: the fixtures written before keep their random streams.
    local = np.random.default_rng(SEED + 1)
    analyst = analyst_units()
    analyst = [arm + [(0.0, 0.0)] for arm in analyst]
    # The unit values too: the results service's tests store them and expect these figures.
    cases = [{**case(analyst, "relative", 0.05), "units": analyst}, case(analyst, "absolute", 0.05)]
    for i in range(40):
        offset = float(np.exp(local.uniform(np.log(1e8), np.log(1e13))))
        zeros = 1 + i % 3
        lift = float(local.normal(0, 10))
        data = []
        for k in range(2):
            n = int(np.exp(local.uniform(np.log(20), np.log(300))))
            lat = local.normal(0, 30, n)
            post = offset + lat + local.normal(0, 20, n) + (lift if k == 1 else 0)
            pre = offset + lat + local.normal(0, 20, n)
            data.append([(float(y), float(x)) for y, x in zip(post, pre)] + [(0.0, 0.0)] * zeros)
        cases.append(case(data, "relative" if i % 2 == 0 else "absolute", float(local.choice([0.05, 0.01]))))
    write("cuped-collinear.json", "frequentistTest with CUPED where post and pre are nearly collinear (R² ≈ 1 − 1e-20)",
          "fractions.Fraction on the unit values (theta, adjusted means and variances), mpmath for the test; "
          "case 0–1: the results-API edge data set with one empty unit per arm", cases)


if __name__ == "__main__":
    special_functions()
    welch()
    ratio()
    cuped()
    cuped_ratio()
    sequential()
    bayesian()
    beta_binomial()
    srm()
    corrections()
    power()
    cuped_collinear()
