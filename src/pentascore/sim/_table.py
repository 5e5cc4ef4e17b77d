"""Numeric event blocks to the Arrow events table, with the platform's raw identifiers.

Strings are built by Arrow compute kernels (cast, pad, join, take), never one Python string at
a time: a million users have tens of millions of events.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pentascore.events.schema import LAKE_SCHEMA, EventType
from pentascore.sim._events import PARTNER_IDS, VOCAB
from pentascore.sim._world import Arr

LAKE_ONLY = ("batch_id", "ingested_at")
EVENTS_SCHEMA: pa.Schema = pa.schema([f for f in LAKE_SCHEMA if f.name not in LAKE_ONLY])

_TIMESTAMP = pa.timestamp("us", tz="UTC")
_TS_FIELDS = ("ts", "due_ts", "paid_ts")
_INT_FIELDS = ("amount", "paid_amount", "credit_limit", "balance", "days_past_due")
_USER_FIELDS = ("user_id", "counterparty_id")

# Identifier material. Addresses and national ids only need to look real.
_PHONE_PREFIXES = tuple(
    str(p)
    for p in (
        *range(130, 140),
        *(150, 151, 152, 153, 155, 156, 157, 158, 159, 170, 176, 177, 178),
        *range(180, 187),
    )
)
_PHONE_SPACE = len(_PHONE_PREFIXES) * 10**8
_PHONE_MULT = 1_234_567_891  # coprime with _PHONE_SPACE: id -> number is a bijection
_LOCATIONS = (
    ("Xihu", "Hangzhou"),
    ("Binjiang", "Hangzhou"),
    ("Gongshu", "Hangzhou"),
    ("Chaoyang", "Beijing"),
    ("Haidian", "Beijing"),
    ("Dongcheng", "Beijing"),
    ("Xuhui", "Shanghai"),
    ("Pudong New", "Shanghai"),
    ("Jing'an", "Shanghai"),
    ("Nanshan", "Shenzhen"),
    ("Futian", "Shenzhen"),
    ("Tianhe", "Guangzhou"),
    ("Yuexiu", "Guangzhou"),
    ("Jinjiang", "Chengdu"),
    ("Wuhou", "Chengdu"),
    ("Jiang'an", "Wuhan"),
    ("Xuanwu", "Nanjing"),
    ("Gulou", "Nanjing"),
    ("Yanta", "Xi'an"),
    ("Yuzhong", "Chongqing"),
    ("Siming", "Xiamen"),
    ("Lixia", "Jinan"),
)
_STREETS = (
    "Wensan Road",
    "Wener Road",
    "Tianmushan Road",
    "Yan'an Road",
    "Zhongshan Road",
    "Jiefang Road",
    "Renmin Road",
    "Jianshe Road",
    "Heping Road",
    "Xinhua Road",
    "Changjiang Road",
    "Huaihai Road",
    "Nanjing Road",
    "Shennan Avenue",
    "Binhe Avenue",
    "Century Avenue",
    "Xueyuan Road",
    "Kexue Avenue",
    "Dongfeng Road",
    "Youyi Road",
    "Qingnian Road",
    "Gongyuan Road",
    "Wenhua Road",
    "Jiangbin Road",
)
_REGIONS = (
    "110101",
    "110105",
    "310104",
    "310115",
    "330106",
    "330108",
    "440305",
    "440106",
    "510104",
    "420102",
    "320102",
    "370102",
    "610113",
    "500103",
    "350203",
)
_ID_DAYS = 16_436  # 1960-01-01 .. 2004-12-31
_ID_SPACE = _ID_DAYS * 1_000
_ID_MULT = 9_999_991  # coprime with _ID_SPACE: user -> (birth date, sequence) is injective
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = tuple("10X98765432")


def _mix(x: Arr, salt: int) -> Arr:
    """splitmix64 of ``x`` (vectorized; uint64 arithmetic wraps by design)."""
    z = x.astype(np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (salt + 1)) % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _digits(x: Arr, width: int) -> Any:
    return pc.utf8_lpad(pc.cast(pa.array(x, pa.int64()), pa.string()), width, "0")


def _join(*parts: Any) -> Any:
    return pc.binary_join_element_wise(*parts, "")


def user_strings(n: int) -> Any:
    """``U0000042``: the platform's raw user ids, by user index."""
    return _join("U", _digits(np.arange(n), max(7, len(str(max(n - 1, 0))))))


