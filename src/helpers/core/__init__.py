"""The ground floor: atomic files (``artifacts``), where every artifact came from (``provenance``),
seeds, devices and ``tf.distribute`` (``runtime``). Imports nothing else from ``helpers``."""
