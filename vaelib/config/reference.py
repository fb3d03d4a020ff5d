"""The reference run: Burda et al.'s VAE on binarized MNIST, its published numbers and the authors' stages of
the learning rate, which weights are kept and which test images each NLL estimate covers. How it trains is
its protocol's (training.protocols.Reference, stored as protocol "burda")."""

from __future__ import annotations

from .run import RunConfig


PAPER = {"source": "Burda, Grosse & Salakhutdinov (2015), Importance Weighted Autoencoders, Table 1",
         "vae_nll": 86.76, "iwae_k50_nll": 84.78, "epochs": 3280, "k": 5000, "batch_size": 20,
         "active_units": 19}


LATENT_DIM = 50

# The authors' stages: stage i = 1..8 trains 3^(i-1) epochs at 1e-4 * round(10^(1 - (i-1)/7), 1), i.e. the
# first rate (1e-3) times these factors; 3,280 epochs in all.
STAGE_EPOCHS = tuple(3 ** i for i in range(8))
STAGE_FACTORS = tuple(round(10 ** (1 - i / 7), 1) / 10 for i in range(8))
STAGE_ENDS = tuple(sum(STAGE_EPOCHS[:i + 1]) for i in range(8))       # 1, 4, 13, 40, 121, 364, 1093, 3280


def stage_of(epoch: int) -> int:
    """The stage (1..8) that epoch `epoch` (1-based) belongs to; 8 beyond the last."""
    return next((i + 1 for i, end in enumerate(STAGE_ENDS) if epoch <= end), len(STAGE_ENDS))

# The authors' active unit (Burda et al. 2015, section 5.2, and their code): a coordinate whose posterior mean
# varies over the images by more than this; counted on PAPER_ACTIVE_UNIT_IMAGES training images. Not the
# sweep's rule (evaluation.latent.ACTIVE_KL): the comparison with the paper's 19 needs the paper's own.
AUTHORS_ACTIVE_VARIANCE = 0.01


FINAL_PIECES = 4     # the whole-test-set estimate as this many tasks (parallel on the engine's workers)

# What the test set's fixed binarization contributes to the NLL: the same weights scored on the whole test set
# binarized afresh DRAWS times (draw 0: the fixed binarization the paper's protocol uses), each with its own
# estimator draws, at DRAW_K importance samples (a fifth of the paper's K: the spread between binarizations is
# the question, not the level; the estimator's noise at K = 1,000 is larger than at 5,000, so the spread
# counts it generously).
DRAWS = 5
DRAW_K = 1000


TRAIN_IMAGES = 59_600    # the authors' datasets.py: the first 59,600 training images, the last 400 held out


def config(epochs: int = 3280, batch_size: int = 20, lr: float = 1e-3, seed: int = 0,
           train_limit: int | None = TRAIN_IMAGES, test_limit: int | None = None, num_threads: int = 0,
           protocol: str = "burda") -> RunConfig:
    """The reference run's configuration: the paper's protocol by default (validated before any work)."""
    return RunConfig(arch="burda", latent_dim=LATENT_DIM, dataset="mnist-binarized", epochs=epochs,
                     batch_size=batch_size, lr=lr, seed=seed, train_limit=train_limit, test_limit=test_limit,
                     num_threads=num_threads, protocol=protocol)


def snapshot_epochs(epochs: int) -> list[int]:
    """The end of every stage of the authors' schedule up to `epochs` (1, 4, 13, 40, ...), and `epochs`."""
    return [e for e in STAGE_ENDS if e < epochs] + [epochs]


def pieces(n: int, count: int = FINAL_PIECES) -> list[tuple[int, int]]:
    """[0, n) in `count` near-equal ranges: the whole-test-set estimate as parallel tasks."""
    edges = [round(i * n / count) for i in range(count + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def test_size(cfg: RunConfig) -> int:
    return min(cfg.test_limit or 10000, 10000)
