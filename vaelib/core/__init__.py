"""The VAE itself: the architectures, the loss (negative ELBO) and the bounds on log p(x)."""
