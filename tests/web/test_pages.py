"""The pages' words and charts, without a browser."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pentascore.web import charts
from pentascore.web.i18n import MESSAGES


def test_english_and_chinese_have_the_same_words() -> None:
    assert MESSAGES["en"].keys() == MESSAGES["zh"].keys()
    for key, text in MESSAGES["en"].items():
        # The same placeholders on both sides.
        assert sorted(part.split("}")[0] for part in text.split("{")[1:]) == sorted(
            part.split("}")[0] for part in MESSAGES["zh"][key].split("{")[1:]
        ), key


def test_charts_are_valid_labelled_svg() -> None:
    names = {k: k.title() for k in ("a", "b", "c", "d", "e")}
    for svg in (
        charts.dial(700, "very good", "Score 700"),
        charts.dial(350, "poor", "lowest"),
        charts.radar({"a": 0, "b": 100, "c": 50, "d": 20, "e": 70}, names, "radar <&>"),
        charts.history([("2025-01-01", 600), ("2025-02-01", 640)], "history"),
    ):
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg") and root.get("role") == "img" and root.get("aria-label")
    assert charts.history([], "none") == ""
    # The dial's arc ends further round for a higher score.
    low = charts.dial(400, "poor", "x").split("A80 80 0 0 1 ")[2].split('"')[0]
    high = charts.dial(900, "excellent", "x").split("A80 80 0 0 1 ")[2].split('"')[0]
    assert float(high.split()[0]) > float(low.split()[0])
