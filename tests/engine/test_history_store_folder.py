"""A recording path that is a folder (``--record results`` where ``results/`` exists) is refused
with a message that says so and a hint naming a file inside it — when recording (``record=``) and
when reopening (``open_run``) — instead of SQLite's "unable to open database file"."""

from __future__ import annotations

from pathlib import Path

import pytest

import ionpy_widgets as ion
from ionpy_widgets.engine.atomic import StorageError
from ionpy_widgets.engine.lab import Lab


async def test_a_folder_as_recording_path_is_named_as_a_folder(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as err:
        await Lab.start({"devices": []}, name="record-folder", record=tmp_path)
    assert "is a folder, not a recording file" in err.value.message
    assert str(tmp_path / "history.sqlite") in err.value.hint
    with pytest.raises(StorageError, match="is a folder"):
        ion.open_run(tmp_path)
