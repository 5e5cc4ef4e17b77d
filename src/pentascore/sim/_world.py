"""The latent world behind the simulated events.

Everything here is unobserved: per-user traits, when each user joined, their credit products,
the friendship graph, a monthly stress state, and the default episodes drawn from a calibrated
monthly hazard. `pentascore.sim._events` turns this world into platform events.

Time is integer microseconds since the Unix epoch throughout (UTC), so that arithmetic on
millions of timestamps stays in int64 numpy arrays.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[Any]

SECOND = 1_000_000
HOUR = 3_600 * SECOND
DAY = 24 * HOUR
MONTH = int(30.44 * DAY)
# Days past due of a default that is never repaid: far beyond any simulated horizon.
NEVER_DAYS = 1_000_000
FAR_FUTURE = np.iinfo(np.int64).max // 4

TRAITS: tuple[str, ...] = ("discipline", "wealth", "stability", "sociability", "fraud_exposure")

# Correlation of the five latent traits (standard normals). Disciplined people tend to be
# wealthier and more settled; fraud exposure goes with low discipline and, mildly, with a large
# social circle.
TRAIT_CORRELATION: Arr = np.array(
    [
        [1.00, 0.30, 0.35, 0.10, -0.20],
        [0.30, 1.00, 0.30, 0.15, -0.10],
        [0.35, 0.30, 1.00, 0.10, -0.20],
        [0.10, 0.15, 0.10, 1.00, 0.15],
        [-0.20, -0.10, -0.20, 0.15, 1.00],
    ]
)

# Coefficients of the monthly default hazard (logit scale, per standard deviation). Every trait
# matters; discipline dominates, as repayment history does in real bureau data.
HAZARD_COEFFICIENTS: dict[str, float] = {
    "discipline": -0.90,
    "wealth": -0.50,
    "stability": -0.40,
    "sociability": -0.40,
    "fraud_exposure": 0.60,
    "peer_discipline": -0.35,
    "stress": 0.70,
}

THIN_FILE_SHARE = 0.10  # joined within the 6 months before as_of
RISKY_POOL_SHARE = 0.03  # the most fraud-exposed accounts, which draw fraud flags
HOMOPHILY_NOISE = 0.7  # noise added to discipline when ordering users to pick friends
RANDOM_FRIEND_SHARE = 0.15  # friendships formed outside one's own circle
MAX_PRODUCTS = 8
MAX_EPISODE_DRAWS = 3
PRODUCT_KINDS: tuple[str, ...] = ("credit_card", "instalment", "pay_later", "loan", "other")
PAY_LATER = PRODUCT_KINDS.index("pay_later")


def sigmoid(x: npt.ArrayLike) -> Arr:
    """Logistic function without overflow warnings for large arguments."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def default_hazard(
    *,
    discipline: npt.ArrayLike,
    wealth: npt.ArrayLike,
    stability: npt.ArrayLike,
    sociability: npt.ArrayLike,
    fraud_exposure: npt.ArrayLike,
    peer_discipline: npt.ArrayLike = 0.0,
    stress: npt.ArrayLike = 0.0,
    intercept: float = -5.0,
) -> Arr:
    """Monthly probability that a user with these traits enters a default episode.

    Logistic in a linear combination of the traits (`HAZARD_COEFFICIENTS`): discipline, wealth,
    stability and sociability lower it, fraud exposure raises it; ``peer_discipline`` is the
    mean discipline of the user's friends and ``stress`` the user's stress state that month.
    The simulator calibrates ``intercept`` so that the share of users defaulting in the outcome
    window lands near the configured target.

    Returns
    -------
    numpy.ndarray
        Probabilities in (0, 1), broadcast over the inputs.
    """
    c = HAZARD_COEFFICIENTS
    eta = (
        intercept
        + c["discipline"] * np.asarray(discipline, dtype=np.float64)
        + c["wealth"] * np.asarray(wealth, dtype=np.float64)
        + c["stability"] * np.asarray(stability, dtype=np.float64)
        + c["sociability"] * np.asarray(sociability, dtype=np.float64)
        + c["fraud_exposure"] * np.asarray(fraud_exposure, dtype=np.float64)
        + c["peer_discipline"] * np.asarray(peer_discipline, dtype=np.float64)
        + c["stress"] * np.asarray(stress, dtype=np.float64)
    )
    return sigmoid(eta)


