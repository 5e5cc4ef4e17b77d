"""From the latent world to platform events, one month at a time.

Events are kept as numeric columns (user and product indices, vocabulary codes, µs timestamps,
minor units; -1 for null) in one block per event type; `pentascore.sim._table` turns them into
the Arrow table with the platform's raw identifiers. Vocabulary codes index `VOCAB[field]`, the
union of the field's choices over all event types.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pentascore.events.schema import FIELDS, SCENARIOS, EventType
from pentascore.sim._world import (
    DAY,
    FAR_FUTURE,
    HOUR,
    MONTH,
    PRODUCT_KINDS,
    SECOND,
    Arr,
    World,
    freeze_until,
    sigmoid,
    whole_seconds,
)

T = EventType


def _union_vocab(name: str) -> tuple[str, ...]:
    if name == "type":
        return tuple(t.value for t in EventType)
    spec = next(f for f in FIELDS if f.name == name)
    out: list[str] = []
    for t in EventType:
        out.extend(v for v in spec.choices_for(t) if v not in out)
    return tuple(out)


VOCAB: dict[str, tuple[str, ...]] = {
    f.name: _union_vocab(f.name) for f in FIELDS if f.kind == "choice"
}


def code(name: str, value: str) -> int:
    """Code of ``value`` in the union vocabulary of choice field ``name``."""
    return VOCAB[name].index(value)


def codes(name: str, values: Sequence[str]) -> Arr:
    return np.array([code(name, v) for v in values], dtype=np.int64)


PRODUCT_CODES = codes("product", PRODUCT_KINDS)
SERVICE_SCENARIOS = ("bike", "power_bank", "hotel", "car_rental", "flat_rental")
UTILITIES = ("water", "electricity", "gas", "phone", "broadband")
ASSET_KINDS = ("savings", "wealth", "provident_fund")
OTHER_VERIFICATIONS = ("education", "employment", "vehicle", "property")
N_PARTNERS_PER_SCENARIO = 17
PARTNER_IDS: tuple[str, ...] = tuple(
    f"P{i + 1:04d}" for i in range(len(SCENARIOS) * N_PARTNERS_PER_SCENARIO)
)
# Foreign phone numbers and addresses (someone else's) are drawn from this many ids.
FOREIGN_POOL = 10_000_000

# Merchant categories: base preference, spending level (log scale) and online propensity.
_CATEGORY_BASE = {
    "groceries": (1.5, -0.3, -0.4),
    "dining": (1.2, 0.0, -0.6),
    "transport": (1.0, -0.8, 0.2),
    "travel": (-0.6, 2.0, 1.0),
    "electronics": (-0.6, 1.8, 1.2),
    "apparel": (0.3, 0.6, 0.6),
    "entertainment": (0.0, 0.3, 0.3),
    "health": (-0.3, 0.5, -0.5),
    "education": (-1.0, 1.2, 0.5),
    "home": (-0.3, 0.8, 0.4),
    "luxury": (-2.2, 2.5, 0.2),
    "gaming": (-1.6, 0.2, 2.0),
    "other": (-0.5, 0.0, 0.0),
}


# Storage types of the numeric columns (anything else is int64): a million users make tens of
# millions of events, so codes and indices are kept narrow until the table is built.
_NARROW: dict[str, type[np.signedinteger[Any]]] = {
    **dict.fromkeys(VOCAB, np.int16),
    "currency": np.int8,
    "partner_id": np.int16,
    "user_id": np.int32,
    "counterparty_id": np.int32,
    "national_id": np.int32,
    "account_id": np.int32,
    "days_past_due": np.int32,
}


class Sink:
    """Numeric event columns, collected per event type."""

    def __init__(self) -> None:
        self._parts: dict[EventType, list[dict[str, Arr]]] = {t: [] for t in EventType}
        self._rows: dict[EventType, int] = dict.fromkeys(EventType, 0)

    def rows(self, event_type: EventType) -> int:
        return self._rows[event_type]

    def add(self, event_type: EventType, **cols: Arr) -> None:
        n = len(cols["user_id"])
        if any(len(v) != n for v in cols.values()):
            raise RuntimeError(f"ragged columns for {event_type}")
        if n:
            narrow = {k: np.asarray(v, dtype=_NARROW.get(k, np.int64)) for k, v in cols.items()}
            self._parts[event_type].append(narrow)
            self._rows[event_type] += n

    def blocks(self) -> dict[EventType, dict[str, Arr]]:
        """One block of equally long columns per event type that occurred.

        Consumes the collected parts, so that they are not held twice.
        """
        out: dict[EventType, dict[str, Arr]] = {}
        for t in EventType:
            parts = self._parts[t]
            self._parts[t] = []
            if not parts:
                continue
            names = list(parts[0])
            if any(list(p) != names for p in parts):
                raise RuntimeError(f"inconsistent columns for {t}")
            out[t] = {}
            for k in names:
                out[t][k] = np.concatenate([p.pop(k) for p in parts])
        return out


def _full(n: int, value: int) -> Arr:
    return np.full(n, value, dtype=np.int64)


class EventGenerator:
    """Generates every event of a `World`, month by month, into a `Sink`."""

    def __init__(self, world: World, rng: np.random.Generator) -> None:
        self.w = world
        self.rng = rng
        self.sink = Sink()
        n = world.n
        self.n = n
        disc, wealth, stab, soc, fraud = (
            world.trait(t)
            for t in ("discipline", "wealth", "stability", "sociability", "fraud_exposure")
        )
        self.disc, self.wealth, self.stab, self.soc, self.fraud = disc, wealth, stab, soc, fraud
        cal = world.cal
        # Phones and addresses: user u's k-th value is id u * versions + k; ids from
        # n * versions up are someone else's.
        self.versions = cal.n_months + 2
        self.foreign = n * self.versions
        self.phone_ver = np.zeros(n, dtype=np.int64)
        self.addr_ver = np.zeros(n, dtype=np.int64)
        self.phone_chg = np.full(n, FAR_FUTURE, dtype=np.int64)
        self.addr_chg = np.full(n, FAR_FUTURE, dtype=np.int64)
        self.p_phone_change = np.minimum(0.25, 0.010 * np.exp(-0.9 * stab + 0.3 * fraud))
        self.p_addr_change = np.minimum(0.25, 0.012 * np.exp(-0.9 * stab))
        self.frozen_until = np.zeros(n, dtype=np.int64)
        # State of the month being generated (set by `run`).
        self.month_start = self.month_end = 0
        self.act: Arr = np.zeros(0, dtype=np.int64)  # users joined by the month's end
        self.lo: Arr = np.zeros(n, dtype=np.int64)  # earliest event time per user
        self.frac: Arr = np.zeros(n)  # share of the month the user was a member
        self.default_days: Arr = np.full(n, -1, dtype=np.int64)  # a default starts: its days
        self.in_default: Arr = np.zeros(n, dtype=bool)
        self.stress: Arr = np.zeros(n)

        # Monthly propensities.
        self.p_use = sigmoid(-0.4 + 0.3 * soc - 0.25 * disc + 0.2 * wealth)
        self.lam_pay = 0.55 * np.exp(0.15 * wealth - 0.3 * disc + 0.2 * soc)
        self.lam_transfer = 0.05 * np.exp(0.5 * soc + 0.2 * wealth)
        self.p_risky = sigmoid(-3.5 + 1.6 * fraud)
        self.lam_service = 0.06 * np.exp(0.35 * soc + 0.2 * wealth)
        self.lam_charity = 0.02 * np.exp(0.4 * soc + 0.3 * disc + 0.3 * wealth)
        self.lam_inquiry = 0.02 * np.exp(-0.35 * disc)
        self.in_pool = np.zeros(n, dtype=bool)
        self.in_pool[world.risky_pool] = True
        self.degree = np.diff(world.nbr_ptr)

        # Merchant category preferences: less disciplined and less settled users spread their
        # spending over fewer categories and lean to luxury and gaming.
        cats = list(_CATEGORY_BASE)
        base = np.array([_CATEGORY_BASE[c][0] for c in cats])
        self.cat_spend = np.array([_CATEGORY_BASE[c][1] for c in cats])
        self.cat_online = np.array([_CATEGORY_BASE[c][2] for c in cats])
        self.cat_codes = codes("merchant_category", cats)
        logits = np.broadcast_to(base, (n, len(cats))).copy()
        logits[:, cats.index("luxury")] += 0.8 * wealth - 0.5 * disc
        logits[:, cats.index("gaming")] += -0.7 * disc
        logits[:, cats.index("entertainment")] += -0.3 * disc + 0.3 * soc
        logits[:, cats.index("travel")] += 0.5 * wealth
        logits[:, cats.index("education")] += 0.4 * stab
        spread = np.exp(0.1 - 0.35 * disc - 0.2 * stab)[:, None]
        logits += spread * rng.standard_normal((n, len(cats)))
        prob = np.exp(logits - logits.max(axis=1, keepdims=True))
        self.cat_cum = (np.cumsum(prob, axis=1) / prob.sum(axis=1, keepdims=True)).astype(
            np.float32
        )

        # Utilities the user pays through the platform (settled users pay more of them).
        util_base = np.array([-2.4, -1.8, -2.6, -1.4, -2.2])
        has = rng.random((n, len(UTILITIES))) < sigmoid(
            util_base[None, :] + (0.5 * stab + 0.3 * wealth)[:, None]
        )
        self.q_user, self.q_util = np.nonzero(has)
        self.util_amount = np.array([4_000.0, 15_000.0, 8_000.0, 6_000.0, 10_000.0])

        # Assets: savings for most, wealth products for the wealthy, a provident fund for the
        # formally employed; a snapshot every sixth month.
        p_hold = np.stack(
            [
                sigmoid(0.6 + 0.5 * wealth + 0.3 * disc),
                sigmoid(-1.4 + 1.0 * wealth),
                sigmoid(-0.5 + 0.8 * stab + 0.4 * wealth),
            ],
            axis=1,
        )
        self.holds = rng.random((n, 3)) < p_hold
        log_base = np.stack(
            [
                np.log(800_000.0) + 1.0 * wealth + 0.4 * disc,
                np.log(5_000_000.0) + 1.1 * wealth,
                np.log(3_000_000.0) + 0.6 * wealth + 0.5 * stab,
            ],
            axis=1,
        )
        self.asset_base = np.exp(log_base + np.array([0.8, 0.9, 0.6]) * rng.standard_normal((n, 3)))
        self.asset_phase = rng.integers(0, 6, n)

    # --- helpers ---------------------------------------------------------------------------

    def _ts(self, users: Arr) -> Arr:
        """A uniform time in this month, not before the user joined."""
        lo = self.lo[users]
        span = np.maximum(1, (self.month_end - lo) // SECOND)
        ts: Arr = lo + self.rng.integers(0, span) * SECOND
        return ts

    def _spawn(self, lam: Arr) -> tuple[Arr, Arr]:
        """A Poisson number of events per user joined this month, at uniform times."""
        users = self.act
        count = self.rng.poisson(lam[users] * self.frac[users])
        who = np.repeat(users, count)
        return who, self._ts(who)

    def _phone(self, users: Arr, ts: Arr) -> Arr:
        ver = self.phone_ver[users] + (ts >= self.phone_chg[users])
        return users * self.versions + ver

    def _address(self, users: Arr, ts: Arr) -> Arr:
        ver = self.addr_ver[users] + (ts >= self.addr_chg[users])
        return users * self.versions + ver

    def _foreign(self, k: int) -> Arr:
        return self.foreign + self.rng.integers(0, FOREIGN_POOL, k)

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> Sink:
        w = self.w
        self._initial_profiles()
        self._verifications()
        self._social_links()
        bounds = np.searchsorted(w.ep_month, np.arange(w.cal.n_months + 1))
        for m in range(w.cal.n_months):
            self.month_start, self.month_end = int(w.cal.starts[m]), int(w.cal.starts[m + 1])
            self.act = np.flatnonzero(w.first_ts < self.month_end)
            self.lo = np.maximum(w.first_ts, self.month_start)
            self.frac = np.clip(
                (self.month_end - self.lo) / (self.month_end - self.month_start), 0.0, 1.0
            )
            self.default_days = _full(self.n, -1)
            sel = slice(bounds[m], bounds[m + 1])
            self.default_days[w.ep_user[sel]] = w.ep_days[sel]
            self.in_default = (self.frozen_until > m) | (self.default_days >= 0)
            self.stress = w.stress[m].astype(np.float64)

            self._profile_changes(m)
            self._bills(m)
            self._credit_lines(m)
            self._services()
            self._payments()
            self._transfers()
            self._utilities()
            self._charity()
            self._assets(m)
            self._security(m)
            self._inquiries()

            started = self.default_days >= 0
            self.frozen_until[started] = freeze_until(m, self.default_days[started])
            self.phone_ver += self.phone_chg < FAR_FUTURE
            self.addr_ver += self.addr_chg < FAR_FUTURE
            self.phone_chg[:] = FAR_FUTURE
            self.addr_chg[:] = FAR_FUTURE
        return self.sink

    # --- one-off events --------------------------------------------------------------------

    def _initial_profiles(self) -> None:
        """The phone and address on file when the user enters the feed."""
        users = np.arange(self.n)
        ts = self.w.first_ts
        ids = users * self.versions
        kind = code("kind", "phone"), code("kind", "address")
        self.sink.add(
            T.PROFILE_CHANGE,
            user_id=np.concatenate([users, users]),
            ts=np.concatenate([ts, ts + SECOND]),
            kind=np.concatenate([_full(self.n, kind[0]), _full(self.n, kind[1])]),
            phone=np.concatenate([ids, _full(self.n, -1)]),
            address=np.concatenate([_full(self.n, -1), ids]),
        )

    def _verifications(self) -> None:
        w, rng, n = self.w, self.rng, self.n
        start, end = w.cal.start, w.cal.end
        real = rng.random(n) < sigmoid(2.3 + 0.5 * self.stab)
        real_ts = w.first_ts + whole_seconds(rng.random(n) * 2 * DAY) + 60 * SECOND
        real &= real_ts < end
        users, ts = [np.flatnonzero(real)], [real_ts[real]]
        kinds = [_full(int(real.sum()), code("kind", "real_name"))]
        probs = {
            "education": sigmoid(-0.8 + 0.6 * self.stab + 0.5 * self.wealth),
            "employment": sigmoid(-0.5 + 0.8 * self.stab + 0.3 * self.wealth),
            "vehicle": sigmoid(-1.5 + 0.9 * self.wealth),
            "property": sigmoid(-2.0 + 1.0 * self.wealth + 0.5 * self.stab),
        }
        for kind, p in probs.items():
            t = w.join + whole_seconds(rng.exponential(10 * MONTH, n)) + HOUR
            # State from before the feed starts is backfilled on its first day.
            t = np.where(t < start, start + whole_seconds(rng.random(n) * DAY) + HOUR, t)
            ok = (rng.random(n) < p) & (t < end)
            users.append(np.flatnonzero(ok))
            ts.append(t[ok])
            kinds.append(_full(int(ok.sum()), code("kind", kind)))
        u = np.concatenate(users)
        k = np.concatenate(kinds)
        self.sink.add(
            T.VERIFICATION,
            user_id=u,
            ts=np.concatenate(ts),
            kind=k,
            national_id=np.where(k == code("kind", "real_name"), u, -1),
        )

    def _social_links(self) -> None:
        w, rng = self.w, self.rng
        start, end = w.cal.start, w.cal.end
        shown = np.flatnonzero(w.e_add < end)
        a, b = w.e_a[shown], w.e_b[shown]
        add = w.e_add[shown]
        add = np.where(add < start, start + whole_seconds(rng.random(len(add)) * DAY), add)
        rm = np.maximum(w.e_remove[shown], add + DAY)
        gone = rm < end
        added, removed = code("action", "added"), code("action", "removed")
        self.sink.add(
            T.SOCIAL_LINK,
            user_id=np.concatenate([a, b, a[gone], b[gone]]),
            ts=np.concatenate([add, add, rm[gone], rm[gone]]),
            counterparty_id=np.concatenate([b, a, b[gone], a[gone]]),
            action=np.concatenate([_full(2 * len(a), added), _full(2 * int(gone.sum()), removed)]),
        )

    # --- monthly events --------------------------------------------------------------------

    def _profile_changes(self, m: int) -> None:
        w, rng = self.w, self.rng
        settled = w.first_month < m  # the first month already has the initial record
        for kind, p, chg, ver in (
            ("phone", self.p_phone_change, self.phone_chg, self.phone_ver),
            ("address", self.p_addr_change, self.addr_chg, self.addr_ver),
        ):
            users = np.flatnonzero(settled & (rng.random(self.n) < p))
            ts = self._ts(users)
            chg[users] = ts
            new_id = users * self.versions + np.minimum(ver[users] + 1, self.versions - 1)
            none = _full(len(users), -1)
            self.sink.add(
                T.PROFILE_CHANGE,
                user_id=users,
                ts=ts,
                kind=_full(len(users), code("kind", kind)),
                phone=new_id if kind == "phone" else none,
                address=new_id if kind == "address" else none,
            )

    def _bills(self, m: int) -> None:
        """One bill per product with a balance; late payment reported every 30 days while
        unpaid, each report superseding the previous one."""
        w, rng = self.w, self.rng
        end = w.cal.end
        pu = w.p_user
        alive = (w.p_open_m < m) & (m < w.p_close_m)
        defaulting = alive & (self.default_days[pu] >= 0)
        normal = alive & ~defaulting & (self.frozen_until[pu] <= m)
        normal &= rng.random(len(pu)) < self.p_use[pu]
        idx = np.flatnonzero(defaulting | normal)
        k = len(idx)
        u = pu[idx]
        st = self.stress[u]
        disc, wealth, stab = self.disc[u], self.wealth[u], self.stab[u]
        late = rng.random(k) < sigmoid(-2.3 - 1.0 * disc - 0.35 * wealth - 0.2 * stab + 0.7 * st)
        serious = rng.random(k) < sigmoid(-1.6 - 0.7 * disc + 0.5 * st)
        short = 1 + np.minimum(rng.geometric(0.25, k) - 1, 28)
        days = np.where(late, np.where(serious, rng.integers(30, 76, k), short), 0)
        days = np.where(defaulting[idx], self.default_days[u], days).astype(np.int64)

        due = self.month_start + w.p_due_day[idx] * DAY + 16 * HOUR
        util = sigmoid(-0.9 - 0.5 * disc - 0.2 * wealth + 0.6 * st + 0.5 * rng.standard_normal(k))
        util = np.where(defaulting[idx], np.maximum(util, 0.85), util)
        amount = np.maximum(100, np.rint(w.p_limit[idx] * util)).astype(np.int64)
        early = whole_seconds(rng.random(k) * np.minimum(10 * DAY, due - self.month_start))
        # Paid during the d-th day after due: days_past_due = ceil((paid - due) / day) = d.
        late_by = (days - 1) * DAY + (1 + rng.integers(0, DAY // SECOND - 1, k)) * SECOND
        paid = np.where(days == 0, due - early, due + late_by)

        reports = np.where(days > 0, (days - 1) // 30, 0)
        reports = np.minimum(reports, np.maximum(0, (end - 1 - due) // (30 * DAY)))
        final = paid < end
        n_ev = reports + final
        row = np.repeat(np.arange(k), n_ev)
        j = np.arange(len(row)) - np.repeat(np.cumsum(n_ev) - n_ev, n_ev)
        is_final = final[row] & (j == n_ev[row] - 1)
        base = self.sink.rows(T.BILL)
        self.sink.add(
            T.BILL,
            user_id=u[row],
            ts=np.where(is_final, paid[row], due[row] + (j + 1) * 30 * DAY),
            account_id=idx[row],
            product=PRODUCT_CODES[w.p_kind[idx[row]]],
            amount=amount[row],
            currency=_full(len(row), 0),
            due_ts=due[row],
            paid_ts=np.where(is_final, paid[row], -1),
            paid_amount=np.where(is_final, amount[row], 0),
            days_past_due=np.where(is_final, days[row], 30 * (j + 1)),
            supersedes=np.where(j > 0, base + np.arange(len(row)) - 1, -1),
        )

    def _credit_lines(self, m: int) -> None:
        w, rng = self.w, self.rng
        pu = w.p_user
        parts: list[tuple[Arr, Arr, str, Arr]] = []  # (products, ts, action, balance)
        opened = np.flatnonzero(w.p_open_m == m)
        parts.append((opened, w.p_open[opened], "open", _full(len(opened), 0)))
        if m == 0:
            # Lines open before the feed starts are reported on its first day.
            snap = np.flatnonzero((w.p_open_m < 0) & (w.p_close >= self.month_start + DAY))
            ts = self.month_start + whole_seconds(rng.random(len(snap)) * DAY)
            parts.append((snap, ts, "update", self._balance(snap)))
        alive = (w.p_open_m < m) & (m < w.p_close_m) & (self.frozen_until[pu] <= m)
        upd = np.flatnonzero(alive & (rng.random(len(pu)) < 0.03))
        u = pu[upd]
        st = self.stress[u]
        up = (self.disc[u] > 0) & (st < 0.5) & (rng.random(len(upd)) < 0.3)
        down = (st > 1.2) & (rng.random(len(upd)) < 0.5)
        factor = np.where(up, 1.2, np.where(down, 0.8, 1.0))
        w.p_limit[upd] = np.maximum(5, np.rint(w.p_limit[upd] * factor / 10_000)) * 10_000
        parts.append((upd, self._ts(u), "update", self._balance(upd)))
        closed = np.flatnonzero(w.p_close_m == m)
        parts.append((closed, w.p_close[closed], "close", _full(len(closed), 0)))

        prods = np.concatenate([p[0] for p in parts])
        self.sink.add(
            T.CREDIT_LINE,
            user_id=pu[prods],
            ts=np.concatenate([p[1] for p in parts]),
            account_id=prods,
            product=PRODUCT_CODES[w.p_kind[prods]],
            action=np.concatenate([_full(len(p[0]), code("action", p[2])) for p in parts]),
            credit_limit=w.p_limit[prods],
            balance=np.concatenate([p[3] for p in parts]),
            currency=_full(len(prods), 0),
        )

    def _balance(self, prods: Arr) -> Arr:
        """Outstanding balance: utilisation is higher under stress and for low discipline."""
        u = self.w.p_user[prods]
        util = sigmoid(
            -0.9
            - 0.5 * self.disc[u]
            - 0.2 * self.wealth[u]
            + 0.6 * self.stress[u]
            + 0.5 * self.rng.standard_normal(len(prods))
        )
        balance: Arr = np.rint(self.w.p_limit[prods] * util).astype(np.int64)
        return balance

    def _services(self) -> None:
        rng = self.rng
        u, ts = self._spawn(self.lam_service)
        k = len(u)
        wealth, disc, st = self.wealth[u], self.disc[u], self.stress[u]
        logits = np.stack(
            [
                np.full(k, 1.0),
                np.full(k, 0.9),
                -0.2 + 0.5 * wealth,
                -0.8 + 0.6 * wealth,
                -1.5 + 0.4 * wealth + 0.4 * self.stab[u],
            ],
            axis=1,
        )
        scen = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)
        p_def = sigmoid(
            -5.0 - 1.0 * disc + 0.6 * st + 0.5 * self.fraud[u] + 3.0 * self.in_default[u]
        )
        p_late = sigmoid(-2.4 - 0.8 * disc + 0.5 * st)
        r = rng.random(k)
        outcome = np.where(r < p_def, 2, np.where(r < p_def + p_late, 1, 0))
        dpd = np.choose(outcome, [_full(k, 0), rng.integers(1, 15, k), rng.integers(30, 90, k)])
        price = np.array([300.0, 400.0, 40_000.0, 60_000.0, 450_000.0])[scen]
        amount = np.rint(price * np.exp(0.2 * wealth + 0.3 * rng.standard_normal(k)))
        self.sink.add(
            T.SERVICE_FULFILLMENT,
            user_id=u,
            ts=ts,
            scenario=codes("scenario", SERVICE_SCENARIOS)[scen],
            outcome=codes("outcome", ("on_time", "late", "defaulted"))[outcome],
            amount=np.maximum(100, amount).astype(np.int64),
            currency=_full(k, 0),
            days_past_due=dpd.astype(np.int64),
        )

    def _payments(self) -> None:
        """Purchases: spending scales with income, and low discipline overspends."""
        rng = self.rng
        lam = self.lam_pay * (1 + 0.1 * np.clip(self.stress, -2, 2))
        u, ts = self._spawn(lam)
        k = len(u)
        cat = (rng.random(k).astype(np.float32)[:, None] > self.cat_cum[u]).sum(axis=1)
        cat = np.minimum(cat, len(self.cat_codes) - 1)
        log_amount = (
            np.log(6_000.0)
            + 0.35 * self.wealth[u]
            - 0.6 * self.disc[u]
            + 0.15 * self.stress[u]
            + self.cat_spend[cat]
            + 0.8 * rng.standard_normal(k)
        )
        amount = np.maximum(100, np.rint(np.exp(np.minimum(log_amount, 20.0)))).astype(np.int64)
        online = rng.random(k) < sigmoid(0.2 + 0.3 * self.soc[u] + self.cat_online[cat])
        # The phone and address used should match the ones on file; for unsettled and
        # fraud-exposed users they often do not.
        with_phone = rng.random(k) < 0.25
        own_phone = rng.random(k) < sigmoid(3.0 + 0.6 * self.stab[u] - 0.8 * self.fraud[u])
        phone = np.where(own_phone, self._phone(u, ts), self._foreign(k))
        with_addr = online & (rng.random(k) < 0.6)
        own_addr = rng.random(k) < sigmoid(2.2 + 0.9 * self.stab[u] - 0.5 * self.fraud[u])
        address = np.where(own_addr, self._address(u, ts), self._foreign(k))
        self.sink.add(
            T.PAYMENT,
            user_id=u,
            ts=ts,
            amount=amount,
            currency=_full(k, 0),
            channel=np.where(online, code("channel", "online"), code("channel", "offline")),
            merchant_category=self.cat_codes[cat],
            phone=np.where(with_phone, phone, -1),
            address=np.where(with_addr, address, -1),
        )

    def _transfers(self) -> None:
        """Mostly with friends; fraud-exposed users deal with risky accounts."""
        if self.n < 2:
            return
        w, rng = self.w, self.rng
        u, ts = self._spawn(self.lam_transfer)
        k = len(u)
        risky = rng.random(k) < self.p_risky[u]
        deg = self.degree[u]
        cp = rng.integers(0, self.n, k)
        if len(w.nbr_idx):
            pos = w.nbr_ptr[u] + np.floor(rng.random(k) * deg).astype(np.int64)
            cp = np.where(deg > 0, w.nbr_idx[np.minimum(pos, len(w.nbr_idx) - 1)], cp)
        cp = np.where(risky, w.risky_pool[rng.integers(0, len(w.risky_pool), k)], cp)
        cp = np.where(cp == u, (cp + 1) % self.n, cp)
        out = rng.random(k) < np.where(risky, 0.7, 0.5)
        amount = np.rint(
            np.exp(np.log(20_000.0) + 0.5 * self.wealth[u] + 0.8 * rng.standard_normal(k))
        )
        self.sink.add(
            T.TRANSFER,
            user_id=u,
            ts=ts,
            counterparty_id=cp,
            direction=np.where(out, code("direction", "out"), code("direction", "in")),
            amount=np.maximum(100, amount).astype(np.int64),
            currency=_full(k, 0),
        )

    def _utilities(self) -> None:
        """Utility bills with the address paid for: usually the one on file."""
        rng = self.rng
        pay = (self.w.first_ts[self.q_user] < self.month_end) & (
            rng.random(len(self.q_user)) < 0.25
        )
        u, kind = self.q_user[pay], self.q_util[pay]
        k = len(u)
        ts = self._ts(u)
        amount = self.util_amount[kind] * np.exp(
            0.25 * self.wealth[u] + 0.3 * rng.standard_normal(k)
        )
        late = rng.random(k) < sigmoid(-2.8 - 0.8 * self.disc[u] + 0.5 * self.stress[u])
        is_phone = kind == UTILITIES.index("phone")
        home = rng.random(k) < sigmoid(2.0 + 1.2 * self.stab[u])
        own = rng.random(k) < sigmoid(2.5 + 0.8 * self.stab[u] - 0.6 * self.fraud[u])
        self.sink.add(
            T.UTILITY_PAYMENT,
            user_id=u,
            ts=ts,
            utility=codes("utility", UTILITIES)[kind],
            amount=np.maximum(100, np.rint(amount)).astype(np.int64),
            currency=_full(k, 0),
            address=np.where(is_phone, -1, np.where(home, self._address(u, ts), self._foreign(k))),
            phone=np.where(is_phone, np.where(own, self._phone(u, ts), self._foreign(k)), -1),
            days_past_due=np.where(late, rng.integers(1, 26, k), 0).astype(np.int64),
        )

    def _charity(self) -> None:
        rng = self.rng
        u, ts = self._spawn(self.lam_charity)
        k = len(u)
        kind = np.searchsorted([0.5, 0.9], rng.random(k), side="right")
        donation = kind == 0
        amount = np.rint(
            np.exp(np.log(2_000.0) + 0.5 * self.wealth[u] + 0.8 * rng.standard_normal(k))
        )
        self.sink.add(
            T.CHARITY,
            user_id=u,
            ts=ts,
            kind=codes("kind", ("donation", "tree_planting", "volunteering"))[kind],
            amount=np.where(donation, np.maximum(100, amount), -1).astype(np.int64),
            currency=np.where(donation, 0, -1),
        )

    def _assets(self, m: int) -> None:
        rng = self.rng
        due = self.act[self.asset_phase[self.act] == m % 6]
        u, kind = np.nonzero(self.holds[due])
        u = due[u]
        k = len(u)
        growth = np.array([0.004, 0.006, 0.01])[kind] * (1 + 0.5 * self.disc[u])
        balance = (
            self.asset_base[u, kind]
            * np.exp(growth * m - 0.3 * np.maximum(self.stress[u], 0))
            * np.where(self.in_default[u], 0.4, 1.0)
            * np.exp(0.08 * rng.standard_normal(k))
        )
        self.sink.add(
            T.ASSET_SNAPSHOT,
            user_id=u,
            ts=self._ts(u),
            kind=codes("kind", ASSET_KINDS)[kind],
            balance=np.rint(np.minimum(balance, 1e13)).astype(np.int64),
            currency=_full(k, 0),
        )

    def _security(self, m: int) -> None:
        rng, n = self.rng, self.n
        joined = self.w.first_ts < self.month_end
        theft = self.w.theft[m]
        p_login = np.minimum(0.004 * np.exp(0.9 * self.fraud) + 0.8 * theft, 0.9)
        p_flag = np.where(self.in_pool, 0.06, np.minimum(0.0003 * np.exp(0.8 * self.fraud), 0.02))
        users, kinds = [], []
        for kind, hit in (
            ("abnormal_login", joined & (rng.random(n) < p_login)),
            ("account_theft", theft),
            ("fraud_flag", joined & (rng.random(n) < p_flag)),
        ):
            idx = np.flatnonzero(hit)
            users.append(idx)
            kinds.append(_full(len(idx), code("kind", kind)))
        u = np.concatenate(users)
        self.sink.add(T.SECURITY_EVENT, user_id=u, ts=self._ts(u), kind=np.concatenate(kinds))

    def _inquiries(self) -> None:
        """Partners reading the score: more when credit-hungry or stressed, in bursts."""
        rng = self.rng
        users = self.act
        st = np.clip(self.stress[users], -3, 3)
        count = rng.poisson(self.lam_inquiry[users] * np.exp(0.6 * st) * self.frac[users])
        burst = (st > 1.8) & (rng.random(len(users)) < 0.25)
        count = count + np.where(burst, rng.poisson(2.5, len(users)), 0)
        u = np.repeat(users, count)
        k = len(u)
        lending = rng.random(k) < sigmoid(-0.8 + 0.8 * self.stress[u])
        others = [s for s in SCENARIOS if s != "lending"]
        pick = np.searchsorted(
            np.cumsum([0.2, 0.2, 0.2, 0.15, 0.15, 0.1])[:-1], rng.random(k), side="right"
        )
        scen_local = np.where(
            lending,
            SCENARIOS.index("lending"),
            np.array([SCENARIOS.index(s) for s in others])[pick],
        )
        partner = scen_local + len(SCENARIOS) * rng.integers(0, N_PARTNERS_PER_SCENARIO, k)
        self.sink.add(
            T.INQUIRY,
            user_id=u,
            ts=self._ts(u),
            partner_id=partner.astype(np.int64),
            scenario=codes("scenario", SCENARIOS)[scen_local],
        )


def label_from_bills(bills: dict[str, Arr], n_users: int, as_of: int, end: int) -> tuple[Arr, Arr]:
    """The outcome from bill events: a bill with days_past_due >= 90 and as_of < ts <= end.

    Returns (default flag per user, ts of the first such event or -1).
    """
    hit = (bills["days_past_due"] >= 90) & (bills["ts"] > as_of) & (bills["ts"] <= end)
    users, ts = bills["user_id"][hit], bills["ts"][hit]
    first = np.full(n_users, -1, dtype=np.int64)
    if users.size:
        order = np.lexsort((ts, users))
        uniq, at = np.unique(users[order], return_index=True)
        first[uniq] = ts[order][at]
    return first >= 0, first
