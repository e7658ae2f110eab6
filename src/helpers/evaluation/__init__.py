"""Measuring: generator fidelity (FD, KID, k-NN precision/recall, two-sample tests) and
classifier metrics with their intervals and paired tests."""
