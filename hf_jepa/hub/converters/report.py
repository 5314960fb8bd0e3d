"""What a conversion did: where each part of our model came from, what was ignored, what was left at our init."""

import os
from dataclasses import dataclass, field

from .checkpoint import StateDictReader

# The official repositories whose checkpoints we read, and the license they release their code and weights under.
OFFICIAL_REPOSITORIES = {
    "ijepa": "facebookresearch/ijepa",
    "mae": "facebookresearch/mae",
    "dino": "facebookresearch/dino",
    "vjepa": "facebookresearch/jepa",
    "vjepa2": "facebookresearch/vjepa2",
    "lewm": "lucas-maes/le-wm",
}
OFFICIAL_LICENSES = {
    "ijepa": "cc-by-nc-4.0",
    "mae": "cc-by-nc-4.0",
    "dino": "apache-2.0",
    "vjepa": "cc-by-nc-4.0",
    "vjepa2": "mit",
    "lewm": "mit",  # the license of the official Hub releases (quentinll/lewm-*)
}


def describe(value) -> str:
    """A short description of a checkpoint entry we do not convert."""
    if isinstance(value, dict):
        return f"{type(value).__name__} of {len(value)} entries"
    return type(value).__name__


@dataclass
class ConversionReport:
    """Filled by a converter and `convert`; `summary()` is what `hf-jepa convert` prints, `card_note()` goes into
    the model card."""

    method: str
    checkpoint: str
    output_dir: str | None = None
    sources: dict[str, str] = field(default_factory=dict)  # our module -> the checkpoint entry it was read from
    consumed: dict[str, int] = field(default_factory=dict)  # checkpoint entry -> keys read (every one of them)
    prefixes: dict[str, str] = field(default_factory=dict)  # checkpoint entry -> wrapper prefix removed from its keys
    ignored: dict[str, str] = field(default_factory=dict)  # top-level entry not converted -> what it is
    notes: list[str] = field(default_factory=list)  # parts copied or initialised, args not used, ...
    architecture: str = ""
    # The official code that wrote the file, when one `--from` reads several (`vjepa`: V-JEPA or V-JEPA 2): the key
    # of OFFICIAL_REPOSITORIES / OFFICIAL_LICENSES; the method itself when empty.
    origin: str = ""

    @property
    def official(self) -> str:
        return self.origin or self.method

    def record(self, reader: StateDictReader) -> None:
        self.consumed[reader.part] = len(reader)
        if reader.prefix:
            self.prefixes[reader.part] = reader.prefix

    def ignore_entries(self, checkpoint: dict, used: tuple[str, ...]) -> None:
        """Top-level entries other than `used` (optimizer state, epoch, loss scaler, ...) are not converted, on
        purpose; they are listed."""
        for key, value in checkpoint.items():
            if key not in used:
                self.ignored[key] = describe(value)

    def summary(self) -> str:
        lines = [f"Converted the official {self.method} checkpoint {self.checkpoint}: {self.architecture}."]
        lines += [f"  {ours} <- {source}" for ours, source in self.sources.items()]
        for part, count in self.consumed.items():
            removed = f", wrapper prefix `{self.prefixes[part]}` removed" if part in self.prefixes else ""
            lines.append(f"  read all {count} keys of `{part}`{removed}")
        if self.ignored:
            lines.append("  ignored on purpose: " + ", ".join(f"{k} ({v})" for k, v in self.ignored.items()))
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def card_note(self) -> str:
        """Markdown for the model card: where the weights came from."""
        repository = OFFICIAL_REPOSITORIES.get(self.official, "the official repository")
        parts = "; ".join(f"`{ours}` from `{source}`" for ours, source in self.sources.items())
        text = (
            f"These weights were not trained with hf_jepa: they were converted with `hf-jepa convert --from "
            f"{self.method}` from a checkpoint in the format of the official code "
            f"([{repository}](https://github.com/{repository})), file `{os.path.basename(self.checkpoint)}`. "
            f"{parts}. Every tensor of those entries was read, shapes checked."
        )
        if self.notes:
            text += "\n\n" + "\n".join(f"- {note}" for note in self.notes)
        license_name = OFFICIAL_LICENSES.get(self.official)
        if license_name:
            text += (
                f"\n\nLicense: the official repository releases its code and weights under `{license_name}`, which "
                "this card's metadata states. Weights you trained yourself with the official code may be licensed "
                "otherwise: edit the `license` field."
            )
        return text


__all__ = ["OFFICIAL_LICENSES", "OFFICIAL_REPOSITORIES", "ConversionReport", "describe"]
