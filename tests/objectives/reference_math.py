"""Independent reference implementations of every objective, in numpy and plain Python loops.

Nothing here imports preflab: each function restates its paper's (or the cited code's) formula one
example at a time, so a vectorization, masking or sign slip in ``preflab.objectives`` shows up as a
mismatch. Each ``ref_<name>(f, **hp)`` takes the raw numpy fields of a batch (see ``make_fields``) and
returns ``(loss, per_example)``; per_example is None where the objective's loss is not a plain mean.
"""

from __future__ import annotations

import math

import numpy as np

# --------------------------------------------------------------------------------------------------
# scalar helpers
# --------------------------------------------------------------------------------------------------


def logsig(z):
    return -np.logaddexp(0.0, -z)


def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def relu(x):
    return max(0.0, x)


# --------------------------------------------------------------------------------------------------
# the raw fields of a batch
# --------------------------------------------------------------------------------------------------


def make_fields(seed: int, B: int = 4, K: int = 2, T: int = 6, M: int = 2, ragged: bool = False) -> dict:
    """Random but well-conditioned fields of a batch. With ``ragged``, some slots of lists are absent and
    hold finite garbage (1e3 + noise) that must not influence anything."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, T + 1, size=(B, K))
    tmask = np.arange(T)[None, None, :] < lengths[:, :, None]
    tok = -rng.uniform(0.05, 2.5, size=(B, K, T)) * tmask
    ref_tok = -rng.uniform(0.05, 2.5, size=(B, K, T)) * tmask
    old_tok = (tok + rng.normal(0, 0.15, size=(B, K, T))) * tmask
    sq_mass = -rng.uniform(0.2, 2.0, size=(B, K, T)) * tmask
    mask = np.ones((B, K), dtype=bool)
    if ragged and K > 2:
        for b in range(B):
            drop = max(int(b == 0), rng.integers(0, K - 1))   # keep at least 2; row 0 loses one
            if drop:
                mask[b, rng.choice(K, size=drop, replace=False)] = False
    ranks = np.stack([rng.permutation(K) for _ in range(B)])
    util = rng.normal(0, 1.5, size=(B, K))
    prefs = sig(util[:, :, None] - util[:, None, :])
    labels = np.where(rng.random((B, K)) < 0.5, 1, -1)
    if K > 1:  # every prompt has a desirable and an undesirable response
        labels[:, 0], labels[:, -1] = 1, -1
    else:
        labels[: B // 2] = 1
        labels[B // 2:] = -1
    f = dict(
        policy_logps=tok.sum(-1), ref_logps=ref_tok.sum(-1), lengths=lengths, mask=mask, ranks=ranks,
        rewards=rng.uniform(0, 1, size=(B, K)), prefs=prefs, labels=labels,
        opponent_logps=tok.sum(-1)[:, :, None] + rng.normal(0, 1.0, size=(B, K, M)),
        token_logps=tok, token_mask=tmask, ref_token_logps=ref_tok, old_token_logps=old_tok,
        token_log_sq_mass=sq_mass,
        extra_ref_logps=ref_tok.sum(-1)[:, :, None] + rng.normal(0, 0.8, size=(B, K, 1)),
        kl_policy_logps=rng.normal(-5, 1, size=B), kl_ref_logps=rng.normal(-5.3, 1, size=B),
        values=rng.normal(0, 0.5, size=B),
    )
    if ragged:
        absent = ~mask
        for name in ("policy_logps", "ref_logps", "rewards", "opponent_logps", "extra_ref_logps"):
            f[name][absent] = 1e3 + rng.normal(0, 1, size=f[name][absent].shape)
        f["token_logps"][absent] = 7.0
    return f


def pair(f, name, b):
    """(chosen, rejected) of field ``name`` in row b: chosen has rank 0."""
    x = f[name][b]
    w = int(np.argmin(f["ranks"][b]))
    return x[w], x[1 - w]


def rho_pair(f, b, average=False):
    pw, pl = pair(f, "policy_logps", b)
    rw, rl = pair(f, "ref_logps", b)
    if average:
        lw, ll = pair(f, "lengths", b)
        return (pw - rw) / lw, (pl - rl) / ll
    return pw - rw, pl - rl


def per_pair(f, fn):
    vals = np.array([fn(b) for b in range(len(f["policy_logps"]))])
    return vals.mean(), vals


# --------------------------------------------------------------------------------------------------
# pairwise with a reference
# --------------------------------------------------------------------------------------------------


def ref_dpo(f, beta, label_smoothing):
    def one(b):
        w, l = rho_pair(f, b)
        z = beta * (w - l)
        return -(1 - label_smoothing) * logsig(z) - label_smoothing * logsig(-z)
    return per_pair(f, one)


ref_cdpo = ref_dpo


def ref_robust_dpo(f, beta, label_smoothing):
    e = label_smoothing

    def one(b):
        w, l = rho_pair(f, b)
        z = beta * (w - l)
        return ((1 - e) * -logsig(z) - e * -logsig(-z)) / (1 - 2 * e)
    return per_pair(f, one)


def ref_ipo(f, beta):
    def one(b):
        w, l = rho_pair(f, b, average=True)
        return (w - l - 1 / (2 * beta)) ** 2
    return per_pair(f, one)


def ref_ipo_sum(f, beta):
    def one(b):
        w, l = rho_pair(f, b)
        return (w - l - 1 / (2 * beta)) ** 2
    return per_pair(f, one)


def ref_hinge(f, beta):
    return per_pair(f, lambda b: relu(1 - beta * (rho_pair(f, b)[0] - rho_pair(f, b)[1])))


def ref_exo_pair(f, beta, label_smoothing):
    e = label_smoothing

    def one(b):
        w, l = rho_pair(f, b)
        z = beta * (w - l)
        # reverse KL between (sig(z), sig(-z)) and the smoothed label (1 - e, e)
        return sig(z) * math.log(sig(z) / (1 - e)) + sig(-z) * math.log(sig(-z) / e)
    return per_pair(f, one)


def ref_nca_pair(f, beta):
    def one(b):
        w, l = rho_pair(f, b)
        return -logsig(beta * w) - 0.5 * logsig(-beta * w) - 0.5 * logsig(-beta * l)
    return per_pair(f, one)


def ref_bco_pair(f, beta):
    return per_pair(f, lambda b: -logsig(beta * rho_pair(f, b)[0]) - logsig(-beta * rho_pair(f, b)[1]))


def ref_apo_zero(f, beta):
    return per_pair(f, lambda b: (1 - sig(beta * rho_pair(f, b)[0])) + sig(beta * rho_pair(f, b)[1]))


def ref_apo_down(f, beta):
    def one(b):
        w, l = rho_pair(f, b)
        return sig(beta * w) + (1 - sig(beta * (w - l)))
    return per_pair(f, one)


def ref_sppo_hard(f, beta):
    def one(b):
        w, l = rho_pair(f, b)
        return (w - 0.5 / beta) ** 2 + (l + 0.5 / beta) ** 2
    return per_pair(f, one)


def ref_rpo(f, beta, alpha):
    def one(b):
        w, l = rho_pair(f, b)
        pw, _ = pair(f, "policy_logps", b)
        lw, _ = pair(f, "lengths", b)
        return -logsig(beta * (w - l)) - alpha * pw / lw
    return per_pair(f, one)


def ref_sft(f):
    def one(b):
        pw, _ = pair(f, "policy_logps", b)
        lw, _ = pair(f, "lengths", b)
        return -pw / lw
    return per_pair(f, one)


def _sorted_logistic(delta, beta, e):
    vals = np.array([-(1 - e) * logsig(beta * d) - e * logsig(-beta * d) for d in delta])
    return vals.mean(), vals


def ref_aot(f, beta, label_smoothing):
    B = len(f["policy_logps"])
    pol = [pair(f, "policy_logps", b) for b in range(B)]
    ref = [pair(f, "ref_logps", b) for b in range(B)]
    delta = np.array(sorted(w - l for w, l in pol)) - np.array(sorted(w - l for w, l in ref))
    return _sorted_logistic(delta, beta, label_smoothing)


def ref_aot_unpaired(f, beta, label_smoothing):
    B = len(f["policy_logps"])
    rhos = [rho_pair(f, b) for b in range(B)]
    delta = np.array(sorted(w for w, _ in rhos)) - np.array(sorted(l for _, l in rhos))
    return _sorted_logistic(delta, beta, label_smoothing)


def _fdpo(f, beta, fprime):
    def one(b):
        w, l = rho_pair(f, b)
        return -logsig(beta * (fprime(math.exp(w)) - fprime(math.exp(l))))
    return per_pair(f, one)


def ref_fdpo_forward_kl(f, beta):
    return _fdpo(f, beta, lambda u: -1.0 / u)


def ref_fdpo_js(f, beta):
    return _fdpo(f, beta, lambda u: math.log(2 * u / (1 + u)))


def ref_fdpo_alpha(f, beta, alpha):
    return _fdpo(f, beta, lambda u: (1 - u ** (-alpha)) / alpha)


def ref_h_dpo(f, beta, alpha):
    def one(b):
        pw, pl = pair(f, "policy_logps", b)
        rw, rl = pair(f, "ref_logps", b)
        return -logsig(alpha * beta * (pw - pl) - beta * (rw - rl))
    return per_pair(f, one)


def ref_wpo(f, beta):
    def weight(b, k):
        m = f["token_mask"][b, k]
        return math.exp(np.mean(f["token_logps"][b, k][m] - f["token_log_sq_mass"][b, k][m]))

    def one(b):
        w, l = rho_pair(f, b)
        return weight(b, 0) * weight(b, 1) * -logsig(beta * (w - l))  # the product is symmetric
    return per_pair(f, one)


def ref_ld_dpo(f, beta, alpha):
    def ld(b, k, name, shared):
        total = 0.0
        pos = 0
        for t in range(f["token_mask"].shape[-1]):
            if f["token_mask"][b, k, t]:
                pos += 1
                total += f[name][b, k, t] * (1.0 if pos <= shared else alpha)
        return total

    def one(b):
        n = f["token_mask"][b].sum(-1)
        shared = min(n[0], n[1])
        rho = [ld(b, k, "token_logps", shared) - ld(b, k, "ref_token_logps", shared) for k in (0, 1)]
        w = int(np.argmin(f["ranks"][b]))
        return -logsig(beta * (rho[w] - rho[1 - w]))
    return per_pair(f, one)


def ref_mappo(f, beta):
    def one(b):
        w, l = rho_pair(f, b)
        r_w, r_l = pair(f, "rewards", b)
        gap = min(1.0, max(0.0, r_w - r_l))
        return -logsig(beta * w - gap * beta * l)
    return per_pair(f, one)


def ref_irepo(f, beta, clip):
    def one(b):
        w, l = rho_pair(f, b)
        ws = int(np.argmin(f["ranks"][b]))
        p = min(max(f["prefs"][b, ws, 1 - ws], clip), 1 - clip)
        return (beta * (w - l) - math.log(p / (1 - p))) ** 2
    return per_pair(f, one)


def ref_mrpo(f, beta, eta, alpha):
    def one(b):
        r2w, r2l = pair(f, "ref_logps", b)
        ex = f["extra_ref_logps"][b, :, 0]
        ws = int(np.argmin(f["ranks"][b]))
        r1w, r1l = ex[ws], ex[1 - ws]
        a = abs(r1w - r1l) / (abs(r1w - r1l) + abs(r2w - r2l) + 1e-6) if alpha < 0 else alpha
        if eta < 0:
            ew = el = -eta
        else:
            bw, bl = abs((r1w + r2w) / 2), abs((r1l + r2l) / 2)
            ew, el = eta * bw / (bw + bl), eta * (1 - bw / (bw + bl))
        r1w = min(max(r1w, r2w * (1 + ew)), r2w * (1 - ew))
        r1l = min(max(r1l, r2l * (1 + el)), r2l * (1 - el))
        r0w = r1w + r2w - math.log(a * math.exp(r1w) + (1 - a) * math.exp(r2w))
        r0l = r1l + r2l - math.log(a * math.exp(r1l) + (1 - a) * math.exp(r2l))
        pw, pl = pair(f, "policy_logps", b)
        return -logsig(beta * ((pw - r0w) - (pl - r0l)))
    return per_pair(f, one)


def ref_pre_dpo(f, beta):
    def one(b):
        pw, pl = pair(f, "policy_logps", b)
        ws = int(np.argmin(f["ranks"][b]))
        gw, gl = f["extra_ref_logps"][b, ws, 0], f["extra_ref_logps"][b, 1 - ws, 0]
        return -logsig(beta * ((pw - gw) - (pl - gl)))
    return per_pair(f, one)


# --------------------------------------------------------------------------------------------------
# reference-free
# --------------------------------------------------------------------------------------------------


def _avg_pair(f, b):
    pw, pl = pair(f, "policy_logps", b)
    lw, ll = pair(f, "lengths", b)
    return pw / lw, pl / ll


def ref_simpo(f, beta, gamma_beta_ratio, label_smoothing):
    def one(b):
        aw, al = _avg_pair(f, b)
        z = beta * (aw - al) - beta * gamma_beta_ratio
        return -(1 - label_smoothing) * logsig(z) - label_smoothing * logsig(-z)
    return per_pair(f, one)


def ref_cpo(f, beta, alpha):
    def one(b):
        pw, pl = pair(f, "policy_logps", b)
        aw, _ = _avg_pair(f, b)
        return -logsig(beta * (pw - pl)) - alpha * aw
    return per_pair(f, one)


def ref_orpo(f, beta):
    def one(b):
        aw, al = _avg_pair(f, b)
        p_w, p_l = math.exp(aw), math.exp(al)
        log_odds = math.log(p_w / (1 - p_w)) - math.log(p_l / (1 - p_l))
        return -aw - beta * logsig(log_odds)
    return per_pair(f, one)


def ref_asft(f, beta):
    def one(b):
        aw, al = _avg_pair(f, b)
        p_w, p_l = math.exp(aw), math.exp(al)
        odds_w, odds_l = math.log(p_w / (1 - p_w)), math.log(p_l / (1 - p_l))
        return -aw - beta * (logsig(odds_w) + logsig(-odds_l))
    return per_pair(f, one)


# --------------------------------------------------------------------------------------------------
# DiscoPOP's discovered losses (code constants)
# --------------------------------------------------------------------------------------------------


def _margins(f):
    return np.array([rho_pair(f, b)[0] - rho_pair(f, b)[1] for b in range(len(f["policy_logps"]))])


def ref_discopop(f, beta, tau):
    z = beta * _margins(f)
    g = sig(z / tau)
    vals = (1 - g) * -logsig(z) + g * np.exp(-z)
    return vals.mean(), vals


def ref_padll(f, beta):
    m = _margins(f)
    vals = np.array([0.9 * (0.5 if r < 0 else 1.0) * -logsig(beta * r) for r in m])
    return vals.mean(), vals


def ref_cell(f, beta):
    z = beta * _margins(f)
    vals = 0.5 * np.exp(-z) + 0.5 * -logsig(z)
    return vals.mean(), vals


def ref_pfl(f, beta):
    def one(b):
        w, l = rho_pair(f, b)
        z = beta * (w - l)
        pw, pl = pair(f, "policy_logps", b)
        return -logsig(z) / 2 if pw > pl else 2 * relu(1 - z)
    return per_pair(f, one)


def ref_aqfl(f, beta):
    z = beta * _margins(f)
    s = z / 0.05
    q = np.std(s, ddof=1) * np.mean(sig(-s))
    q = q + 0.05 * (sig(np.mean(s)) - q)
    g = sig(0.1 * np.abs(s - q))
    vals = g * -logsig(z) + (1 - g) * np.maximum(0, 1 - z)
    return vals.mean(), vals


def ref_aql(f, beta):
    z = beta * _margins(f)
    s = z / 0.05
    q = 0.5 + 0.01 * (sig(np.mean(s)) - 0.5)
    g = sig(-(s - q))
    vals = g * -logsig(z) + (1 - g) * np.maximum(0, 1 - z)
    return vals.mean(), vals


def ref_dbaql(f, beta):
    z = beta * _margins(f)
    c = sig(np.var(z / 0.05, ddof=1))
    vals = c * -logsig(z / 0.9) + (1 - c) * np.exp(-z * 0.9)
    return vals.mean(), vals


# --------------------------------------------------------------------------------------------------
# unpaired
# --------------------------------------------------------------------------------------------------


def _responses(f):
    B, K = f["policy_logps"].shape
    return [(b, k) for b in range(B) for k in range(K) if f["mask"][b, k]]


def _rho(f, b, k):
    return f["policy_logps"][b, k] - f["ref_logps"][b, k]


def _mean_over(f, value, select=lambda b, k: True):
    """(mean over selected responses, per-prompt means with 0 for none)."""
    B = f["policy_logps"].shape[0]
    chosen = [(b, k) for b, k in _responses(f) if select(b, k)]
    per = []
    for b in range(B):
        vals = [value(bb, k) for bb, k in chosen if bb == b]
        per.append(np.mean(vals) if vals else 0.0)
    return np.mean([value(b, k) for b, k in chosen]), np.array(per)


def ref_kto(f, beta, desirable_weight, undesirable_weight, reference_point):
    if reference_point == "mismatched":
        z0 = max(0.0, float(np.mean(f["kl_policy_logps"] - f["kl_ref_logps"])))
    elif reference_point == "batch":
        z0 = max(0.0, float(np.mean([_rho(f, b, k) for b, k in _responses(f)])))
    else:
        z0 = 0.0

    def value(b, k):
        r = _rho(f, b, k)
        if f["labels"][b, k] > 0:
            return desirable_weight * (1 - sig(beta * (r - z0)))
        return undesirable_weight * (1 - sig(beta * (z0 - r)))
    return _mean_over(f, value)


def ref_bco(f, beta, previous=()):
    """BCO after earlier batches ``previous`` (lists of rewards) fed the running mean."""
    seen = [r for batch in previous for r in batch]
    seen += [beta * _rho(f, b, k) for b, k in _responses(f)]
    delta = float(np.mean(seen))

    def value(b, k):
        r = beta * _rho(f, b, k)
        return -logsig(r - delta) if f["labels"][b, k] > 0 else -logsig(-(r - delta))
    return _mean_over(f, value)


def ref_npo(f, beta):
    return _mean_over(f, lambda b, k: (2 / beta) * math.log(1 + math.exp(beta * _rho(f, b, k))),
                      lambda b, k: f["labels"][b, k] < 0)


def ref_simnpo(f, beta, gamma):
    def value(b, k):
        avg = f["policy_logps"][b, k] / f["lengths"][b, k]
        return -(2 / beta) * logsig(-beta * avg - gamma)
    return _mean_over(f, value, lambda b, k: f["labels"][b, k] < 0)


def ref_d2o(f, beta, alpha):
    per = []
    for b in range(f["policy_logps"].shape[0]):
        samples = [_rho(f, b, k) for bb, k in _responses(f) if bb == b and f["labels"][b, k] > 0]
        negatives = [_rho(f, b, k) for bb, k in _responses(f) if bb == b and f["labels"][b, k] < 0]
        mean_sample = beta * sum(samples) / len(samples)
        per.append(np.mean([-logsig(mean_sample - alpha * n) for n in negatives]))
    per = np.array(per)
    return per.mean(), per


def ref_dro(f, tau):
    return _mean_over(f, lambda b, k: 0.5 * (f["rewards"][b, k] - f["values"][b] - tau * _rho(f, b, k)) ** 2)


# --------------------------------------------------------------------------------------------------
# listwise
# --------------------------------------------------------------------------------------------------


def _present(f, b):
    return [k for k in range(f["policy_logps"].shape[1]) if f["mask"][b, k]]


def _win_rate_labels(f, b, source):
    ks = _present(f, b)
    if source == "rewards":
        return {k: f["rewards"][b, k] for k in ks}
    psi = {}
    for k in ks:
        total = 0.0
        for j in ks:
            if j == k:
                total += 0.5
            elif source == "prefs":
                total += f["prefs"][b, k, j]
            else:  # ranks
                total += 1.0 if f["ranks"][b, k] < f["ranks"][b, j] else (0.5 if f["ranks"][b, k] == f["ranks"][b, j] else 0.0)
        psi[k] = total / len(ks)
    return psi


def ref_plackett_luce(f, beta):
    per = []
    for b in range(f["policy_logps"].shape[0]):
        ks = sorted(_present(f, b), key=lambda k: (f["ranks"][b, k], k))
        s = [beta * _rho(f, b, k) for k in ks]
        per.append(-sum(s[i] - math.log(sum(math.exp(x) for x in s[i:])) for i in range(len(s))))
    per = np.array(per)
    return per.mean(), per


def ref_listnet(f, beta, target, source="prefs"):
    per = []
    for b in range(f["policy_logps"].shape[0]):
        ks = _present(f, b)
        psi = _win_rate_labels(f, b, source)
        s = {k: beta * _rho(f, b, k) for k in ks}
        log_z = math.log(sum(math.exp(v) for v in s.values()))
        if target == "softmax":
            zq = sum(math.exp(psi[k]) for k in ks)
            q = {k: math.exp(psi[k]) / zq for k in ks}
        else:
            q = {k: psi[k] / sum(psi.values()) for k in ks}
        per.append(-sum(q[k] * (s[k] - log_z) for k in ks))
    per = np.array(per)
    return per.mean(), per


def ref_lipo_lambda(f, beta, source="prefs"):
    per = []
    for b in range(f["policy_logps"].shape[0]):
        ks = _present(f, b)
        psi = _win_rate_labels(f, b, source)
        s = {k: beta * _rho(f, b, k) for k in ks}
        ordered = sorted(ks, key=lambda k: -s[k])
        tau = {k: i + 1 for i, k in enumerate(ordered)}
        total = 0.0
        for i in ks:
            for j in ks:
                if psi[i] > psi[j]:
                    delta = abs((2 ** psi[i] - 1) - (2 ** psi[j] - 1)) * abs(1 / math.log2(1 + tau[i]) - 1 / math.log2(1 + tau[j]))
                    total += delta * math.log(1 + math.exp(-(s[i] - s[j])))
        per.append(total)
    per = np.array(per)
    return per.mean(), per


def ref_mpo(f, beta, alpha):
    per = []
    for b in range(f["policy_logps"].shape[0]):
        ks = _present(f, b)
        mean = np.mean([f["rewards"][b, k] for k in ks])
        pos = [k for k in ks if f["rewards"][b, k] > mean]
        if not pos:
            per.append(0.0)
            continue
        term = {k: math.exp(alpha * abs(f["rewards"][b, k] - mean)) * math.exp(beta * _rho(f, b, k)) for k in ks}
        per.append(-math.log(sum(term[k] for k in pos) / sum(term.values())))
    per = np.array(per)
    return per.mean(), per


def ref_rso(f, beta, loss):
    per = []
    B, K = f["policy_logps"].shape
    for b in range(B):
        vals = []
        for i in range(0, K - 1, 2):
            j = i + 1
            if not (f["mask"][b, i] and f["mask"][b, j]) or f["rewards"][b, i] == f["rewards"][b, j]:
                continue
            win, lose = (i, j) if f["rewards"][b, i] > f["rewards"][b, j] else (j, i)
            z = beta * (_rho(f, b, win) - _rho(f, b, lose))
            vals.append(relu(1 - z) if loss == "hinge" else -logsig(z))
        per.append(np.mean(vals) if vals else 0.0)
    per = np.array(per)
    return per.mean(), per


# --------------------------------------------------------------------------------------------------
# Nash and game regressions
# --------------------------------------------------------------------------------------------------


def _win_rates_from_prefs(f, b):
    return _win_rate_labels(f, b, "prefs")


def ref_sppo(f, beta):
    per = []
    for b in range(f["policy_logps"].shape[0]):
        P = _win_rates_from_prefs(f, b)
        per.append(np.mean([(_rho(f, b, k) - (P[k] - 0.5) / beta) ** 2 for k in P]))
    per = np.array(per)
    return per.mean(), per


def _h(f, b, name, average, m=None):
    ws = int(np.argmin(f["ranks"][b]))
    x = f[name][b] if m is None else f[name][b, :, m]
    if average:
        x = x / f["lengths"][b]
    return x[ws] - x[1 - ws]


def ref_inpo(f, eta, tau, average_logps, beta):
    def one(b):
        h = (_h(f, b, "policy_logps", average_logps) - (tau / eta) * _h(f, b, "ref_logps", average_logps)
             - (1 - tau / eta) * _h(f, b, "opponent_logps", average_logps, 0))
        return (h - 1 / (2 * eta)) ** 2
    return per_pair(f, one)


def ref_mnpo(f, eta, ratio, weights, average_logps, beta):
    M = f["opponent_logps"].shape[-1]
    w = [1.0] * M if weights is None else list(weights)
    lam = [x / sum(w) for x in w]

    def one(b):
        opp = sum(lam[m] * _h(f, b, "opponent_logps", average_logps, m) for m in range(M))
        logits = _h(f, b, "policy_logps", average_logps) - ratio * _h(f, b, "ref_logps", average_logps) - (1 - ratio) * opp
        return (logits - 1 / (2 * eta)) ** 2
    return per_pair(f, one)


def ref_dno(f, beta, hard, margin):
    per = []
    for b in range(f["policy_logps"].shape[0]):
        r = _win_rates_from_prefs(f, b)
        ks = sorted(r)
        vals = []
        for a_i, i in enumerate(ks):
            for j in ks[a_i + 1:]:
                d = beta * ((f["policy_logps"][b, i] - f["opponent_logps"][b, i, 0])
                            - (f["policy_logps"][b, j] - f["opponent_logps"][b, j, 0]))
                gap = r[i] - r[j]
                if hard:
                    if abs(gap) <= margin:
                        continue
                    t = 1.0 if gap > 0 else 0.0
                else:
                    t = sig(gap)
                vals.append(-(t * logsig(d) + (1 - t) * logsig(-d)))
        per.append(np.mean(vals) if vals else 0.0)
    per = np.array(per)
    return per.mean(), per


def ref_online_ipo(f, beta):
    def one(b):
        return (_rho(f, b, 0) - _rho(f, b, 1) - (f["prefs"][b, 0, 1] - 0.5) / beta) ** 2
    return per_pair(f, one)


def ref_egpo(f, beta):
    def one(b):
        K = f["policy_logps"].shape[1]
        opp = [o for o in range(2, K) if f["mask"][b, o]]
        if opp:
            p0 = np.mean([f["prefs"][b, 0, o] for o in opp])
            p1 = np.mean([f["prefs"][b, 1, o] for o in opp])
        else:
            p0, p1 = f["prefs"][b, 0, 1], 0.5
        return (_rho(f, b, 0) - _rho(f, b, 1) - (p0 - p1) / beta) ** 2
    return per_pair(f, one)


def ref_nash_md(f, beta):
    def one(b):
        m = f["token_mask"][b, 0]
        lp = f["token_logps"][b, 0][m]
        lr = lp - f["ref_token_logps"][b, 0][m]
        p = f["prefs"][b, 0, 1]
        return beta * float(np.sum(lr * lp)) - (p - 0.5) * float(np.sum(lp))
    return per_pair(f, one)


# --------------------------------------------------------------------------------------------------
# policy gradient
# --------------------------------------------------------------------------------------------------


def _group(f, b):
    ks = _present(f, b)
    r = np.array([f["rewards"][b, k] for k in ks])
    return ks, r


def _tokens(f, b, k, name="token_logps"):
    return f[name][b, k][f["token_mask"][b, k]]


def _seq_mean(f, per_response):
    """(mean over all present sequences, per-prompt means)."""
    flat = [v for vals in per_response for v in vals]
    per = np.array([np.mean(vals) for vals in per_response])
    return np.mean(flat), per


def ref_reinforce(f, baseline, beta):
    out = []
    for b in range(f["policy_logps"].shape[0]):
        vals = []
        for k in _present(f, b):
            old = float(np.sum(_tokens(f, b, k, "old_token_logps")))
            a = f["rewards"][b, k] - beta * (old - f["ref_logps"][b, k]) - baseline
            vals.append(-a * f["policy_logps"][b, k])
        out.append(vals)
    return _seq_mean(f, out)


def ref_rloo(f, beta, epsilon):
    out = []
    for b in range(f["policy_logps"].shape[0]):
        ks = _present(f, b)
        old = {k: float(np.sum(_tokens(f, b, k, "old_token_logps"))) for k in ks}
        shaped = {k: f["rewards"][b, k] - beta * (old[k] - f["ref_logps"][b, k]) for k in ks}
        vals = []
        for k in ks:
            adv = shaped[k] - np.mean([shaped[j] for j in ks if j != k])
            q = math.exp(f["policy_logps"][b, k] - old[k])
            vals.append(-min(q * adv, min(max(q, 1 - epsilon), 1 + epsilon) * adv))
        out.append(vals)
    return _seq_mean(f, out)


def _surrogate_tokens(f, b, k, adv, eps_low, eps_high, beta):
    lp, old = _tokens(f, b, k), _tokens(f, b, k, "old_token_logps")
    losses = []
    for t in range(len(lp)):
        q = math.exp(lp[t] - old[t])
        l = -min(q * adv, min(max(q, 1 - eps_low), 1 + eps_high) * adv)
        if beta:
            d = _tokens(f, b, k, "ref_token_logps")[t] - lp[t]
            l += beta * (math.exp(d) - d - 1)
        losses.append(l)
    return losses


def ref_grpo(f, epsilon, epsilon_high, beta, scale_rewards):
    high = epsilon if epsilon_high is None else epsilon_high
    out = []
    for b in range(f["policy_logps"].shape[0]):
        ks, r = _group(f, b)
        adv = r - r.mean()
        if scale_rewards:
            adv = adv / (np.std(r, ddof=1) + 1e-4)
        out.append([np.mean(_surrogate_tokens(f, b, k, a, epsilon, high, beta)) for k, a in zip(ks, adv)])
    return _seq_mean(f, out)


def ref_dr_grpo(f, epsilon, epsilon_high, beta, max_completion_length):
    high = epsilon if epsilon_high is None else epsilon_high
    L = max_completion_length or f["token_logps"].shape[-1]
    out = []
    for b in range(f["policy_logps"].shape[0]):
        ks, r = _group(f, b)
        adv = r - r.mean()
        out.append([np.sum(_surrogate_tokens(f, b, k, a, epsilon, high, beta)) / L for k, a in zip(ks, adv)])
    return _seq_mean(f, out)


def ref_gpg(f, scale_rewards, adjust_gradient):
    B = f["policy_logps"].shape[0]
    total, n_tokens, valid = 0.0, 0, 0
    for b in range(B):
        ks, r = _group(f, b)
        std = np.std(r, ddof=1)
        valid += std > 0
        adv = r - r.mean()
        if scale_rewards:
            adv = adv / (std + 1e-4)
        for k, a in zip(ks, adv):
            toks = _tokens(f, b, k)
            total += -a * toks.sum()
            n_tokens += len(toks)
    alpha = B / valid if adjust_gradient and valid else 1.0
    return alpha * total / n_tokens, None


def ref_gvpo(f, beta):
    per = []
    for b in range(f["policy_logps"].shape[0]):
        ks, r = _group(f, b)
        implicit = np.array([beta * (f["policy_logps"][b, k] - np.sum(_tokens(f, b, k, "old_token_logps"))) for k in ks])
        res = (implicit - implicit.mean()) - (r - r.mean())
        per.append(np.sum(0.5 * res ** 2) / (len(ks) - 1))
    per = np.array(per)
    return per.mean(), per


def _beta_pdf(x, a, b):
    log_b = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    return math.exp((a - 1) * math.log(x) + (b - 1) * math.log(1 - x) - log_b)


def ref_bnpo(f, epsilon, epsilon_high, beta, reward_min, reward_max):
    high = epsilon if epsilon_high is None else epsilon_high
    B = f["policy_logps"].shape[0]
    groups = [_group(f, b) for b in range(B)]
    scaled = [(ks, (r - reward_min) / (reward_max - reward_min)) for ks, r in groups]
    p = np.array([r.mean() for _, r in scaled])
    mean, var = p.mean(), p.var()
    if var > 0:
        c = mean * (1 - mean) / var - 1
        a, bb = max(1.0, 1 + c * mean / 3), max(1.0, 1 + c * (1 - mean) / 3)
    else:
        a = bb = 1.0
    total, n_tokens = 0.0, 0
    for b, (ks, r) in enumerate(scaled):
        weight = min(1e6, 1 / _beta_pdf(min(max(p[b], 1e-6), 1 - 1e-6), a, bb))
        for k, x in zip(ks, r):
            losses = _surrogate_tokens(f, b, k, weight * (x - p[b]), epsilon, high, beta)
            total += sum(losses)
            n_tokens += len(losses)
    return total / n_tokens, None
