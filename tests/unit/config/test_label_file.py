"""``label_file``: labels read from files, under the service's own."""

from __future__ import annotations

from pathlib import Path

from stackr.config.loader import stack_file_paths
from tests.unit.config.test_extends import load, problems


def test_label_files_under_the_services_own_labels(tmp_path: Path) -> None:
    (tmp_path / "a.labels").write_text("A=from-a\nB=from-a\nC=${NOT_INTERPOLATED}\n")
    (tmp_path / "b.labels").write_text("B=from-b\n")
    loaded = load(tmp_path, """
services:
  web:
    image: busybox
    label_file: [a.labels, b.labels]
    labels: [C=own]
""")
    assert loaded.stack.services["web"].labels == {"A": "from-a", "B": "from-b", "C": "own"}
    assert tmp_path / "b.labels" in stack_file_paths(loaded.raw)
    assert problems(tmp_path, """
services:
  web:
    image: busybox
    label_file: missing.labels
""") == ["compose.yaml:5:17: services.web.label_file: label file missing.labels not found"]
