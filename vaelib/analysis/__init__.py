"""Analysis: results tables, the handout's claims and their verdicts, figures, and the write-up."""