# --- calendar --------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def add_months(t: datetime, k: int) -> datetime:
    """``t`` moved by ``k`` calendar months, the day clamped to the month's length."""
    years, month0 = divmod(t.month - 1 + k, 12)
    year, month = t.year + years, month0 + 1
    day = min(t.day, calendar.monthrange(year, month)[1])
    return t.replace(year=year, month=month, day=day)


def to_us(t: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (t - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class Calendar:
    """Simulation months: ``starts[k]`` is the start of month k; month ``history_months`` starts
    at as_of and the last entry is as_of + horizon (the end of the simulation)."""

    starts: Arr
    history_months: int

    @property
    def n_months(self) -> int:
        return len(self.starts) - 1

    @property
    def start(self) -> int:
        return int(self.starts[0])

    @property
    def as_of(self) -> int:
        return int(self.starts[self.history_months])

    @property
    def end(self) -> int:
        return int(self.starts[-1])

    def month_of(self, ts: Arr) -> Arr:
        """Month index of each timestamp (-1 before the start, n_months at or after the end)."""
        return np.searchsorted(self.starts, ts, side="right") - 1


def make_calendar(as_of: datetime, months: int, horizon_months: int) -> Calendar:
    as_of = as_of.astimezone(UTC)
    starts = np.array(
        [to_us(add_months(as_of, k)) for k in range(-months, horizon_months + 1)], dtype=np.int64
    )
    return Calendar(starts=starts, history_months=months)


def whole_seconds(us: Arr) -> Arr:
    """Durations rounded down to whole seconds, so timestamps print without fractions."""
    return (np.asarray(us, dtype=np.int64) // SECOND) * SECOND


# --- the world -------------------------------------------------------------------------------


@dataclass
class World:
    """The latent state of one simulated population (mutable only while events are generated)."""

    cal: Calendar
    traits: Arr  # (n, 5) float64, columns in TRAITS order
    join: Arr  # joined the platform, µs
    first_ts: Arr  # first moment the platform's feed covers the user: max(join, start)
    first_month: Arr
    male: Arr
    birth_year: Arr
    # credit products, one row each
    p_user: Arr
    p_slot: Arr
    p_kind: Arr  # index into PRODUCT_KINDS
    p_open: Arr
    p_close: Arr
    p_open_m: Arr  # -1 when opened before the simulation starts
    p_close_m: Arr  # n_months when still open at the end
    p_due_day: Arr
    p_limit: Arr  # minor units
    # friendships (undirected, a < b)
    e_a: Arr
    e_b: Arr
    e_add: Arr
    e_remove: Arr
    nbr_ptr: Arr
    nbr_idx: Arr
    peer: Arr  # mean discipline of friends, 0 without friends
    stress: Arr  # (months, n) float32
    theft: Arr  # (months, n) bool: the account was stolen that month
    risky_pool: Arr  # user indices of the most fraud-exposed accounts
    # default episodes, sorted by month
    intercept: float
    ep_user: Arr
    ep_month: Arr
    ep_days: Arr  # days past due when finally repaid; NEVER_DAYS if never

    @property
    def n(self) -> int:
        return len(self.join)

    def trait(self, name: str) -> Arr:
        return self.traits[:, TRAITS.index(name)]


def freeze_until(month: Arr | int, days: Arr) -> Arr:
    """First month a user's products bill again after a default starting in ``month``.

    While the defaulted bill is unpaid the lender freezes the user's products (no new bills,
    no new default); a margin of one month keeps new bills after the repayment.
    """
    return np.asarray(month) + 2 + (np.asarray(days, dtype=np.int64) + 29) // 30


def build_world(
    *,
    users: int,
    months: int,
    horizon_months: int,
    as_of: datetime,
    target_default_rate: float,
    rng: np.random.Generator,
) -> World:
    """Draw a population's latent world and calibrate its default hazard."""
    cal = make_calendar(as_of, months, horizon_months)
    n, n_months = users, cal.n_months

    traits = rng.standard_normal((n, len(TRAITS))) @ np.linalg.cholesky(TRAIT_CORRELATION).T
    disc, wealth, stab, soc, fraud = (traits[:, i] for i in range(len(TRAITS)))

    # Account age: a tenth are thin files who joined within the last six months; the others
    # joined earlier, settled people longer ago.
    thin = rng.random(n) < THIN_FILE_SHARE
    recent = rng.random(n) * 6 * MONTH
    tenure = 6 * MONTH + np.minimum(rng.exponential(36 * MONTH * np.exp(0.2 * stab)), 114 * MONTH)
    join = cal.as_of - whole_seconds(np.where(thin, recent, tenure)) - SECOND
    first_ts = np.maximum(join, cal.start)
    first_month = cal.month_of(first_ts)

    # Demographics, for fairness reports only: mildly related to wealth, never emitted.
    age = np.rint(37 + 11 * (0.3 * wealth + 0.2 * stab + 0.93 * rng.standard_normal(n)))
    birth_year = (as_of.astimezone(UTC).year - np.clip(age, 18, 75)).astype(np.int64)
    male = rng.random(n) < sigmoid(0.25 * wealth)

    products = _products(cal, join, disc, wealth, stab, rng)
    graph = _friendships(cal, join, disc, soc, rng)
    stress, theft = _stress(cal, first_ts, stab, fraud, rng)
    k = max(1, round(n * RISKY_POOL_SHARE))
    risky_pool = np.sort(np.argsort(-fraud, kind="stable")[:k])

    eta = (
        HAZARD_COEFFICIENTS["discipline"] * disc
        + HAZARD_COEFFICIENTS["wealth"] * wealth
        + HAZARD_COEFFICIENTS["stability"] * stab
        + HAZARD_COEFFICIENTS["sociability"] * soc
        + HAZARD_COEFFICIENTS["fraud_exposure"] * fraud
        + HAZARD_COEFFICIENTS["peer_discipline"] * graph["peer"]
    )
    # Month-major (months, users) arrays: each month reads one contiguous row.
    eligible = np.zeros((n_months, n), dtype=bool)
    for m in range(n_months):
        alive = (products["p_open_m"] < m) & (m < products["p_close_m"])
        eligible[m, products["p_user"][alive]] = True
    u = np.clip(rng.random((n_months, n)), 1e-12, 1 - 1e-12)
    # Default in month m when logit(u) - eta - c*stress < intercept, i.e. u < hazard: drawing u
    # once lets the calibration re-run the process with common random numbers.
    threshold = (
        np.log(u) - np.log1p(-u) - eta[None, :] - HAZARD_COEFFICIENTS["stress"] * stress
    ).astype(np.float32)
    cure = rng.random((n, MAX_EPISODE_DRAWS)) < sigmoid(1.3 + 0.5 * wealth + 0.3 * disc)[:, None]
    delay = 90 + np.rint(rng.gamma(2.0, 60.0, (n, MAX_EPISODE_DRAWS))).astype(np.int64)
    days = np.where(cure, delay, NEVER_DAYS)

    intercept = _calibrate(cal, threshold, eligible, days, target_default_rate)
    ep_user, ep_month, ep_days = _episodes(cal, threshold, eligible, days, intercept)[1]
    _postpone_closes(cal, products, n, ep_user, ep_month, ep_days, rng)

    return World(
        cal=cal,
        traits=traits,
        join=join,
        first_ts=first_ts,
        first_month=first_month,
        male=male,
        birth_year=birth_year,
        **products,
        **graph,
        stress=stress,
        theft=theft,
        risky_pool=risky_pool,
        intercept=intercept,
        ep_user=ep_user,
        ep_month=ep_month,
        ep_days=ep_days,
    )


def _products(
    cal: Calendar, join: Arr, disc: Arr, wealth: Arr, stab: Arr, rng: np.random.Generator
) -> dict[str, Arr]:
    """Credit products: a pay-later line for nearly everyone, more for the wealthy and the
    credit-hungry (low discipline)."""
    n = len(join)
    extra = rng.poisson(np.exp(0.1 + 0.35 * wealth - 0.3 * disc - 0.1 * stab))
    slots = 1 + np.minimum(extra, MAX_PRODUCTS - 1)
    p_user = np.repeat(np.arange(n), slots)
    p_slot = np.arange(len(p_user)) - np.repeat(np.cumsum(slots) - slots, slots)
    first = p_slot == 0
    w, d = wealth[p_user], disc[p_user]
    # Other products: Gumbel-max over logits of credit_card, instalment, loan, other.
    logits = np.stack(
        [0.4 + 0.7 * w, np.full_like(w, 0.2), -0.4 - 0.5 * d, np.full_like(w, -1.5)], axis=1
    )
    pick = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)
    other_kinds = np.array(
        [PRODUCT_KINDS.index(k) for k in ("credit_card", "instalment", "loan", "other")]
    )
    p_kind = np.where(first, PAY_LATER, other_kinds[pick])

    open_delay = np.where(
        first, rng.exponential(20 * DAY, len(p_user)), rng.exponential(14 * MONTH, len(p_user))
    )
    p_open = join[p_user] + whole_seconds(open_delay) + HOUR
    lifetime = np.where(
        first, rng.exponential(240 * MONTH, len(p_user)), rng.exponential(48 * MONTH, len(p_user))
    )
    p_close = p_open + whole_seconds(np.minimum(lifetime, 1000 * MONTH)) + DAY
    base = np.array([20_000.0, 8_000.0, 4_000.0, 30_000.0, 5_000.0])[p_kind]
    limit_cny = base * np.exp(0.55 * w + 0.2 * d + 0.35 * rng.standard_normal(len(p_user)))
    p_limit = np.maximum(5, np.rint(limit_cny / 100)).astype(np.int64) * 10_000

    keep = p_open < cal.end
    out = {
        "p_user": p_user,
        "p_slot": p_slot,
        "p_kind": p_kind,
        "p_open": p_open,
        "p_close": p_close,
        "p_due_day": rng.integers(1, 28, len(p_user)),
        "p_limit": p_limit,
    }
    out = {k: v[keep].astype(np.int64) for k, v in out.items()}
    out["p_open_m"] = cal.month_of(out["p_open"])
    out["p_close_m"] = np.minimum(cal.month_of(out["p_close"]), cal.n_months)
    return out


def _friendships(
    cal: Calendar, join: Arr, disc: Arr, soc: Arr, rng: np.random.Generator
) -> dict[str, Arr]:
    """A friendship graph with homophily: users befriend neighbours in an ordering by discipline
    plus noise, so good payers mostly know good payers; sociability sets the degree."""
    n = len(join)
    initiated = rng.poisson(np.exp(0.55 + 0.6 * soc))
    src = np.repeat(np.arange(n), initiated)
    key = disc + HOMOPHILY_NOISE * rng.standard_normal(n)
    order = np.argsort(key, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    window = max(3, min(50, n // 50))
    offset = rng.integers(1, window + 1, len(src)) * np.where(rng.random(len(src)) < 0.5, -1, 1)
    pos = rank[src] + offset
    pos = np.where(pos < 0, -pos, pos)
    pos = np.clip(np.where(pos >= n, 2 * (n - 1) - pos, pos), 0, n - 1)
    dst = order[pos]
    stranger = rng.random(len(src)) < RANDOM_FRIEND_SHARE
    dst = np.where(stranger, rng.integers(0, n, len(src)), dst)
    ok = src != dst
    pair = np.unique(np.minimum(src, dst)[ok] * n + np.maximum(src, dst)[ok])
    e_a, e_b = pair // n, pair % n

    e_add = np.maximum(join[e_a], join[e_b]) + whole_seconds(rng.exponential(8 * MONTH, len(pair)))
    e_add = e_add + HOUR
    removed = rng.random(len(pair)) < 0.10
    e_remove = np.where(
        removed, e_add + whole_seconds(rng.exponential(10 * MONTH, len(pair))) + DAY, FAR_FUTURE
    )

    src2, dst2 = np.concatenate([e_a, e_b]), np.concatenate([e_b, e_a])
    by_src = np.lexsort((dst2, src2))
    degree = np.bincount(src2, minlength=n)
    nbr_ptr = np.concatenate([[0], np.cumsum(degree)]).astype(np.int64)
    peer_sum = np.bincount(src2, weights=disc[dst2], minlength=n)
    peer = np.where(degree > 0, peer_sum / np.maximum(degree, 1), 0.0)
    return {
        "e_a": e_a.astype(np.int64),
        "e_b": e_b.astype(np.int64),
        "e_add": e_add.astype(np.int64),
        "e_remove": e_remove.astype(np.int64),
        "nbr_ptr": nbr_ptr,
        "nbr_idx": dst2[by_src].astype(np.int64),
        "peer": peer,
    }


def _stress(
    cal: Calendar, first_ts: Arr, stab: Arr, fraud: Arr, rng: np.random.Generator
) -> tuple[Arr, Arr]:
    """Monthly stress: a per-user AR(1) (more volatile for unstable users) plus a shared macro
    shock, with a jump when the account is stolen."""
    n, n_months = len(first_ts), cal.n_months
    rho = 0.75
    scale = np.exp(-0.25 * stab)
    macro = np.zeros(n_months)
    level = 0.0
    for m in range(n_months):
        level = 0.7 * level + 0.25 * float(rng.standard_normal())
        macro[m] = level
    joined = first_ts[None, :] < cal.starts[1:, None]
    p_theft = np.minimum(0.0006 * np.exp(1.2 * fraud), 0.05)
    theft = (rng.random((n_months, n)) < p_theft[None, :]) & joined
    stress = np.empty((n_months, n), dtype=np.float32)
    state = scale * rng.standard_normal(n)
    for m in range(n_months):
        state = rho * state + np.sqrt(1 - rho**2) * scale * rng.standard_normal(n)
        state = state + 1.5 * theft[m]
        stress[m] = state + macro[m]
    return stress, theft


def _episodes(
    cal: Calendar, threshold: Arr, eligible: Arr, days: Arr, intercept: float
) -> tuple[float, tuple[Arr, Arr, Arr]]:
    """Run the monthly default process for one intercept.

    Returns the approximate share of users with a 90+ days past due bill reported in the outcome
    window (the exact label is computed later from the events) and the episodes as (user,
    month, days past due at repayment).
    """
    n_months, n = threshold.shape
    until = np.zeros(n, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    users, months, delays = [], [], []
    for m in range(n_months):
        new = np.flatnonzero(eligible[m] & (until <= m) & (threshold[m] < intercept))
        if new.size == 0:
            continue
        d = days[new, np.minimum(count[new], days.shape[1] - 1)]
        count[new] += 1
        until[new] = freeze_until(m, d)
        due = int(cal.starts[m]) + 14 * DAY
        # 90+ reports run from due + 90 days until repayment (or the end): the user counts when
        # that stretch overlaps (as_of, end].
        bad[new] |= (due + 90 * DAY < cal.end) & (due + d * DAY > cal.as_of)
        users.append(new)
        months.append(np.full(new.size, m, dtype=np.int64))
        delays.append(d)
    if not users:
        empty = np.zeros(0, dtype=np.int64)
        return 0.0, (empty, empty, empty)
    return float(bad.mean()), (
        np.concatenate(users).astype(np.int64),
        np.concatenate(months),
        np.concatenate(delays).astype(np.int64),
    )


def _calibrate(cal: Calendar, threshold: Arr, eligible: Arr, days: Arr, target: float) -> float:
    """Bisection on the hazard intercept so the outcome-window default share meets ``target``.

    The share is non-decreasing in the intercept up to the freeze interactions, which only
    matter at the scale of single users.
    """
    lo, hi = -16.0, 4.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        rate = _episodes(cal, threshold, eligible, days, mid)[0]
        if abs(rate - target) < 2e-4:
            return mid
        if rate < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _postpone_closes(
    cal: Calendar,
    products: dict[str, Arr],
    n_users: int,
    ep_user: Arr,
    ep_month: Arr,
    ep_days: Arr,
    rng: np.random.Generator,
) -> None:
    """A product cannot be closed while its defaulted bill is unpaid: move such closes to the
    month the freeze ends (or never)."""
    if ep_user.size == 0:
        return
    until = freeze_until(ep_month, ep_days)
    # Episodes of one user never overlap; visit them by their rank within the user.
    order = np.lexsort((ep_month, ep_user))
    u_sorted = ep_user[order]
    rank = np.arange(len(order)) - np.searchsorted(u_sorted, u_sorted, side="left")
    for r in range(int(rank.max()) + 1):
        sel = order[rank == r]
        start = np.full(n_users, -1, dtype=np.int64)
        stop = np.full(n_users, -1, dtype=np.int64)
        start[ep_user[sel]] = ep_month[sel]
        stop[ep_user[sel]] = until[sel]
        s, e = start[products["p_user"]], stop[products["p_user"]]
        hit = (s >= 0) & (products["p_close_m"] > s) & (products["p_close_m"] < e)
        if not hit.any():
            continue
        new_m = e[hit]
        later = new_m < cal.n_months
        new_close = np.full(new_m.size, FAR_FUTURE, dtype=np.int64)
        new_close[later] = (
            cal.starts[new_m[later]] + whole_seconds(rng.random(int(later.sum())) * 20 * DAY) + DAY
        )
        products["p_close"][hit] = new_close
        products["p_close_m"][hit] = np.minimum(new_m, cal.n_months)
