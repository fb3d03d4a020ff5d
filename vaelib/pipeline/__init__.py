"""The pipeline: the Dask scheduler, subprocess launching, the report runner and the reference run."""
