"""The programs the appliance runs in helper containers, run here as plain Python against real sockets and files."""

import json
import os
import socket
import stat

from appliance.helpers import open_to_every_user, reach


def test_reach_says_open_for_a_listener_and_why_not_for_a_closed_port(capsys):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        open_port = listener.getsockname()[1]
        with socket.create_server(("127.0.0.1", 0)) as closed:
            closed_port = closed.getsockname()[1]
        reach.main(["reach", json.dumps([["127.0.0.1", open_port], ["127.0.0.1", closed_port]])])
    assert json.loads(capsys.readouterr().out) == ["open", "Connection refused"]


def test_a_scratch_is_opened_to_every_user(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir(mode=0o700)
    missing = open_to_every_user.open_to_every_user(str(scratch))
    assert stat.S_IMODE(scratch.stat().st_mode) == 0o777
    if missing:
        assert "no default ACL" in missing
    else:
        acl = os.getxattr(scratch, "system.posix_acl_default")
        assert acl == b"\x02\x00\x00\x00" + open_to_every_user.RWX_FOR_ALL
