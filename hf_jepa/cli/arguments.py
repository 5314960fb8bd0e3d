"""What the commands share in parsing: `--config_overrides`, help texts known only at run time,
`--resume_from_checkpoint` without a value, and checks of numeric arguments with messages that name them."""

import argparse
import json


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """`text` split at `separator`s outside brackets, braces and quotes: `a=[1,2],b=3` -> ['a=[1,2]', 'b=3']."""
    parts, depth, quote, current = [], 0, None, []
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def parse_overrides(text: str | None, config_class=None) -> dict:
    """`--config_overrides "hidden_size=192,target_scale=[0.15,0.2]"` -> {field: value}; values are JSON where they
    parse as JSON (numbers, lists, booleans), strings otherwise; fields `config_class` lacks are clear errors (no
    check without one)."""
    if not text:
        return {}
    known = set(config_class.__dataclass_fields__) if config_class is not None else None
    overrides = {}
    for item in split_top_level(text):
        if "=" not in item:
            raise ValueError(f"`--config_overrides` expects key=value pairs separated by commas, got {item!r}.")
        key, value = (part.strip() for part in item.split("=", 1))
        if known is not None and key not in known:
            raise ValueError(f"`--config_overrides`: {config_class.__name__} has no field {key!r}.")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def fill_help(parser: argparse.ArgumentParser, **values: str) -> None:
    """Fill `{name}` placeholders of the parser's help texts with what is known only once the command runs (e.g.
    the exporters' native classes, loaded with the command)."""
    for action in parser._actions:
        for name, value in values.items():
            if action.help and f"{{{name}}}" in action.help:
                action.help = action.help.replace(f"{{{name}}}", value)


def set_help(parser: argparse.ArgumentParser, dest: str, text: str) -> None:
    """Replace the help of one option (e.g. a transformers TrainingArguments flag this command treats its own way)."""
    for action in parser._actions:
        if action.dest == dest:
            action.help = text


def resume_without_value(argv: list[str]) -> list[str]:
    """`--resume_from_checkpoint` given without a value means the newest complete checkpoint ("latest")."""
    argv = list(argv)
    for index, item in enumerate(argv):
        if item == "--resume_from_checkpoint" and (index + 1 == len(argv) or argv[index + 1].startswith("--")):
            argv.insert(index + 1, "latest")
    return argv


def check_positive(**values) -> None:
    """Each named value must be a positive number (None: not given, fine)."""
    for name, value in values.items():
        if value is not None and value <= 0:
            raise ValueError(f"`--{name}` must be positive, got {value}.")


__all__ = ["check_positive", "fill_help", "parse_overrides", "resume_without_value", "set_help", "split_top_level"]
