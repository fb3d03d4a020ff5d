"""Analysis: results tables, the seed's claims and their verdicts, figures, and the write-up."""
