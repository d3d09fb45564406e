"""spokendigits: generate spoken digits with deep generative models.

The library behind the scripts in `codes/`: signal processing (`audio`), data
sources (`datasets`), feature sets (`features`), settings (`config`) and safe
storage (`storage`). Scripts parse arguments and call into it.
"""

__version__ = "0.1.0"
