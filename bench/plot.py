#!/usr/bin/python3
"""Charts from a procslink_bench --record=DIR run, written into DIR (scripts/bench --plot DIR).

    plot.py DIR [--format svg|png]

Reads DIR/latency.csv and DIR/throughput.csv (see bench/record.hpp) and writes:

    latency-<placement>-<mode>.<fmt>   round-trip distribution of every contender: the share of
                                       calls done within a time, and the slow tail by percentile
    throughput-in-flight.<fmt>         calls/s against asynchronous calls in flight
    throughput-size.<fmt>              MB/s against the size of the echoed string
    throughput-clients.<fmt>           calls/s of one server against client processes

Needs Debian's python3-matplotlib. Figures come from one run on one machine: the chart says
which, in its title, from DIR/bench.md when scripts/bench wrote it.
"""
import argparse
import collections
import csv
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import FuncFormatter  # noqa: E402

# The same colour for a contender in every chart; others take the default cycle.
COLOURS = {
    "raw netlink": "black",
    "procslink": "tab:blue",
    "procslink, results not given back": "tab:cyan",
    "AF_UNIX seqpacket": "tab:gray",
    "D-Bus (sd-bus)": "tab:green",
    "gRPC": "tab:red",
}
TAIL_FROM = math.log10(2)  # the tail panel runs from the median (one "nine" is 90%)
TAIL_NINES = 4  # to 99.99%


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def style(series):
    line = "--" if series == "raw netlink" else ":" if series.startswith("Python") else "-"
    return {"color": COLOURS.get(series), "linestyle": line, "linewidth": 1.6}


def machine_line(directory):
    """The benchmark's own line naming the kernel and CPU, if scripts/bench kept its output."""
    path = os.path.join(directory, "bench.md")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.startswith("kernel "):
                    return line.split(", load average")[0].strip()
    return ""


def save(fig, directory, name, fmt):
    path = os.path.join(directory, "%s.%s" % (name, fmt))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    print(path)


def latency_charts(rows, directory, fmt, subtitle):
    groups = collections.OrderedDict()
    for row in rows:
        key = (row["placement"], row["mode"])
        groups.setdefault(key, collections.OrderedDict()).setdefault(row["series"], []).append(
            (float(row["percentile"]), float(row["us"])))
    for (placement, mode), series in groups.items():
        fig, (cdf, tail) = plt.subplots(1, 2, figsize=(12, 6))
        for name, points in series.items():
            points.sort()
            percents = [p for p, _ in points]
            micros = [us for _, us in points]
            cdf.plot(micros, percents, label=name, **style(name))
            # The tail on a scale of nines: x = -log10(1 - p), so 90%, 99%, 99.9% sit evenly.
            nines = [(-math.log10(1 - p / 100), us) for p, us in points if 50 <= p < 100]
            tail.plot([x for x, _ in nines], [us for _, us in nines], label=name, **style(name))
        cdf.set_xscale("log")
        # From the fastest call to the slowest p99.9: the rare slower calls are the tail panel's.
        fastest = min(us for points in series.values() for _, us in points)
        slowest = max(us for points in series.values() for p, us in points if p <= 99.9)
        cdf.set_xlim(fastest / 1.2, slowest * 1.2)
        cdf.set_xlabel("round trip (us, log scale)")
        cdf.set_ylabel("calls done within that time (%)")
        cdf.set_ylim(0, 100)
        cdf.grid(True, which="both", alpha=0.3)
        tail.set_yscale("log")
        tail.set_xlim(TAIL_FROM, TAIL_NINES)
        tail.set_xticks([TAIL_FROM] + list(range(1, TAIL_NINES + 1)))
        tail.xaxis.set_major_formatter(FuncFormatter(nines_label))
        tail.set_xlabel("percentile")
        tail.set_ylabel("round trip (us, log scale)")
        tail.grid(True, which="both", alpha=0.3)
        fig.suptitle("Echo of a short string, %s, %s\n%s" % (mode, placement, subtitle))
        # Below both panels, where it hides no curve.
        handles, labels = cdf.get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=3, fontsize="small", frameon=False)
        fig.subplots_adjust(bottom=0.1 + 0.035 * math.ceil(len(labels) / 3))
        save(fig, directory, "latency-%s-%s" % (slug(placement), slug(mode)), fmt)


def nines_label(x, _):
    """Tick x of the tail panel as a percentile: 0.3 -> 50%, 1 -> 90%, 2 -> 99%, 3 -> 99.9%."""
    nines = float(x)
    return "%.*f%%" % (max(0, int(round(nines)) - 2), 100 - 10 ** (2 - nines))


def slug(text):
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def throughput_charts(rows, directory, fmt, subtitle):
    titles = {
        "in flight": ("Pipelined echo: asynchronous calls in flight", "calls in flight", True),
        "size": ("Echo of a large string", "string size", True),
        "clients": ("Synchronous echo: client processes against one server", "client processes", True),
    }
    scenarios = collections.OrderedDict()
    for row in rows:
        scenarios.setdefault(row["scenario"], []).append(row)
    for scenario, points in scenarios.items():
        title, xlabel, logx = titles.get(scenario, (scenario, "x", False))
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        series = collections.OrderedDict()
        for row in points:
            series.setdefault(row["series"], []).append((float(row["x"]), float(row["value"])))
        raw = dict(series.get("raw netlink", []))
        for name, xy in series.items():
            xy.sort()
            ax.plot([x for x, _ in xy], [y for _, y in xy], marker="o", label=name, **style(name))
            if name == "raw netlink":
                continue
            for x, y in xy:  # each point's ratio to raw netlink at the same x
                if raw.get(x):
                    ax.annotate("%.2fx" % (y / raw[x]), (x, y), textcoords="offset points",
                                xytext=(0, -13), ha="center", fontsize="x-small",
                                color=style(name)["color"])
        if logx:
            ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({x for xy in series.values() for x, _ in xy}))
        ax.minorticks_off()
        if scenario == "size":
            ax.xaxis.set_major_formatter(FuncFormatter(size_label))
        else:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: "%g" % x))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(points[0]["unit"])
        ax.set_ylim(bottom=0)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
        ax.set_title("%s, %s\n%s" % (title, points[0]["placement"], subtitle), fontsize="medium")
        save(fig, directory, "throughput-%s" % slug(scenario), fmt)


def size_label(x, _):
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if x >= 1 << shift:
            return "%g %s" % (x / (1 << shift), unit)
    return "%g B" % x


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--format", choices=("svg", "png"), default="svg")
    args = parser.parse_args(argv[1:])
    subtitle = machine_line(args.directory)
    drawn = False
    for name, draw in (("latency.csv", latency_charts), ("throughput.csv", throughput_charts)):
        path = os.path.join(args.directory, name)
        if os.path.exists(path):
            rows = read_csv(path)
            if rows:
                draw(rows, args.directory, args.format, subtitle)
                drawn = True
    if not drawn:
        sys.exit("plot.py: no recorded figures in %s (run procslink_bench --record=%s first)"
                 % (args.directory, args.directory))


if __name__ == "__main__":
    main(sys.argv)
