"""stackr's benchmarks: whole-process figures, side by side with Docker's tools where present."""
