"""Pictures of what a sampler did, with matplotlib (the ``notebook`` extra: ``pip install -e '.[notebook]'``).

* :func:`plot_laws`: several laws over the same outputs side by side (bar chart): e.g. the model conditioned on the
  constraint against what masked decoding samples and SMC's posterior.
* :func:`plot_acceptance`: speculative decoding along the output: which tokens came from accepted drafts, where
  drafts were rejected, and the running acceptance rate.
* :func:`plot_checks`: AWRS constraint checks (and rejections) per generated token.

Each takes an optional matplotlib ``Axes`` and returns the one it drew on; the result-based ones read
:attr:`corral.result.Result.steps`.
"""

from __future__ import annotations

__all__ = ["plot_laws", "plot_acceptance", "plot_checks"]

_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")


def _axes(ax, size=(9.0, 3.2)):
    """``ax``, or the axes of a new figure (ImportError naming the extra when matplotlib is missing)."""
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("corral's plots need matplotlib: pip install -e '.[notebook]'") from exc
    return plt.subplots(figsize=size, layout="constrained")[1]


def _label(key) -> str:
    text = key if isinstance(key, str) else repr(key)
    return text if len(text) <= 14 else text[:13] + "…"


def plot_laws(laws: dict, *, top: int = 10, ax=None, title: str | None = None):
    """Bar chart of several probability laws over the same outcomes, grouped by outcome.

    Parameters
    ----------
    laws : dict of str to dict
        Law name -> {outcome: probability}. Outcomes are ordered by the first law's probabilities.
    top : int
        At most this many outcomes (the first law's most probable); the rest are summed into "other".
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib Axes
    """
    if not laws:
        raise ValueError("plot_laws needs at least one law")
    first = next(iter(laws.values()))
    keys = sorted(set().union(*laws.values()), key=lambda k: (-first.get(k, 0.0), str(k)))
    shown, rest = keys[:top], keys[top:]
    ax = _axes(ax)
    width = 0.8 / len(laws)
    for j, (name, law) in enumerate(laws.items()):
        heights = [law.get(k, 0.0) for k in shown] + ([sum(law.get(k, 0.0) for k in rest)] if rest else [])
        xs = [i + (j - (len(laws) - 1) / 2) * width for i in range(len(heights))]
        ax.bar(xs, heights, width, label=name, color=_COLOURS[j % len(_COLOURS)])
    ax.set_xticks(range(len(shown) + bool(rest)), [_label(k) for k in shown] + (["other"] if rest else []),
                  rotation=30, ha="right")
    ax.set_ylabel("probability")
    ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title)
    return ax


def plot_acceptance(result, *, ax=None, title: str | None = None):
    """Speculative decoding along the output: one bar per token (accepted draft, or produced by the target), red
    marks where drafted tokens were rejected, and the running fraction of tokens that came from drafts.

    Parameters
    ----------
    result : Result
        A result of ``generate(..., draft=...)`` (reads :attr:`~corral.result.Result.steps`).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib Axes
    """
    steps = _steps(result)
    ax = _axes(ax)
    drafted = [1.0 if s.source == "draft" else 0.0 for s in steps]
    xs = range(len(steps))
    ax.bar(xs, [1.0] * len(steps), 0.9, color=["#55A868" if d else "#BBBBBB" for d in drafted])
    rejected = [(i, s.n_rejected_drafts) for i, s in enumerate(steps) if s.n_rejected_drafts]
    if rejected:
        ax.scatter([i for i, _ in rejected], [1.05] * len(rejected), marker="v", color="#C44E52", zorder=3,
                   label="draft rejected here")
    running, total = [], 0.0
    for i, d in enumerate(drafted):
        total += d
        running.append(total / (i + 1))
    ax.plot(xs, running, color="#4C72B0", label="running share from drafts")
    from matplotlib.patches import Patch

    handles = ax.get_legend_handles_labels()[0] + [Patch(color="#55A868", label="accepted draft token"),
                                                   Patch(color="#BBBBBB", label="target token")]
    ax.set_ylim(0, 1.15)
    ax.set_xlabel("output position (tokens)")
    ax.legend(handles=handles, frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title)
    return ax


def plot_checks(result, *, ax=None, title: str | None = None):
    """AWRS constraint checks per output token (accepted check plus rejections), stacked.

    Parameters
    ----------
    result : Result
        A result of ``generate(..., method="awrs")`` (reads :attr:`~corral.result.Result.steps`).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib Axes
    """
    steps = _steps(result)
    ax = _axes(ax)
    xs = range(len(steps))
    rejects = [s.rejects or 0 for s in steps]
    accepted = [max((s.checks or 0) - r, 0) for s, r in zip(steps, rejects)]
    ax.bar(xs, accepted, 0.9, color="#55A868", label="check that accepted")
    ax.bar(xs, rejects, 0.9, bottom=accepted, color="#C44E52", label="rejections")
    ax.set_xlabel("output position (tokens)")
    ax.set_ylabel("constraint checks")
    ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title)
    return ax


def _steps(result) -> list:
    steps = list(getattr(result, "steps", None) or [])
    if not steps:
        raise ValueError("this result has no per-token steps to plot (Result.steps is empty)")
    return steps
