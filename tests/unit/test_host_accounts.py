"""Host accounts from passwd and group files: uid, primary gid and supplementary groups."""

from appliance.host_accounts import Account, find_account, group_id, in_group


def test_account_with_its_supplementary_groups(tmp_path):
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\nann:x:2001:2001:Ann:/home/ann:/bin/bash\n")
    group = tmp_path / "group"
    group.write_text("ann:x:2001:\nlab:x:2100:bob,ann\nstaff:x:2200:bob\nann-too:x:2001:ann\n")
    assert find_account("ann", str(passwd), str(group)) == Account("ann", 2001, 2001, (2100,))
    assert find_account("bob", str(passwd), str(group)) is None


def test_group_ids_and_membership_by_primary_or_supplementary_group(tmp_path):
    group = tmp_path / "group"
    group.write_text("ann:x:2001:\nlab:x:2100:bob,ann\n")
    ann = Account("ann", 2001, 2001, (2100,))
    assert group_id("lab", str(group)) == 2100
    assert group_id("nobody-here", str(group)) is None
    assert in_group(ann, 2100) and in_group(ann, 2001)
    assert not in_group(Account("bob", 2002, 2002, ()), 2100)
