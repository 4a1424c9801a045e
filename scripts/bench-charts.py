#!/usr/bin/python3
"""Charts of `actr bench ws --json` ratios, one PNG per baseline, before and after a change.

    scripts/bench-charts.sh BEFORE.json AFTER.json OUT_DIR

Each input is the JSON array one `actr bench ws --json` invocation prints. For every (size, mode)
cell it plots actr's and the wire's ratio to raw Beast and to ZeroMQ (rate: ours / theirs, higher
is better; rtt: our p50 / theirs, lower is better), before and after side by side, with issue 12's
targets drawn where they apply. Ratios are taken within one invocation only, so two runs on a busy
machine stay comparable.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# (baseline, mode, size) -> {"actr": target, "wire": target}; rtt targets are upper bounds.
TARGETS = {
    ("zmq", "oneway", 64): {"wire": 0.5, "actr": 0.3},
    ("zmq", "echo", 64): {"actr": 1.0},
    ("beast", "rtt", 64): {"wire": 1.1, "actr": 1.2},
    ("beast", "oneway", 65536): {"wire": 0.9, "actr": 0.9},
    ("beast", "echo", 65536): {"wire": 0.9, "actr": 0.9},
}


def ratios(path):
    cells = json.load(open(path))
    by = {}
    for c in cells:
        if c.get("mode") == "many_peers":
            continue
        by[(c["impl"], c["mode"], c["size"])] = c
    out = {}
    for (impl, mode, size), c in by.items():
        if impl not in ("actr", "wire"):
            continue
        for base in ("beast", "zmq"):
            b = by.get((base, mode, size))
            if not b:
                continue
            if mode == "rtt":
                r = c["p50_us"] / b["p50_us"] if b["p50_us"] else None
            else:
                r = c["msg_per_s"] / b["msg_per_s"] if b["msg_per_s"] else None
            if r is not None:
                out[(base, impl, mode, size)] = r
    return out


def size_label(n):
    return f"{n // 1024}k" if n >= 1024 and n % 1024 == 0 else str(n)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    before, after, outdir = ratios(sys.argv[1]), ratios(sys.argv[2]), sys.argv[3]
    os.makedirs(outdir, exist_ok=True)
    for base, title in (("beast", "raw Beast"), ("zmq", "ZeroMQ")):
        keys = sorted({(m, s) for (b, _, m, s) in list(before) + list(after) if b == base},
                      key=lambda k: (k[1], ["oneway", "echo", "rtt"].index(k[0])))
        if not keys:
            continue
        fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(keys)), 4.2))
        width = 0.2
        series = [("actr", before, "before", "#c9a0a0"), ("actr", after, "after", "#a03030"),
                  ("wire", before, "before", "#a0b4c9"), ("wire", after, "after", "#30609a")]
        for i, (impl, data, when, colour) in enumerate(series):
            xs = [k + (i - 1.5) * width for k in range(len(keys))]
            ys = [data.get((base, impl, m, s), 0) for (m, s) in keys]
            ax.bar(xs, ys, width, label=f"{'Node' if impl == 'actr' else 'wire'} {when}", color=colour)
        for k, (m, s) in enumerate(keys):
            for impl, off in (("actr", -1), ("wire", 1)):
                t = TARGETS.get((base, m, s), {}).get(impl)
                if t is not None:
                    x0 = k + (off - 0.5) * width - width / 2 if off < 0 else k + 0.5 * width - width / 2
                    ax.plot([x0, x0 + 2 * width], [t, t], color="black", linewidth=1.5)
        ax.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([f"{size_label(s)} B\n{m}" + (" (p50, lower\nis better)" if m == "rtt" else "")
                            for (m, s) in keys], fontsize=8)
        ax.set_ylabel(f"ours / {title}")
        ax.set_title(f"actr bench ws: ratio to {title} (black bars: issue 12 targets)")
        ax.legend(fontsize=8, ncol=2)
        fig.tight_layout()
        path = os.path.join(outdir, f"ws-vs-{base}.png")
        fig.savefig(path, dpi=110)
        print(path)


if __name__ == "__main__":
    main()
