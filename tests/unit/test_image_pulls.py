"""The state of pulls ahead, shared between the pulling service, spawns and the doctor through one file."""

import time

from appliance.image_pulls import FRESH_SECONDS, PullState, read_states, write_state


def test_states_are_written_whole_and_read_back(tmp_path):
    path = str(tmp_path / "run" / "pulls.json")
    assert read_states(path) == {}
    write_state(PullState("lab:1", "pulling", "Downloading 1MB/9MB", updated=time.time()), path)
    write_state(PullState("r:2", "failed", error="manifest unknown", updated=time.time()), path)
    states = read_states(path)
    assert states["lab:1"].pulling and states["lab:1"].progress == "Downloading 1MB/9MB"
    assert states["r:2"].shown() == "r:2 (pulling it at hub start failed: manifest unknown)"
    write_state(PullState("lab:1", "pulled", updated=time.time()), path)
    assert not read_states(path)["lab:1"].pulling
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["pulls.json"], "no temporary file left"


def test_a_pull_that_stopped_reporting_is_not_waited_for(tmp_path):
    stale = PullState("lab:1", "pulling", "Downloading", updated=time.time() - FRESH_SECONDS - 1)
    assert not stale.pulling
    (tmp_path / "broken.json").write_text("{not json")
    assert read_states(str(tmp_path / "broken.json")) == {}
