"""The timeline plot: error rate and who served the traffic, per second, with the loop's steps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from selfheal.demo.timeline import Timeline
from selfheal.demo.traffic import Sample, bucketize

COLORS = {"app": "#1a5fb4", "cdn": "#1e8e3e", "-": "#999999"}


def plot_timeline(
    samples: Sequence[Sample], timeline: Timeline, path: Path, width: float = 0.5
) -> Path:
    """Write a PNG (or SVG, by suffix) of the run; time is seconds from fault onset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    buckets = bucketize(samples, width)
    origin = timeline.fault_at if timeline.fault_at is not None else buckets[0].start
    xs = [b.start - origin for b in buckets]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 5.5), height_ratios=[1, 1])
    try:
        top.plot(xs, [b.error_rate * 100 for b in buckets], color="#c01c28", drawstyle="steps-post")
        top.set_ylabel("errors (%)")
        top.set_ylim(-2, 102)
        story = "fault → problem → flag on → CDN"
        if timeline.reached("flag_off"):
            story += " → fault cleared → origin verified → flag off → app"
        top.set_title(f"selfheal demo: {story}", fontsize=10)
        base = [0.0] * len(buckets)
        for who in ("app", "cdn", "-"):
            share = [b.share(who) * 100 for b in buckets]
            if not any(share):
                continue
            label = {"app": "served by the app", "cdn": "served by the CDN", "-": "no answer"}[who]
            top_edge = [a + s for a, s in zip(base, share, strict=True)]
            bottom.fill_between(
                xs, base, top_edge, step="post", color=COLORS[who], alpha=0.8, label=label
            )
            base = top_edge
        bottom.set_ylabel("share of requests (%)")
        bottom.set_ylim(0, 100)
        bottom.set_xlabel("seconds from fault onset")
        bottom.legend(loc="lower left", fontsize=8)
        marks = [("fault", 0.0)] if timeline.fault_at is not None else []
        marks += [(label, secs) for _, label, secs, _ in timeline.rows() if secs is not None]
        for i, (label, secs) in enumerate(marks):
            for ax in (top, bottom):
                ax.axvline(secs, color="#333333", linestyle="--", linewidth=0.8)
            top.annotate(
                f"{label} ({secs:+.1f}s)",
                xy=(secs, 100 - (i % 5) * 17),
                xytext=(3, -10),
                textcoords="offset points",
                fontsize=7,
            )
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return path
