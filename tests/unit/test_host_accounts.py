"""Host accounts from passwd and group files: uid, primary gid and supplementary groups."""

from appliance.host_accounts import Account, find_account


def test_account_with_its_supplementary_groups(tmp_path):
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\nann:x:2001:2001:Ann:/home/ann:/bin/bash\n")
    group = tmp_path / "group"
    group.write_text("ann:x:2001:\nlab:x:2100:bob,ann\nstaff:x:2200:bob\nann-too:x:2001:ann\n")
    assert find_account("ann", str(passwd), str(group)) == Account("ann", 2001, 2001, (2100,))
    assert find_account("bob", str(passwd), str(group)) is None
