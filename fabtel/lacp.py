"""LACP port state: the one definition of its bits, and reading them in the
order an agent wrote them. Pure.

IEEE 802.1AX orders the eight flags of the actor/partner state octet from
the least significant bit: activity (0x01), timeout, aggregation,
synchronization, collecting, distributing, defaulted, expired (0x80). fabtel
holds every state in that order.

The sFlow LAG structure cites IEEE8023-LAG-MIB, whose LacpState is an SNMP
BITS value: lacpActivity(0) is the *most* significant bit of the octet. Some
agents write that order (a Dell-partnered switch reported 252 = activity,
short timeout, aggregation, synchronization, collecting, distributing on a
working bundle); hsflowd writes the 802.1AX order (61 for the same health).
`Orders` tells them apart per agent. May import: the standard library only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ACTIVITY, TIMEOUT, AGGREGATION, SYNCHRONIZATION = 0x01, 0x02, 0x04, 0x08
COLLECTING, DISTRIBUTING, DEFAULTED, EXPIRED = 0x10, 0x20, 0x40, 0x80
BITS = ("activity", "timeout", "aggregation", "synchronization", "collecting", "distributing", "defaulted", "expired")
HEALTHY = ACTIVITY | AGGREGATION | SYNCHRONIZATION | COLLECTING | DISTRIBUTING       # 61

IEEE = "ieee8021ax"      # activity is 0x01 (hsflowd, Open vSwitch)
MIB = "mib-bits"         # activity is 0x80 (SNMP BITS of IEEE8023-LAG-MIB LacpState)
AUTO = "auto"
ORDERS = (AUTO, IEEE, MIB)


# Both are asked for every LAG sample a decoder prints: looked up, not computed.
_NAMES = tuple(tuple(name for i, name in enumerate(BITS) if octet >> i & 1) for octet in range(256))
_REVERSED = tuple(int(f"{octet:08b}"[::-1], 2) for octet in range(256))


def names(state: int) -> list[str]:
    """The flags set in an 802.1AX-order state octet."""
    return list(_NAMES[state & 0xFF])


def reverse_bits(octet: int) -> int:
    """An octet with its bit order reversed: MIB BITS order <-> 802.1AX order."""
    return _REVERSED[octet & 0xFF]


def to_ieee(octet: int | None, order: str) -> int | None:
    return reverse_bits(octet) if octet is not None and order == MIB else octet


def contradicts_ieee(octet: int) -> bool:
    """True when the octet, read in 802.1AX order, cannot come from a port:
    an expired or defaulted port never collects or distributes. Read in MIB
    order such values are ordinary states: every active member that collects
    has lacpActivity, the MIB's top bit (252 = 0xFC is a healthy fast member)."""
    return bool(octet & (EXPIRED | DEFAULTED)) and bool(octet & (COLLECTING | DISTRIBUTING))


@dataclass
class Orders:
    """The bit order of each agent's LAG records: configured, or learnt from
    the first record whose states contradict one order. An agent stays in
    the 802.1AX order (the order of hsflowd and of the sFlow reference
    implementation) until evidence says otherwise; evidence never flips an
    agent back, so a record with a real fault cannot undo it."""
    configured: dict[str, str] = field(default_factory=dict)        # agent -> IEEE or MIB
    default: str = AUTO
    learnt: dict[str, str] = field(default_factory=dict)

    def order_of(self, agent: str, states: tuple[int, ...]) -> tuple[str, str]:
        """(order, evidence) for a record of `agent` with these raw state octets."""
        fixed = self.configured.get(agent) or (self.default if self.default != AUTO else None)
        if fixed:
            return fixed, "configured"
        if agent in self.learnt:
            return self.learnt[agent], "learnt"
        if any(contradicts_ieee(s) for s in states) and not any(contradicts_ieee(reverse_bits(s)) for s in states):
            self.learnt[agent] = MIB
            return MIB, "detected"
        return IEEE, "assumed"
