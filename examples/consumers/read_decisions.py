"""Reads fabtel's oper-group decisions with confluent-kafka and fastavro only:
the values are Avro single-object encoded (C3 01, the schema's 8-byte
CRC-64-AVRO fingerprint, the body). Delivery is at-least-once: a decision
seen twice has the same decision_id.
Usage: python read_decisions.py BOOTSTRAP TOPIC oper_group_decision.avsc"""
import io
import json
import sys
import time

import fastavro
from confluent_kafka import Consumer
from fastavro.schema import fingerprint, to_parsing_canonical_form

bootstrap, topic, schema_file = sys.argv[1:4]
schema = fastavro.parse_schema(json.load(open(schema_file)))
header = b"\xc3\x01" + bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"decisions-reader-{time.time_ns()}",
                     "auto.offset.reset": "earliest"})
consumer.subscribe([topic])
seen, quiet_since = set(), time.monotonic()
while time.monotonic() - quiet_since < 5:
    msg = consumer.poll(0.5)
    if msg is None or msg.error():
        continue
    quiet_since = time.monotonic()
    value = msg.value()
    if value[:10] != header:
        continue                      # another schema (a newer fabtel): look it up by its fingerprint
    d = fastavro.schemaless_reader(io.BytesIO(value[10:]), schema)
    if d["decision_id"] not in seen:  # a replay: same id, skip
        seen.add(d["decision_id"])
        print(d["decision_id"], msg.key().decode(), d["action"], ",".join(d["down_links"]),
              f"suppressed={str(d['suppressed']).lower()}")
consumer.close()
