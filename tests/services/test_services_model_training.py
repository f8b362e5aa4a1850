"""Server processes starting on an empty model registry train the models once between them."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

from puhui.risk import sme
from puhui.risk.errors import RegistryError, UnknownModelVersion
from puhui.services.risk import ensure_models


class FakeRegistry:
    """A registry in a directory that refuses a version registered twice, as the real one."""

    def __init__(self, root: Path, book: dict) -> None:
        self.root, self.book = root, book

    def latest(self, name: str):
        if name not in self.book:
            raise UnknownModelVersion(name)
        return SimpleNamespace(version=self.book[name])


def test_two_starts_on_an_empty_registry_train_once(tmp_path, monkeypatch) -> None:
    book: dict[str, str] = {}
    trained: list[int] = []

    def train(*args, **kwargs):
        trained.append(1)
        time.sleep(0.3)  # long enough for the other start to arrive meanwhile
        return "fitted"

    def register(training, registry, **kwargs):
        out = {}
        for name in (sme.CHAMPION_NAME, sme.CHALLENGER_NAME, sme.STABILITY_NAME):
            if name in registry.book:
                raise RegistryError(f"model version {name}-v1 already exists")
            registry.book[name] = f"{name}-v1"
            out[name] = SimpleNamespace(version=f"{name}-v1")
        return out

    monkeypatch.setattr(sme, "train", train)
    monkeypatch.setattr(sme, "training_world", lambda *a, **k: None)
    monkeypatch.setattr(sme, "register", register)
    results, errors = [], []

    def start() -> None:
        try:
            results.append(ensure_models(FakeRegistry(tmp_path / "models", book)))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(trained) == 1
    assert len(results) == 3 and all(r == results[0] for r in results)
