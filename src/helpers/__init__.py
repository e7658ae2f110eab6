"""Helpers for the notebook series *GAN-based oversampling for chest X-ray classification*.

One module per responsibility (see the README's layout): ``config`` (profiles, run folders),
``data`` and ``phantom`` (datasets), ``gan`` (DCGAN), ``fidelity`` and ``metrics`` (evaluation),
``plots`` (figures), ``artifacts`` (atomic files), ``runtime`` (seeds, devices), ``series`` (runner).
"""

__version__ = "0.1.0"
