"""Process plumbing: atomic files, the default folders, provenance, run locks, CPU sharing, memory."""
