"""The benches' host CPU use: /proc/stat's totals line read as busy, steal
and total ticks, and the share of all cores a run used between two readings."""
import pytest

from fabtel.bench.common import BenchError, host_cpu_ticks, host_cpu_use

#            user nice system idle  iowait irq softirq steal guest guest_nice
BEFORE = "cpu  1000 10   500    8000  100    5   15      20    0     0\n"
AFTER = "cpu  1300 10   600    9550  120    5   25      40    0     0\n"


def test_idle_and_iowait_are_not_busy_and_steal_is_counted_apart():
    assert host_cpu_ticks(BEFORE) == (1000 + 10 + 500 + 5 + 15, 20, 9650)


def test_the_share_of_all_cores_a_run_used():
    # 2,000 ticks passed: 410 busy (user 300, system 100, softirq 10), 20 stolen
    assert host_cpu_use(host_cpu_ticks(BEFORE), host_cpu_ticks(AFTER)) == {"busy_pct": 20.5, "steal_pct": 1.0}


def test_the_running_machine_reads_and_a_line_that_is_not_the_totals_is_refused():
    busy, steal, total = host_cpu_ticks()
    assert 0 <= steal <= total and 0 < busy < total
    with pytest.raises(BenchError, match="'cpu' totals line"):
        host_cpu_ticks("cpu0 1 2 3 4 5 6 7 8\n")
    for garbled in ("cpu 1 2 3 x 5 6 7 8\n", "cpu 1 2 3\n", ""):
        with pytest.raises(BenchError, match="'cpu' totals line"):
            host_cpu_ticks(garbled)
