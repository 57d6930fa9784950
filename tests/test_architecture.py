"""The shape of the code, checked: every module sits in a layer of the import contract
(`lint-imports` enforces the contract in `make lint`), and modules stay readable."""

from __future__ import annotations

import tomllib

from .conftest import REPO

SRC = REPO / "src" / "msdigest"
MAX_LINES = 350


def test_every_module_is_in_a_layer_of_the_import_contract() -> None:
    contract = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    layers = contract["tool"]["importlinter"]["contracts"][0]["layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    top = {f"msdigest.{p.stem}" for p in SRC.glob("*.py") if p.stem != "__init__"} | {
        f"msdigest.{p.name}" for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    assert top - placed == set(), "add these to [tool.importlinter] layers"
    assert placed - top == set(), "layers name modules that do not exist"


def test_no_module_is_longer_than_one_sitting() -> None:
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text("utf-8").splitlines())) > MAX_LINES}
    assert long == {}
