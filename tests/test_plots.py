"""The figures that summarize seeds show every seed (a dot or a thin line each) and mark the median (a typical
run); none draws a mean +- sd band or bar, and each names its seeds and its estimand (issue 44, item 1)."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402

from vaelib.analysis import plots  # noqa: E402
from vaelib.infra import paths  # noqa: E402

DOT, BAR = 18, 260          # the marker areas plots._seeds_and_median draws a seed's dot and a median's bar with


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def two_mode_final() -> pd.DataFrame:
    """linear: seeds 0-4, one mode; conv: seeds 0-5 at d = 10 with two runs far above the other four (the shape
    of conv d = 10's seeds 4 and 8), so that mean +- sd would span losses no run has."""
    rows = []
    for d, base in ((2, 150.0), (10, 110.0)):
        for s in range(5):
            rows.append(("linear", d, s, base + 0.1 * s))
        for s in range(6):
            loss = base - 4 + 0.1 * s + (12.0 if d == 10 and s in (2, 4) else 0.0)
            rows.append(("conv", d, s, loss))
    table = pd.DataFrame(rows, columns=["arch", "latent_dim", "seed", "test_loss"])
    table["test_recon"] = table["test_loss"] - 20
    table["test_kl"] = 20 - (table["test_loss"] - table.groupby("latent_dim")["test_loss"].transform("min")) / 4
    far = (table["arch"] == "conv") & (table["latent_dim"] == 10) & table["seed"].isin([2, 4])
    table["active_units"] = np.where(far, 5, np.minimum(table["latent_dim"], 9))
    table["active_rule"] = "KL to the prior > 0.1 nats"
    return table


def dots_and_bars(ax):
    """(x, y) of the seeds' dots and of the medians' bars in an axis drawn by plots._seeds_and_median."""
    sized = [c for c in ax.collections if hasattr(c, "get_sizes") and len(c.get_sizes())]
    dots = [c.get_offsets() for c in sized if c.get_sizes()[0] == DOT]
    bars = [c.get_offsets() for c in sized if c.get_sizes()[0] == BAR]
    return np.concatenate(dots), np.concatenate(bars)


def no_spread_drawn(ax):
    """No band (PolyCollection: fill_between) and no error bar (a vertical segment of a LineCollection) in the
    axis; a horizontal reference line (active units' "d, every unit used") is no spread."""
    if any(isinstance(c, PolyCollection) for c in ax.collections):
        return False
    segments = [seg for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()]
    return all(np.isclose(seg[0][1], seg[-1][1]) for seg in segments)


def picture(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="rgba")
    return buffer.getvalue()


def test_seeds_by_arch_names_each_architecture_s_seeds_only_where_they_differ():
    same = pd.DataFrame({"arch": ["linear"] * 3 + ["conv"] * 3, "seed": [0, 1, 2] * 2})
    assert plots.seeds_by_arch(same) == "seeds 0-2"
    differ = pd.DataFrame({"arch": ["linear"] * 3 + ["conv"] * 2, "seed": [0, 1, 2, 0, 1]})
    assert plots.seeds_by_arch(differ) == "linear: seeds 0-2; conv: seeds 0, 1"


def test_final_by_dim_draws_every_seed_a_dot_and_the_median_a_bar_without_sd_bars():
    final = two_mode_final()
    fig = plots.plot_final_by_dim(final)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == [f"final test {name}" for name in plots.METRICS.values()]
    for ax, column in zip(axes, ["test_loss", "test_recon", "test_kl"]):
        dots, bars = dots_and_bars(ax)
        assert len(dots) == len(final)                                   # one dot per run
        assert sorted(dots[:, 1]) == pytest.approx(sorted(final[column]))
        medians = final.groupby(["arch", "latent_dim"])[column].median()
        assert sorted(bars[:, 1]) == pytest.approx(sorted(medians))
        assert no_spread_drawn(ax)
    # the two far runs are dots of their own, at their own losses, and the median stays with the other four
    dots, bars = dots_and_bars(axes[0])
    far = final[(final["arch"] == "conv") & (final["latent_dim"] == 10) & final["seed"].isin([2, 4])]["test_loss"]
    for loss in far:
        assert (np.isclose(dots[:, 1], loss)).sum() == 1
    conv10 = final[(final["arch"] == "conv") & (final["latent_dim"] == 10)]["test_loss"]
    assert np.isclose(bars[:, 1], conv10.median()).any() and conv10.median() < far.min() - 10
    # the figure names its seeds, per architecture where they differ, and its estimand
    title = fig._suptitle.get_text()
    assert "linear: seeds 0-4; conv: seeds 0-5" in title and "median" in title and "a typical run" in title
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "one dot: one seed" in labels and any("median" in t and "typical run" in t for t in labels)


def test_final_by_dim_shows_conv_d10_collapsed_seeds_as_separate_dots():
    """The committed results: conv d = 10's seeds 4 and 8 (116.6 and 121.4) are two dots apart from the rest."""
    final = pd.read_csv(paths.PROJECT / "results" / "final_by_seed.csv")
    fig = plots.plot_final_by_dim(final)
    dots, bars = dots_and_bars(fig.axes[0])
    assert len(dots) == len(plots.grid_only(final))
    conv10 = final[(final["arch"] == "conv") & (final["latent_dim"] == 10)].set_index("seed")["test_loss"]
    for seed in (4, 8):
        assert (np.isclose(dots[:, 1], conv10[seed])).sum() == 1
    assert np.isclose(bars[:, 1], conv10.median()).any()
    assert "seeds 0-9" in fig._suptitle.get_text()


def test_final_by_dim_is_the_same_picture_twice_and_leaves_numpy_s_generator_alone():
    final = two_mode_final()
    np.random.seed(3)
    before = np.random.get_state()[1].copy()
    first, second = picture(plots.plot_final_by_dim(final)), picture(plots.plot_final_by_dim(final))
    assert first == second
    assert (np.random.get_state()[1] == before).all()


def two_mode_histories() -> pd.DataFrame:
    """Three epochs of linear and conv at d = 2 and 10, seeds 0-3; conv d = 10 seed 3 stays high."""
    rows = []
    for arch in ("linear", "conv"):
        for d in (2, 10):
            for seed in range(4):
                for epoch in (1, 2, 3):
                    level = 150 - 10 * epoch - d + seed * 0.2 + (15 if (arch, d, seed) == ("conv", 10, 3) else 0)
                    rows.append({"arch": arch, "latent_dim": d, "seed": seed, "epoch": epoch,
                                 "train_loss": level + 1, "train_recon": level - 19, "train_kl": 20.0,
                                 "test_loss": level, "test_recon": level - 20, "test_kl": 20.0, "seconds": 1.0})
    return pd.DataFrame(rows)


def test_sweep_curves_draw_a_thin_line_per_seed_and_a_thick_median_without_bands():
    history = two_mode_histories()
    fig = plots.plot_sweep_curves(history)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2 * 2 * 3                                   # (arch x split) rows, three metrics
    for ax in panels:
        thin = [line for line in ax.lines if line.get_linewidth() == pytest.approx(0.6)]
        thick = [line for line in ax.lines if line.get_linewidth() == pytest.approx(1.8)]
        assert len(thin) == 2 * 4 and len(thick) == 2                  # every (d, seed); a median per d
        assert no_spread_drawn(ax)
    ax = next(a for a in panels if a.get_title() == "conv, test: total (-ELBO)")
    runs = history[(history["arch"] == "conv") & (history["latent_dim"] == 10)]
    high = runs[runs["seed"] == 3].sort_values("epoch")["test_loss"].to_numpy()
    thin = [line.get_ydata() for line in ax.lines if line.get_linewidth() == pytest.approx(0.6)]
    assert any(np.allclose(y, high) for y in thin)                      # the run that stays high, a line of its own
    median = runs.groupby("epoch")["test_loss"].median().to_numpy()
    thick = [line.get_ydata() for line in ax.lines if line.get_linewidth() == pytest.approx(1.8)]
    assert any(np.allclose(y, median) for y in thick)
    title = fig._suptitle.get_text()
    assert "seeds 0-3" in title and "median" in title and "a typical run" in title
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["2", "10"] and "thin: one seed" in labels


def test_active_units_show_every_seed_spread_where_they_tie_and_the_median():
    scores = two_mode_final()
    kl_dims = pd.DataFrame([{"arch": a, "latent_dim": 10, "seed": 0, "rank": r, "kl": 1.0 / r}
                            for a in ("linear", "conv") for r in range(1, 11)])
    fig = plots.plot_active_units(scores, kl_dims)
    left = fig.axes[0]
    dots, bars = dots_and_bars(left)
    assert len(dots) == len(scores)
    assert sorted(dots[:, 1]) == pytest.approx(sorted(scores["active_units"]))
    assert sorted(bars[:, 1]) == pytest.approx(sorted(scores.groupby(["arch", "latent_dim"])["active_units"].median()))
    tied = dots[dots[:, 1] == 2]                                         # every run at d = 2 keeps both units
    assert len(tied) == len(scores[scores["latent_dim"] == 2]) and len(set(tied[:, 0])) == len(tied)
    assert no_spread_drawn(left)
    assert "seeds" in left.get_title() and "median" in left.get_title() and "a typical run" in left.get_title()


def test_the_extras_figure_marks_the_median_of_the_seeds():
    final = pd.read_csv(paths.PROJECT / "results" / "final_by_seed.csv")
    fig = plots.plot_extra(final, "convwide", "conv", ["convch"])
    ax = fig.axes[0]                                                     # d = 10
    bars = [line for line in ax.lines if len(line.get_ydata()) == 3]     # the point plot: one mark per architecture
    assert bars
    expected = [final[(final["arch"] == a) & (final["latent_dim"] == 10)]["test_loss"].median()
                for a in ("conv", "convwide", "convch")]
    assert np.asarray(bars[0].get_ydata(), float) == pytest.approx(expected)
    assert "median" in fig._suptitle.get_text() and "a typical run" in fig._suptitle.get_text()


def test_a_subset_one_architecture_one_seed_draws_its_runs():
    """The report's subsets (one architecture; one seed; one epoch): each run still a dot or a line, named."""
    final = two_mode_final()
    one = final[(final["arch"] == "linear") & (final["seed"] == 0)]
    fig = plots.plot_final_by_dim(one)
    dots, bars = dots_and_bars(fig.axes[0])
    assert len(dots) == len(one) and sorted(bars[:, 1]) == pytest.approx(sorted(one["test_loss"]))
    assert "seed 0" in fig._suptitle.get_text()
    fig = plots.plot_active_units(final[final["arch"] == "conv"],
                                  pd.DataFrame({"arch": "conv", "latent_dim": 10, "seed": 0, "rank": [1, 2],
                                                "kl": [1.0, 0.0]}))
    assert len(dots_and_bars(fig.axes[0])[0]) == len(final[final["arch"] == "conv"])
    history = two_mode_histories()
    fig = plots.plot_sweep_curves(history[(history["arch"] == "conv") & (history["epoch"] == 1)])
    assert "seeds 0-3" in fig._suptitle.get_text()


def test_a_training_step_imports_neither_seaborn_nor_scipy(tmp_path):
    # notebook 01's own import lines, one real training batch and the notebook's figures, in a fresh interpreter:
    # seaborn imports scipy.stats (0.85 s of every training step's start-up), and notebook 01 draws nothing of theirs
    import ast
    import subprocess
    import sys

    notebook = (paths.PROJECT / "notebooks" / "01_train.py").read_text()
    imports = [ast.unparse(node) for node in ast.walk(ast.parse(notebook))
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    script = "\n".join(["import sys", "import matplotlib", "matplotlib.use('Agg')", *imports, f"""
run = train(RunConfig("linear", 2, epochs=1, train_limit=128, test_limit=128, device="cpu"), {str(tmp_path)!r},
            progress=False)
plots.plot_history(run.history, title=run.folder.name)
plots.show_images({{f"test, epoch {{e}}": run.folder / f"test_{{e}}.png" for e in plots.epochs_to_show(1)}})
print(sorted(name for name in ("seaborn", "scipy") if name in sys.modules))"""])
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert shown.stdout.strip().splitlines()[-1] == "[]", shown.stdout
