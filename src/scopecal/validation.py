"""Config validation against the JSON schema, with a message a user can act on.

Snakemake's ``validate`` reports a failure with the whole schema and the whole config after it (hundreds of
lines). :func:`validate_config` raises a ``ValueError`` of one line instead: the key path, the value found and
what the schema allows there. Like Snakemake's, it fills in the schema's ``default`` values.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match

from .config import site_config

MAX_VALUE_CHARS = 120


def _with_defaults(validator_class):
    """A validator class that sets each property's schema ``default`` where the config lacks the key."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, schema_properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in schema_properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, schema_properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties})


def key_path(parts: Iterable[Any]) -> str:
    """``scope.dtype``, ``problems.sif_fqe.runs[0].optimizers``; ``(top level)`` for the config itself."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 4] + " ..."


def describe(error: ValidationError) -> str:
    """One line: where, what was found, what is allowed."""
    where = key_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(error.schema.get("properties", {}))
        patterns = sorted(error.schema.get("patternProperties", {}))
        detail = f"allowed keys: {', '.join(allowed)}" if allowed else "no keys of its own are allowed here"
        if patterns:
            detail += f" (and keys matching {', '.join(patterns)})"
        return f"config key {where}: {error.message}; {detail}"
    message = _message(error)
    if repr(error.instance) in message:  # jsonschema's message names the value and what is allowed
        return f"config key {where}: {message}"
    return f"config key {where}: {message} (value: {_short(error.instance)})"


def _message(error: ValidationError) -> str:
    message = " ".join(error.message.split())
    if len(message) > 3 * MAX_VALUE_CHARS:
        message = message[: 3 * MAX_VALUE_CHARS - 4] + " ..."
    return message


def _shown(path: str | Path) -> str:
    """The schema's path relative to the working directory where it lies under it."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Check ``config`` against the YAML/JSON schema at ``schema_path`` and fill in schema defaults in place.

    Raises ``ValueError`` naming the offending key path, its value and what the schema allows.
    """
    # libyaml's loader where there is one: the pure-Python one takes most of this function's time, and it runs at
    # every Snakemake start. The schema itself is not checked against the meta-schema here (that is as slow again):
    # tests do it.
    schema = yaml.load(Path(schema_path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = _with_defaults(validator_class)(schema)
    error = best_match(validator.iter_errors(config))
    if error is not None:
        raise ValueError(f"invalid config (schema {_shown(schema_path)}): {describe(error)}")
    for site in config.get("sites") or {}:  # each site's sections laid over the shared ones
        error = best_match(validator.iter_errors(site_config(config, site)))
        if error is not None:
            raise ValueError(f"invalid config (schema {_shown(schema_path)}): sites.{site}: {describe(error)}")
    return config
