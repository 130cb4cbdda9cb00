"""AIS: an airline booking backend that keeps seats and money right."""

__version__ = "0.1.0"
