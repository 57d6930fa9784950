"""Files that ship with msdigest: inside the installed package, or in the source checkout.

The wheel copies the top-level `templates/` and `subscribers.example.csv` into the
package (see pyproject.toml); an editable install reads them from the checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]


def path(name: str) -> Path:
    packaged = resources.files("msdigest").joinpath(name)
    if packaged.is_dir() or packaged.is_file():
        return Path(str(packaged))
    return CHECKOUT / name
