"""The evaluate agent's order of sending a domain's outputs."""
from fabtel.pipeline.agents.evaluate import commands_first
from fabtel.records import OperGroupDecision, RemediationCommand, UplinkHealth


def test_commands_leave_before_the_records_beside_them_and_the_rest_keep_their_order():
    health = [UplinkHealth.__new__(UplinkHealth) for _ in range(2)]
    decision = OperGroupDecision("d1", "g", "leaf1", "disable", [], False, "", [], 1, 2)
    command = RemediationCommand("d1:e1", "d1", "leaf1", "ethernet-1/1", "disable", "srlinux", "/p", '"disable"', 1, 2)
    out = commands_first([health[0], health[1], decision, command])
    assert out[0] is command and out[1:] == [health[0], health[1], decision]
    assert commands_first([decision]) == [decision] and commands_first([]) == []
