"""The commands that look after the configuration, the local stack, the
topics and the oper-groups: `config check`, `stack up|down|status`,
`topics create|sync-targets|tail`, `oper-group clear`.
Each imports what it needs when it runs.

May import: fabtel.config, fabtel.kafka, fabtel.records, fabtel.partitioning, fabtel.localstack,
fabtel.connectors.gnmi.membership, fabtel.shell.invocation.
"""
from __future__ import annotations

import json
import sys

from fabtel.config import load_config
from fabtel.shell.invocation import UsageError, load_with_endpoints


def _config(args):
    return load_with_endpoints(args)


# ------------------------------------------------------------------ config

def config_check(args) -> int:
    cfg = load_config(args.file)
    groups = len(cfg.oper_groups)
    print(f"{args.file}: ok ({len(cfg.fabric.devices)} devices, {len(cfg.fabric.clients)} clients, "
          f"{len(cfg.fabric.links)} links, {groups} oper-groups)")
    return 0


# ------------------------------------------------------------------ stack

def _stack(args):
    from fabtel.localstack.stack import Stack
    return Stack(args.state_dir, kafka_port=args.kafka_port, influx_port=args.influx_port,
                 broker=getattr(args, "broker", None), nodes=getattr(args, "nodes", None),
                 registry=True if getattr(args, "registry", False) else None,
                 registry_port=getattr(args, "registry_port", None))


def stack_up(args) -> int:
    stack = _stack(args)
    for line in stack.up(progress=lambda text: print(text, file=sys.stderr, flush=True)):
        print(line)
    print("# point the other fabtel commands at this stack:")
    for line in stack.exports():
        print(line)
    return 0


def stack_down(args) -> int:
    for line in _stack(args).down(purge=args.purge):
        print(line)
    return 0


def stack_status(args) -> int:
    ok, lines = _stack(args).status()
    for line in lines:
        print(line)
    return 0 if ok else 1


# ------------------------------------------------------------------ topics

def topics_create(args) -> int:
    from fabtel.kafka import create_topics, wait_for_broker
    cfg = _config(args).kafka
    wait_for_broker(cfg, "topics")
    for line in create_topics(cfg):
        print(line)
    return 0


def topics_sync_targets(args) -> int:
    from fabtel.connectors.gnmi.membership import sync
    from fabtel.kafka import wait_for_broker
    cfg = _config(args)
    wait_for_broker(cfg.kafka, "topics")
    lines = sync(cfg)
    for line in lines:
        print(line)
    print(f"{cfg.kafka.topic('targets')}: {len(lines)} change(s)", file=sys.stderr)
    return 0


def topics_tail(args) -> int:
    from fabtel.kafka import read_topic, wait_for_broker
    from fabtel.records import to_json
    cfg = _config(args).kafka
    wait_for_broker(cfg, "topics")
    topics = [cfg.topics.get(t, t) for t in args.topic]
    for topic in topics:
        _check_topic_exists(cfg, topic)
    if args.offset is not None and args.partition is None:
        raise UsageError("--offset needs --partition (an offset names a message of one partition)")
    if args.exit_at_end and args.follow:
        raise UsageError("--exit-at-end and --follow exclude each other")
    if len(topics) > 1 and (args.follow or args.partition is not None or args.max is not None):
        raise UsageError("--follow, --partition and --max read one topic; several are read one after the other")
    start = args.offset if args.offset is not None else "beginning" if args.from_beginning else "end"
    for topic in topics:
        for read in read_topic(cfg, topic, start, args.partition, args.max, args.timeout,
                               until_end=args.exit_at_end, follow=args.follow):
            if read.error:
                print(json.dumps({"error": read.error}), file=sys.stderr)
                continue
            payload = {"type": None, "tombstone": True} if read.tombstone else \
                {"type": type(read.record).__name__, **to_json(read.record)}
            if args.envelope:
                payload = {"topic": read.topic, "partition": read.partition, "offset": read.offset,
                           "ts": read.timestamp_ms,
                           "key": read.key.decode("utf-8", "replace") if read.key is not None else None,
                           "payload": payload}
            print(json.dumps(payload))
            sys.stdout.flush()
    return 0


def _check_topic_exists(cfg, topic: str) -> None:
    """An unknown topic is a usage error with the nearest names, never an empty wait."""
    import difflib

    from fabtel.kafka import admin_client
    existing = set(admin_client(cfg).list_topics(timeout=10).topics)
    if topic in existing:
        return
    names = sorted(existing | set(cfg.topics))
    near = difflib.get_close_matches(topic, names, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(near)}?)" if near else " (configuration keys: " + ", ".join(sorted(cfg.topics)) + ")"
    raise UsageError(f"no topic {topic!r} on {cfg.bootstrap_servers}{hint}")


# ------------------------------------------------------------------ oper-groups

def oper_group_clear(args) -> int:
    """A GroupClear on the workers' ticks topic, on the group's domain's partition: the
    worker holding the domain lets the group act again (and says so in its log)."""
    import getpass
    import time

    from fabtel.kafka import RecordProducer
    from fabtel.partitioning import DomainPartitioner, partition_of
    from fabtel.records import GroupClear
    cfg = _config(args)
    group = next((g for g in cfg.oper_groups if g.name == args.name), None)
    if group is None:
        raise UsageError(f"no oper-group named {args.name!r} (the configuration has "
                         f"{', '.join(g.name for g in cfg.oper_groups) or 'none'})")
    domain = DomainPartitioner(cfg).domain(group.device)
    rec = GroupClear(domain.name, group.name, args.by or getpass.getuser(), time.time_ns())
    producer = RecordProducer(cfg.kafka)
    topic = f"{args.app_id}-ticks"
    producer.produce_raw(topic, domain.name.encode(), producer.codec.encode(rec, single_object=True),
                         partition=partition_of(domain, cfg.kafka.partitions))
    if producer.flush(15):
        print(f"oper-group clear: not delivered to {topic} (is the broker up?)", file=sys.stderr)
        return 1
    print(f"{group.name}: cleared (sent to {topic}); the worker holding {domain.name} logs it")
    return 0
