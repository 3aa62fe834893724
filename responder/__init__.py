"""Robot SRE: an Alertmanager webhook responder with a provable safety contract."""

__version__ = "0.1.0"
