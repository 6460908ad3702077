"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    namespace: dict = {}
    exec(compile("\n".join(blocks), str(README), "exec"), namespace)
    data, alive = namespace["data"], namespace["alive"]
    assert alive.shape == (2000, 2357)
    assert round(float(data.loc[1, "purchases_39w"]), 3) == 1.226
    assert round(float(data.loc[1, "spend"]), 2) == 24.65
