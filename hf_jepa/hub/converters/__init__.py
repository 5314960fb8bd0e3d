"""Converters from checkpoints written by the official I-JEPA, MAE, DINO, V-JEPA and LeWorldModel code to ours.

`convert(method, checkpoint, output_dir)` reads the file with weights-only loading (nothing in it is executed), maps
every tensor onto our `...ForPreTraining` class (shapes checked, no key left unread) and writes a Hub-ready folder.
"""

from .checkpoint import load_checkpoint
from .convert import CONVERTERS, SOURCES, ConvertArguments, convert, convert_command, get_converter
from .report import ConversionReport

__all__ = [
    "CONVERTERS",
    "SOURCES",
    "ConversionReport",
    "ConvertArguments",
    "convert",
    "convert_command",
    "get_converter",
    "load_checkpoint",
]
