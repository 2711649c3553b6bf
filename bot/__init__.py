"""tokutei-bot: answers foreign residents of Japan about the Specific Residence Card."""

__version__ = "0.1.0"
