"""Oracle for Standard Webhooks signatures: the official `openai` SDK
(pinned in requirements.txt) judges each case read from stdin.

stdin: a JSON list of {"secret", "headers": {...}, "body"}; stdout: a JSON
list, one entry per case: {"ok": bool, "type": event type or null}. A case
is ok when `client.webhooks.unwrap` accepts it (verify_signature with the
SDK's default 300 s tolerance, then the parse)."""

import json
import sys

from openai import OpenAI, InvalidWebhookSignatureError


def main() -> None:
    client = OpenAI(api_key="sk-oracle", base_url="http://127.0.0.1:9/v1")
    out = []
    for case in json.load(sys.stdin):
        try:
            event = client.webhooks.unwrap(
                case["body"], case["headers"], secret=case["secret"]
            )
            out.append({"ok": True, "type": getattr(event, "type", None)})
        except InvalidWebhookSignatureError:
            out.append({"ok": False, "type": None})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
