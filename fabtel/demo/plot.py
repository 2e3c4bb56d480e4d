"""The demo's plot: per-link throughput of each run from the lab's ground
truth, the scenario's events and fabtel's changes marked, and the event
zoomed in milliseconds, with the remediation's outcome ("verified +N ms").

May import: fabtel.demo.report, fabtel.sampling, fabtel.extras, matplotlib.
"""
from __future__ import annotations

from fabtel.demo.report import LINKS, RunResult, blackhole, first_down_ns, share_text, span_text
from fabtel.sampling import rate_unit

# Each link its own colour and dash; the access link the remediation shuts
# (client1:eth1) drawn last, on top, and its twin client1:eth2 as a wide
# band beneath, so that equal rates still show both.
STYLES = {"client1:eth1": ("tab:blue", "-", 2.4), "client1:eth2": ("#f5b971", "-", 7.0),    # a band: visible under eth1
          "leaf1:ethernet-1/49": ("tab:green", "--", 1.2), "leaf1:ethernet-1/50": ("tab:olive", ":", 1.6),
          "leaf2:ethernet-1/49": ("tab:purple", "--", 1.2), "leaf2:ethernet-1/50": ("tab:brown", ":", 1.6)}


DRAW_ORDER = [link for link in LINKS if link != "client1:eth1"] + ["client1:eth1"]


def _event_label(e: dict) -> str:
    what = (f"{e['admin_state']}d" if e.get("admin_state") else f"link {e['link']}" if e.get("link")
            else f"LACP partner {e.get('lacp_partner_state')}")
    return f"{e['device']} {', '.join(e.get('interfaces') or [])} {what}".replace("  ", " ")


def plot(path: str, scenario, runs: list[RunResult], report: dict) -> None:
    from fabtel.extras import require
    matplotlib = require("matplotlib", "demo", "the demo's plot (--plot)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(runs), 1, figsize=(12, 4.2 * len(runs)), sharex=True, sharey=True, squeeze=False)
    peak = max([s["links"].get(link, 0) * 8 for r in runs for s in r.ground_truth for link in LINKS]
               + [s["blackholed_bytes"] * 8 for r in runs for s in r.ground_truth] + [1000])
    unit, scale = rate_unit(peak)
    top = peak / scale
    for ax, run in zip(axes[:, 0], runs):
        secs = [s["t"] for s in run.ground_truth]
        lost = [s["blackholed_bytes"] * 8 / scale for s in run.ground_truth]
        ax.fill_between(secs, lost, step="post", color="red", alpha=0.18, label="blackholed", zorder=1)
        for link in DRAW_ORDER:
            colour, dash, width = STYLES[link]
            ax.plot(secs, [s["links"].get(link, 0) * 8 / scale for s in run.ground_truth], label=link, color=colour,
                    linestyle=dash, linewidth=width, drawstyle="steps-post", zorder=5 if link == "client1:eth1" else 3)
        ax.set_ylim(0, top * 1.5)                 # headroom for the labels and the zoomed inset
        for i, e in enumerate(run.events):
            ax.axvline(e["at_ms"] / 1000, color="red", linestyle=":", linewidth=1.2)
            ax.annotate(_event_label(e), (e["at_ms"] / 1000, top * (1.42 - 0.1 * i)), color="red", fontsize=8,
                        ha="right", xytext=(-4, 0), textcoords="offset points")
        for i, a in enumerate(run.admin_changes):
            t = (a["ts_ns"] - run.start_ns) / 1e9
            ax.axvline(t, color="green", linestyle="-", linewidth=1.0)
            ax.annotate(f"fabtel {a['admin_state']}d {a['device']} {a['interface']}", (t, top * (1.42 - 0.1 * i)),
                        color="green", fontsize=8, xytext=(4, 0), textcoords="offset points")
        b = blackhole(run, first_down_ns(run), [a for a in run.admin_changes if a["admin_state"] == "disable"])
        share = ", ".join(f"{c} lost {share_text(x['lost_share'])} of its traffic" for c, x in b["clients"].items())
        ax.set_title(f"{scenario.name}, {'with' if run.oper_group else 'without'} the oper-group: "
                     + (f"{share} {span_text(b)}" if share else "no traffic lost"), fontsize=10)
        ax.set_ylabel(f"{unit} (lab ground truth, per second)")
        ax.grid(alpha=0.3)
        if run.oper_group and report.get("timeline_ms"):
            _zoom(ax, run, report["timeline_ms"])
    handles, labels = axes[0, 0].get_legend_handles_labels()
    order = [labels.index(x) for x in LINKS + ("blackholed",) if x in labels]
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="lower center", ncol=7, fontsize=8,
               frameon=False)
    axes[-1, 0].set_xlabel("seconds from the scenario's start")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _zoom(ax, run: RunResult, tl: dict) -> None:
    """An inset around the event, in ms from the uplink loss: the loss, the
    telemetry that told fabtel, its decision and the change at the device,
    each on its own row so that 10 ms apart still reads apart."""
    marks = [("uplinks lost", 0.0), ("telemetry seen", tl["detect_ms"]),
             ("decided", tl["detect_ms"] + tl["decide_ms"])]
    if "total_ms" in tl:
        marks.append(("access link down", tl["total_ms"]))
    end = max(m[1] for m in marks)
    if "outcome_ms" in tl:           # seconds later than the rest: drawn at the right edge with its own figure
        marks.append((f"{tl['outcome']} +{tl['outcome_ms']:.0f} ms", max(end, 10) * 1.45))
    inset = ax.inset_axes((0.03, 0.50, 0.36, 0.32))        # upper left: before the event, above the links
    for row, (name, ms) in enumerate(marks):
        y = len(marks) - row
        outcome = name.startswith(("verified", "not_verified", "worse"))
        colour = {"verified": "green", "worse": "red"}.get(name.split()[0], "orange") if outcome else \
            "green" if name == "access link down" else "red"
        inset.plot([ms, ms], [0, y], color=colour, linewidth=1.2, linestyle="--" if outcome else "-")
        inset.plot([ms], [y], "o", color="black", markersize=3)
        label = name if outcome else f"{name} +{ms:.0f} ms" if ms else name
        inset.annotate(label, (ms, y), fontsize=7, xytext=(-3 if outcome else 3, -3), textcoords="offset points",
                       ha="right" if outcome else "left")
    inset.set_xlim(-0.1 * max(end, 10), max(end, 10) * 1.8)
    inset.set_ylim(0, len(marks) + 0.8)
    inset.set_yticks([])
    inset.set_xlabel("ms from the uplink loss", fontsize=7)
    inset.tick_params(labelsize=7)
    inset.set_title("the event, zoomed", fontsize=8)

