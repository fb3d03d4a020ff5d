"""What to run: RunConfig (one run), Sweep (a whole report) and the reference run's settings,
validated before any work starts."""

from .run import ConfigError, RunConfig  # noqa: F401
from .sweep import Sweep  # noqa: F401
