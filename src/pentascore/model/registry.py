"""The model registry under ``<home>/models``: one folder per version, and a champion.

A newly trained model is a candidate; ``promote`` makes it the champion, which batch scoring
uses unless told otherwise. ``registry.json`` keeps the champion and every promotion, so it is
always possible to say which model produced a score.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pentascore.core.errors import ModelError
from pentascore.model import artifact
from pentascore.model.artifact import ModelDoc
from pentascore.model.card import model_card
from pentascore.model.train import Model, Trained

CARD_FILE = "card.md"


@dataclass(frozen=True)
class Entry:
    version: str
    kind: str
    created_at: datetime
    status: str
    auc: float | None
    source: str


class ModelRegistry:
    """Saved models and which one is the champion."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def _index(self) -> Path:
        return self.root / "registry.json"

    def _state(self) -> dict[str, Any]:
        if not self._index.exists():
            return {"champion": None, "promotions": []}
        try:
            state: dict[str, Any] = json.loads(self._index.read_text())
        except json.JSONDecodeError as err:
            raise ModelError(f"{self._index} is not valid JSON: {err}") from err
        return state

    def _write_state(self, state: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".registry-")
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle, indent=2, default=str)
        os.replace(tmp, self._index)

    def register(
        self, trained: Trained, created_at: datetime, trained_on: dict[str, Any] | None = None
    ) -> ModelDoc:
        """Saves ``trained`` as a candidate; the same model trained again is the same version."""
        doc = artifact.describe(trained, created_at, trained_on or {})
        folder = self.root / doc.version
        if (folder / artifact.MODEL_FILE).exists():
            return artifact.load(folder)[1]
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".staging-"))
        try:
            artifact.save(trained, doc, staging / "model")
            (staging / "model" / CARD_FILE).write_text(model_card(trained.model, doc))
            os.replace(staging / "model", folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return doc

    def versions(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / artifact.MODEL_FILE).exists())

    def load(self, version: str | None = None) -> tuple[Model, ModelDoc]:
        """The model called ``version``, or the champion."""
        name = version or self.champion()
        if name is None:
            raise ModelError(
                "there is no champion model yet: train one (pentascore train) and promote it "
                "(pentascore models promote VERSION), or pass --model VERSION."
            )
        if name not in self.versions():
            raise ModelError(f"no model {name!r} in {self.root}.")
        return artifact.load(self.root / name)

    def card(self, version: str) -> str:
        if version not in self.versions():
            raise ModelError(f"no model {version!r} in {self.root}.")
        return (self.root / version / CARD_FILE).read_text()

    def champion(self) -> str | None:
        champion: str | None = self._state()["champion"]
        return champion

    def promote(self, version: str, at: datetime) -> str | None:
        """Makes ``version`` the champion; returns the previous champion."""
        self.load(version)  # refuses a model that does not load
        state = self._state()
        previous: str | None = state["champion"]
        state["champion"] = version
        state["promotions"].append({"version": version, "at": at.isoformat(), "replaced": previous})
        self._write_state(state)
        return previous

    def entries(self) -> list[Entry]:
        state = self._state()
        once_champion = {p["version"] for p in state["promotions"]}
        out = []
        for version in self.versions():
            doc, _ = artifact.read_doc(self.root / version)
            status = (
                "champion"
                if version == state["champion"]
                else "retired"
                if version in once_champion
                else "candidate"
            )
            headline = doc.metrics.get(doc.headline, {})
            out.append(
                Entry(
                    version=version,
                    kind=doc.kind,
                    created_at=doc.created_at,
                    status=status,
                    auc=headline.get("auc"),
                    source=str(doc.trained_on.get("source", "")),
                )
            )
        return sorted(out, key=lambda e: e.created_at)
