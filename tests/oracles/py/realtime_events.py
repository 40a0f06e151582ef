#!/usr/bin/env python3
"""Check OpenAI Realtime events with the official `openai` SDK's own models.

Reads one JSON event per line from FILE ('-' for stdin) and validates each as
a client event (what Frontdesk sends to the model) or a server event (what the
model simulator sends), per --side. The SDK's pydantic models accept keys they
do not declare, so those are reported too: a misspelt field or a beta-era one
(for example session.modalities) must not pass silently.

Prints one line per problem and a final "N valid, M invalid"; exits 1 when
anything is invalid.
"""
import argparse
import json
import sys
import typing

from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import BaseModel, TypeAdapter

# Keys that session.created carries although only the session-create response
# model declares them.
ALLOWED_EXTRA = {
    "session.created": {"$.session.object", "$.session.id", "$.session.expires_at"},
}


def event_models(union):
    """`type` literal -> SDK model, so an error names the model it failed."""
    if typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    by_type = {}
    for model in typing.get_args(union):
        for literal in typing.get_args(model.model_fields["type"].annotation):
            by_type[literal] = model
    return by_type


def extra_keys(value, path="$"):
    if isinstance(value, BaseModel):
        found = [f"{path}.{k}" for k in (value.__pydantic_extra__ or {})]
        for name in type(value).model_fields:
            found.extend(extra_keys(getattr(value, name), f"{path}.{name}"))
        return found
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in extra_keys(v, f"{path}[{i}]")]
    return []


def check_line(models, side, line):
    """None when the line is a valid event, else the problem."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError as e:
        return f"not JSON: {e}"
    kind = event.get("type") if isinstance(event, dict) else None
    model = models.get(kind)
    if model is None:
        return f"unknown {side} event type {kind!r}"
    try:
        parsed = TypeAdapter(model).validate_python(event)
    except Exception as e:  # pydantic.ValidationError, kept short
        return f"{kind}: invalid: " + " | ".join(str(e).splitlines()[1:5])
    extra = [p for p in extra_keys(parsed) if p not in ALLOWED_EXTRA.get(kind, set())]
    if extra:
        return f"{kind}: undeclared keys {extra}"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--side", choices=["client", "server"], required=True)
    ap.add_argument("file")
    args = ap.parse_args()
    models = event_models(RealtimeClientEvent if args.side == "client" else RealtimeServerEvent)
    source = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
    valid = invalid = 0
    for number, line in enumerate(source, 1):
        if not line.strip():
            continue
        problem = check_line(models, args.side, line)
        if problem is None:
            valid += 1
        else:
            invalid += 1
            print(f"line {number}: {problem}")
    print(f"{valid} valid, {invalid} invalid")
    sys.exit(1 if invalid else 0)


if __name__ == "__main__":
    main()
