"""Evaluation of trained runs: the evaluation step, the digit classifier, latent tools, samples, the NLL."""
