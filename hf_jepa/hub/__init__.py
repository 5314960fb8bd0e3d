"""Publishing: model cards (`hub.cards`), export to transformers' own classes (`hub.export`) and as remote code
(`hub.remote_code`), `hf-jepa push` (`hub.push`), and converters of official checkpoints (`hub.converters`)."""
