"""The report as a static page with latent-space explorers that run from disk (python -m vaelib.site)."""
