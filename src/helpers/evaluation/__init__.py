"""Measuring. Generator fidelity: :mod:`.encoder` (the feature space), :mod:`.distances` (FD, KID),
:mod:`.manifold` (k-NN precision/recall, density/coverage, memorisation), :mod:`.two_sample`,
:mod:`.fidelity` (the report, thresholds, collapse check) and :mod:`.verdicts` (its words).
Classifiers: :mod:`.scores` (metric rows), :mod:`.intervals` (bootstrap) and :mod:`.comparisons`
(DeLong, Holm, paired tests)."""