def account_strings(p_user: Arr, p_slot: Arr, n_users: int) -> Any:
    """``A00000042-1``: the platform's raw credit account ids, by product index."""
    width = max(8, len(str(max(n_users - 1, 0))))
    return _join("A", _digits(p_user, width), "-", _digits(p_slot + 1, 1))


def phone_strings(ids: Arr, salt: int) -> Any:
    """``+86 138 0013 8000``: distinct numbers for distinct ids (ids < 3 * 10**9)."""
    number = (ids.astype(np.int64) * _PHONE_MULT + salt * 7_919) % _PHONE_SPACE
    rest = number % 10**8
    prefix = pc.take(pa.array(_PHONE_PREFIXES), pa.array(number // 10**8))
    return pc.binary_join_element_wise(
        "+86", prefix, _digits(rest // 10**4, 4), _digits(rest % 10**4, 4), " "
    )


def address_strings(ids: Arr, salt: int) -> Any:
    """``No. 12 Wensan Road, Xihu District, Hangzhou``."""
    h = _mix(ids, salt)
    number = (h % np.uint64(299)).astype(np.int64) + 1
    street = (h >> np.uint64(20)) % np.uint64(len(_STREETS))
    loc = (h >> np.uint64(40)) % np.uint64(len(_LOCATIONS))
    return _join(
        "No. ",
        pc.cast(pa.array(number), pa.string()),
        " ",
        pc.take(pa.array(_STREETS), pa.array(street.astype(np.int64))),
        ", ",
        pc.take(pa.array([d for d, _ in _LOCATIONS]), pa.array(loc.astype(np.int64))),
        " District, ",
        pc.take(pa.array([c for _, c in _LOCATIONS]), pa.array(loc.astype(np.int64))),
    )


def national_id_strings(users: Arr, salt: int) -> Any:
    """18-digit resident id numbers with a valid ISO 7064 check digit, distinct per user.

    The birth date inside is not the user's ``birth_year``: demographics stay out of events.
    """
    k = (users.astype(np.int64) * _ID_MULT + salt * 104_729) % _ID_SPACE
    day = np.datetime64("1960-01-01") + (k // 1_000).astype("timedelta64[D]")
    year = day.astype("datetime64[Y]").astype(np.int64) + 1970
    month = day.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (day - day.astype("datetime64[M]")).astype(np.int64) + 1
    region = np.array([int(r) for r in _REGIONS], dtype=np.int64)[
        (_mix(users, salt + 1) % np.uint64(len(_REGIONS))).astype(np.int64)
    ]
    body = region * 10**11 + (year * 10_000 + month * 100 + dom) * 1_000 + k % 1_000
    weighted = np.zeros(len(users), dtype=np.int64)
    for i, weight in enumerate(_ID_WEIGHTS):
        weighted += (body // 10 ** (16 - i)) % 10 * weight
    check = pc.take(pa.array(_ID_CHECK), pa.array(weighted % 11))
    return _join(pc.cast(pa.array(body), pa.string()), check)


def _scatter(valid_strings: Any, valid: Arr) -> Any:
    """Strings built for the valid rows only, spread back over all rows with nulls."""
    pos = np.cumsum(valid) - 1
    return pc.take(valid_strings, pa.array(pos, mask=~valid))


def _take(vocab: Any, idx: Arr) -> Any:
    return pc.take(vocab, pa.array(idx, type=pa.int64(), mask=idx < 0))


def _column(
    blocks: list[tuple[EventType, dict[str, Arr]]],
    name: str,
    rows: dict[EventType, Arr],
    total: int,
) -> Arr:
    """One numeric column in event order: each block's values scattered to its rows' sorted
    positions, -1 where a type lacks the column."""
    out = np.full(total, -1, dtype=np.int64)
    for t, cols in blocks:
        if name == "type":
            out[rows[t]] = VOCAB["type"].index(t.value)
        elif name in cols:
            out[rows[t]] = cols[name]
    return out


def assemble(
    blocks: dict[EventType, dict[str, Arr]],
    *,
    users: Any,
    accounts: Any,
    seed: int,
    currency: str,
) -> Any:
    """The events table: every column of `EVENTS_SCHEMA`, sorted by ts then event_id.

    Event ids are assigned in the sorted order (``ev-<seed>-<n>``, zero-padded so that the
    string order is the numeric order); ``supersedes`` points at the earlier event's id.
    Consumes ``blocks``: each numeric column is dropped once its Arrow column is built.
    """
    listed = [(t, blocks[t]) for t in EventType if t in blocks]
    sizes = [len(cols["user_id"]) for _, cols in listed]
    total = int(sum(sizes))
    ts_all = np.concatenate([cols["ts"] for _, cols in listed]) if listed else np.zeros(0)
    # A stable sort keeps ties in generation order, which is deterministic.
    order = np.argsort(ts_all, kind="stable")
    position = np.empty(total, dtype=np.int64)
    position[order] = np.arange(total)
    starts = np.cumsum([0, *sizes])
    # rows[t][i]: the sorted position of the i-th event of block t.
    rows = {t: position[starts[i] : starts[i + 1]] for i, (t, _) in enumerate(listed)}
    event_ids = _join(f"ev-{seed}-", _digits(np.arange(total), 10))

    arrays: list[Any] = []
    for field in EVENTS_SCHEMA:
        name = field.name
        arrays.append(
            _arrow_column(name, listed, rows, total, event_ids, users, accounts, seed, currency)
        )
        for _, cols in listed:
            cols.pop(name, None)
    return pa.Table.from_arrays(arrays, schema=EVENTS_SCHEMA)


def _arrow_column(
    name: str,
    listed: list[tuple[EventType, dict[str, Arr]]],
    rows: dict[EventType, Arr],
    total: int,
    event_ids: Any,
    users: Any,
    accounts: Any,
    seed: int,
    currency: str,
) -> Any:
    """Arrow column ``name`` of the sorted events table."""
    if name == "event_id":
        return event_ids
    if name in ("void", "repaired"):
        return pa.nulls(total, pa.bool_())
    if name == "supersedes":
        # Block-local row numbers -> positions in the sorted table -> event ids.
        sup = np.full(total, -1, dtype=np.int64)
        for t, cols in listed:
            if "supersedes" in cols:
                local = cols["supersedes"]
                has = local >= 0
                sup[rows[t][has]] = rows[t][local[has]]
        return _take(event_ids, sup)
    values = _column(listed, name, rows, total)
    if name in _TS_FIELDS:
        return pa.array(values, type=_TIMESTAMP, mask=values < 0)
    if name in _INT_FIELDS:
        return pa.array(values, type=pa.int64(), mask=values < 0)
    if name in _USER_FIELDS:
        return _take(users, values)
    if name == "account_id":
        return _take(accounts, values)
    if name == "currency":
        return _take(pa.array([currency]), values)
    if name == "partner_id":
        return _take(pa.array(PARTNER_IDS), values)
    if name in _BUILDERS:
        valid = values >= 0
        return _scatter(_BUILDERS[name](values[valid], seed), valid)
    if name in VOCAB:
        return _take(pa.array(VOCAB[name]), values)
    raise RuntimeError(f"the simulator does not know how to fill field {name!r}")


_BUILDERS = {
    "phone": phone_strings,
    "address": address_strings,
    "national_id": national_id_strings,
}
