#!/usr/bin/env python3
"""Standard Webhooks verdicts of the official `openai` SDK, to cross-check
Frontdesk's signer and verifier (crates/frontdesk-wire/src/standard_webhooks.rs).

Reads a JSON list of vectors on stdin, each
  {"secret": "whsec_...", "id": "...", "timestamp": "...", "signature": "...", "body": "..."}
and prints one line per vector: "valid" when `client.webhooks.verify_signature`
accepts it, else "invalid <reason>". The tolerance is the SDK's default (300 s).
"""
import json
import sys

from openai import OpenAI
from openai._exceptions import InvalidWebhookSignatureError


def main():
    client = OpenAI(api_key="oracle-no-network")
    for v in json.load(sys.stdin):
        headers = {
            "webhook-id": v["id"],
            "webhook-timestamp": v["timestamp"],
            "webhook-signature": v["signature"],
        }
        try:
            client.webhooks.verify_signature(v["body"], headers, secret=v["secret"])
            print("valid")
        except InvalidWebhookSignatureError as e:
            print("invalid " + str(e).replace("\n", " "))


if __name__ == "__main__":
    sys.exit(main())
