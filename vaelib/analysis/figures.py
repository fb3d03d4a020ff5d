"""The report's figures: which notebook makes each and what it shows, and which a given sweep can make."""

from __future__ import annotations

from ..config.sweep import Sweep
from ..infra import paths


FIGURES = {
    "loss_curves.png": ("02_compare_losses", "total, reconstruction and KL per epoch, train and test; a thin line per seed, a thick line for their median"),
    "final_by_dim.png": ("02_compare_losses", "final test metrics against d, per architecture; a dot per seed, a bar for their median"),
    "recon_evolution_conv_2.png": ("02_compare_losses", "test and train reconstructions of conv d=2 (first seed) at epochs 1, 5, 10, 15"),
    "recon_final.png": ("02_compare_losses", "final test reconstructions at the smallest and largest d (first seed)"),
    "latent_grid_linear.png": ("03_explore_latent_space", "5x5 grid z1, z2 in {-2..2} decoded by linear d=2 (first seed)"),
    "latent_grid_conv.png": ("03_explore_latent_space", "5x5 grid z1, z2 in {-2..2} decoded by conv d=2 (first seed)"),
    "latent_grid_fine_linear.png": ("03_explore_latent_space", "15x15 grid at N(0,1) quantiles, linear d=2 (first seed)"),
    "latent_grid_fine_conv.png": ("03_explore_latent_space", "15x15 grid at N(0,1) quantiles, conv d=2 (first seed)"),
    "latent_embedding_linear.png": ("04_embed_test_set", "test-set latent means of linear d=2 by digit (first seed)"),
    "latent_embedding_conv.png": ("04_embed_test_set", "test-set latent means of conv d=2 by digit (first seed)"),
    "latent_knn_confusion.png": ("04_embed_test_set", "5-NN confusion matrices in the 2-D latent spaces (first seed)"),
    "latent_pca.png": ("04_embed_test_set", "test-set means of the d>2 models on their two principal axes (first seed)"),
    "active_units.png": ("04_embed_test_set", "active latent units against d (every seed) and KL per dimension at the largest d (first seed)"),
    "iwae_vs_elbo.png": ("05_beyond", "IWAE bound and ELBO on the test set against d (first seed)"),
    "recon_confusion_d2.png": ("05_beyond", "classifier confusion on the test reconstructions of the 2-D models (first seed)"),
    "prior_samples.png": ("05_beyond", "samples decoded from z ~ N(0, I) at the smallest and largest d (first seed)"),
    "interpolations.png": ("05_beyond", "straight-line latent interpolations between test digits (first seed)"),
    "wide_dense.png": ("05_beyond", "the wide-dense extra: final test loss of conv and of conv with a 256-unit dense layer at the two largest d, every seed"),
    "fashion_latent_grid.png": ("05_beyond", "Fashion-MNIST appendix model: latent grid at N(0,1) quantiles"),
    "fashion_latent_embedding.png": ("05_beyond", "Fashion-MNIST appendix model: test-set means by class"),
}


TWO_D_ONLY = {"recon_evolution_conv_2.png", "latent_grid_linear.png", "latent_grid_conv.png",
              "latent_grid_fine_linear.png", "latent_grid_fine_conv.png", "latent_embedding_linear.png",
              "latent_embedding_conv.png", "latent_knn_confusion.png", "recon_confusion_d2.png",
              "fashion_latent_grid.png", "fashion_latent_embedding.png"}


def expected_figures(sweep: Sweep) -> list[str]:
    """The figures a report over `sweep` makes: 2-D figures need d=2, per-arch ones their arch."""
    out = []
    for name in FIGURES:
        if name in TWO_D_ONLY and not sweep.has_2d():
            continue
        if name.startswith("fashion") and "fashion" not in sweep.datasets:
            continue
        arch = next((a for a in ("linear", "conv") if f"_{a}" in name), None)
        if arch and arch not in sweep.archs:
            continue
        if name == "latent_pca.png" and not any(d > 2 for d in sweep.dims):
            continue
        if name == "iwae_vs_elbo.png" and not sweep.iwae_k:
            continue
        if name == "wide_dense.png" and not any(c.arch == "convwide" for c in sweep.extra_configs()):
            continue
        out.append(name)
    return out


def write_figure_index(where: paths.Paths, sweep: Sweep, command: str) -> None:
    lines = ["# Figures", "", f"Made by `{command}` (see README.md); do not edit by hand.", "",
             "| figure | notebook | shows |", "|---|---|---|"]
    lines += [f"| [{name}]({name}) | notebooks/{FIGURES[name][0]}.ipynb | {FIGURES[name][1]} |"
              for name in expected_figures(sweep)]
    (where.figures / "README.md").write_text("\n".join(lines) + "\n")
