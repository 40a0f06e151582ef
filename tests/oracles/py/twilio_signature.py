#!/usr/bin/env python3
"""X-Twilio-Signature by the official `twilio` SDK, to cross-check Frontdesk's.

  twilio_signature.py sign   --token TOKEN --url URL [name=value ...]
  twilio_signature.py verify --token TOKEN --url URL --signature SIG [name=value ...]

A name given twice is a repeated form parameter. `sign` prints the signature;
`verify` prints valid/invalid and exits 0 only when the SDK accepts it.
"""
import argparse
import sys

from twilio.request_validator import RequestValidator


def form(pairs):
    values = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        values.setdefault(name, []).append(value)
    return {name: v[0] if len(v) == 1 else v for name, v in values.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("mode", choices=["sign", "verify"])
    ap.add_argument("--token", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--signature", default="")
    ap.add_argument("params", nargs="*")
    args = ap.parse_intermixed_args()
    validator = RequestValidator(args.token)
    params = form(args.params)
    if args.mode == "sign":
        print(validator.compute_signature(args.url, params))
        return 0
    accepted = validator.validate(args.url, params, args.signature)
    print("valid" if accepted else "invalid")
    return 0 if accepted else 1


if __name__ == "__main__":
    sys.exit(main())
