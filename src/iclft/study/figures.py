"""The report's figures in the paper's style: accuracy per split grouped by condition, and fine-tuning loss curves."""

from __future__ import annotations

from pathlib import Path

from iclft.io import atomic_open
from iclft.study.aggregates import ERROR_BARS, Aggregate, shown


def accuracy_bars(path: Path, title: str, splits: list[str], conditions: list[str],
                 table: dict[tuple[str, str], Aggregate], control: set[str] = frozenset()) -> None:
    """Accuracy per split grouped by condition, standard-error bars (`Aggregate.error`, said in a caption),
    dashed chance line per split; controls hatched and labelled as controls."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = plt.get_cmap("tab10").colors
    width = 0.8 / max(len(conditions), 1)
    per_split = max(0.35 * len(conditions), 1.1)
    fig, ax = plt.subplots(figsize=(max(3.5, 1.0 + per_split * len(splits)), 3.4), dpi=120)
    for j, cond in enumerate(conditions):
        xs, ys, es = [], [], []
        for i, split in enumerate(splits):
            a = table.get((split, cond))
            if a is not None:
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(a.accuracy)
                es.append(a.error)
        ax.bar(xs, ys, width * 0.92, yerr=es, capsize=3, label=shown(cond, control), color=colors[j % len(colors)],
               hatch="//" if cond in control else None, error_kw={"elinewidth": 1})
    for i, split in enumerate(splits):
        ch = [a.chance for (s, _), a in table.items() if s == split]
        if ch:
            ax.hlines(ch[0], i - 0.45, i + 0.45, colors="black", linestyles="dashed", linewidth=1,
                      label="chance" if i == 0 else None)
    ax.set_xticks(range(len(splits)), [s.replace("_", "\n") for s in splits])
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.text(0.01, -0.02, ERROR_BARS, fontsize=7, ha="left", va="top", wrap=True)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", bbox_inches="tight")
    plt.close(fig)


def loss_curves(path: Path, title: str, curves: dict[str, list[dict[str, float]]],
                ylabel: str = "training loss") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    for label, curve in curves.items():
        ax.plot([c["step"] for c in curve], [c["loss"] for c in curve], label=label, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", bbox_inches="tight")
    plt.close(fig)


def budget_curves(path: Path, title: str, splits: list[str],
                  curves: dict[str, dict[str, list[tuple[float, float, float]]]],
                  references: dict[str, dict[str, float]]) -> None:
    """Accuracy against the written-token budget (log x), one panel a split: a line per recipe family
    (`curves`: family -> split -> [(budget, accuracy, error)]), dashed lines for the references (ICL, FT)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(1, len(splits), figsize=(3.2 * len(splits) + 1.5, 3.2), dpi=120, squeeze=False)
    for ax, split in zip(axes[0], splits):
        for j, (family, per_split) in enumerate(curves.items()):
            points = sorted(per_split.get(split, []))
            if points:
                ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points],
                            marker="o", capsize=3, linewidth=1, color=colors[j % len(colors)], label=family)
        for k, (name, accs) in enumerate(references.items()):
            if split in accs:
                ax.axhline(accs[split], linestyle="dashed" if k else "dotted", color="gray", linewidth=1, label=name)
        ax.set_xscale("log", base=2)
        ax.set_title(split, fontsize=9)
        ax.set_xlabel("written tokens per document (x the documents')", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0][0].set_ylabel("accuracy")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 0.95))
    fig.suptitle(title, fontsize=10)
    fig.text(0.01, -0.02, ERROR_BARS, fontsize=7, ha="left", va="top", wrap=True)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", bbox_inches="tight")
    plt.close(fig)
