"""Per-agent datagram bookkeeping: lost datagrams (sequence gaps) and agent
restarts (sequence or uptime going backwards). Pure; bounded in size."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class AgentEvent:
    lost: int = 0
    restarted: bool = False


class AgentTracker:
    def __init__(self, max_agents: int = 100_000):
        self._last: OrderedDict[tuple[str, int], tuple[int, int]] = OrderedDict()
        self.max_agents = max_agents

    def observe(self, agent: str, sub_agent: int, sequence: int, uptime_ms: int) -> AgentEvent:
        key = (agent, sub_agent)
        prev = self._last.get(key)
        self._last[key] = (sequence, uptime_ms)
        self._last.move_to_end(key)
        if len(self._last) > self.max_agents:
            self._last.popitem(last=False)
        if prev is None:
            return AgentEvent()
        last_seq, last_uptime = prev
        if sequence <= last_seq or uptime_ms < last_uptime:
            # Sequence numbers restart at 1 when the agent restarts; a datagram
            # reordered by the network looks the same for one sample, which
            # costs one false restart and no lost count.
            return AgentEvent(restarted=True)
        return AgentEvent(lost=sequence - last_seq - 1)
