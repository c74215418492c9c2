"""``corral.authoring.plots`` (issue 15): the pictures draw what the data says (bar heights are the laws'
probabilities, one acceptance bar per token coloured by source, stacked AWRS checks), on any Agg backend."""

from __future__ import annotations

import pytest

matplotlib = pytest.importorskip("matplotlib", reason="plots need matplotlib (the dev or notebook extra)")
matplotlib.use("Agg")

import corral  # noqa: E402
from corral.authoring.plots import plot_acceptance, plot_checks, plot_laws  # noqa: E402
from corral.result import TokenStep  # noqa: E402


def _step(source, *, checks=0, rejects=0, rejected=0):
    return TokenStep(token_id=1, text="a", data=b"a", prob=0.5, forced=source == "forced", n_allowed=None,
                     checks=checks, rejects=rejects, source=source, n_rejected_drafts=rejected, draft_kind=None)


class _R:
    def __init__(self, steps):
        self.steps = steps


def _heights(ax):
    return [p.get_height() for p in ax.patches]


def test_plot_laws_bars_are_the_probabilities():
    pi = {"ba": 0.45, "bb": 0.45, "aa": 0.05, "ab": 0.05}
    ell = {"aa": 0.35, "ab": 0.35, "ba": 0.15, "bb": 0.15}
    ax = plot_laws({"pi": pi, "ell": ell})
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ba", "bb", "aa", "ab"]  # ordered by the first law
    assert _heights(ax) == pytest.approx([0.45, 0.45, 0.05, 0.05, 0.15, 0.15, 0.35, 0.35])
    ax = plot_laws({"pi": pi}, top=2)
    assert _heights(ax) == pytest.approx([0.45, 0.45, 0.10]) and ax.get_xticklabels()[-1].get_text() == "other"
    with pytest.raises(ValueError):
        plot_laws({})


def test_plot_acceptance_and_checks_follow_the_steps():
    steps = [_step("draft"), _step("sampled", rejected=2), _step("draft"), _step("eos")]
    ax = plot_acceptance(_R(steps))
    bars = [p for p in ax.patches if p.get_height() == 1.0]
    greens = [p for p in bars if p.get_facecolor()[:3] == pytest.approx(matplotlib.colors.to_rgb("#55A868"))]
    assert len(bars) == 4 and len(greens) == 2
    assert list(ax.lines[0].get_ydata()) == pytest.approx([1.0, 0.5, 2 / 3, 0.5])
    ax = plot_checks(_R([_step("sampled", checks=3, rejects=2), _step("sampled", checks=1)]))
    assert _heights(ax) == pytest.approx([1, 1, 2, 0])  # accepted checks, then rejections stacked on them
    with pytest.raises(ValueError, match="no per-token steps"):
        plot_checks(_R([]))


def test_plots_of_real_results():
    r = corral.generate("Compute:\n", grammar="arithmetic", method="awrs", max_tokens=12, seed=0)
    ax = plot_checks(r)
    assert sum(_heights(ax)) == r.stats["n_checks"]
    s = corral.generate("Compute:\n", grammar="arithmetic", temperature=0, max_tokens=12, draft="auto")
    ax = plot_acceptance(s)
    assert len([p for p in ax.patches if p.get_height() == 1.0]) == len(s.token_ids)
