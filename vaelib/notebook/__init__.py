"""The notebooks' helpers: their set-up (sweep, folders, smoke runs) and the JupyterLab explorers."""
