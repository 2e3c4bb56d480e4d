"""The one decode path of every consumer (fabtel.kafka.decode_or_letter):
a record, or a dead letter that keeps the bytes and says why; a topic full of
unreadable records is one log line a minute per reason, not one per record."""
from __future__ import annotations

import logging

from fabtel.kafka import decode_or_letter
from fabtel.records import DeadLetter, InterfaceState
from fabtel.serde import RecordCodec

CODEC = RecordCodec(None)


def test_a_record_decodes_and_garbage_becomes_a_letter_that_keeps_it():
    rec = InterfaceState("leaf1", "ethernet-1/1", "gnmi", 1, 2, "up", "enable")
    assert decode_or_letter(CODEC, "t", CODEC.encode(rec), "topic", 0, 5) == (rec, None)
    got, letter = decode_or_letter(CODEC, "tester", b"\x01garbage", "fabtel.x", 3, 17, b"leaf1")
    assert got is None and isinstance(letter, DeadLetter)
    assert (letter.component, letter.source_topic, letter.partition, letter.offset, letter.key, letter.payload) == \
        ("tester", "fabtel.x", 3, 17, b"leaf1", b"\x01garbage")
    assert letter.reason


def test_many_unreadable_records_are_one_line(caplog):
    caplog.set_level(logging.WARNING, "fabtel.dead_letters")
    letters = [decode_or_letter(CODEC, "flooded", b"\x01garbage", "fabtel.y", i % 4, i)[1] for i in range(500)]
    assert all(letters)                                     # every one is kept and can be counted
    lines = [r.getMessage() for r in caplog.records if "flooded" in r.getMessage()]
    assert len(lines) == 1 and "one line a minute" in lines[0]
