"""Where `read_topic(until_end=True)` stops on Apache Kafka: each partition's
last offset as the broker reported it at the start. Its watermarks are asked
of a stand-in consumer here, since the broker's transient refusal cannot be
brought about on demand (CI's first test met it on a cold broker)."""
from __future__ import annotations

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError, KafkaException

from fabtel.kafka import _last_offsets


class Watermarks:
    """A consumer whose broker answers partition p with marks[p], after refusing it refusals[p] times."""

    def __init__(self, marks: dict, refusals: dict):
        self.marks, self.refusals, self.asked = marks, dict(refusals), []

    def get_watermark_offsets(self, tp, timeout):
        self.asked.append(tp.partition)
        if self.refusals.get(tp.partition, 0) > 0 or tp.partition not in self.marks:
            self.refusals[tp.partition] = self.refusals.get(tp.partition, 0) - 1
            raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
        return self.marks[tp.partition]


def test_each_partition_ends_at_its_last_offset_from_where_the_read_starts():
    marks = {0: (0, 10), 1: (4, 4), 2: (3, 9)}
    assert _last_offsets(Watermarks(marks, {}), "t", [0, 1, 2], OFFSET_BEGINNING) == {0: 9, 1: None, 2: 8}
    assert _last_offsets(Watermarks(marks, {}), "t", [0, 1, 2], OFFSET_END) == {0: None, 1: None, 2: None}
    assert _last_offsets(Watermarks(marks, {}), "t", [0, 1, 2], 5) == {0: 9, 1: None, 2: 8}
    assert _last_offsets(Watermarks(marks, {}), "t", [0, 2], 9) == {0: 9, 2: None}


def test_a_partition_the_broker_is_slow_to_answer_for_is_asked_again_then_left_to_eof():
    consumer = Watermarks({0: (0, 10), 1: (0, 3)}, {0: 2})
    assert _last_offsets(consumer, "t", [0, 1], OFFSET_BEGINNING) == {0: 9, 1: 2}
    assert consumer.asked == [0, 0, 0, 1]
    # never answered within the time given: no end for it, so EOF alone ends it
    assert _last_offsets(Watermarks({1: (0, 3)}, {}), "t", [0, 1], OFFSET_BEGINNING, within_s=0.3) == {1: 2}
