#!/usr/bin/env bash
# Regenerates assets/one-moment.ulaw, the clip played when the model
# connection is being restored. Needs espeak-ng and sox (Debian packages).
# Output: raw G.711 mu-law, 8 kHz mono — what Twilio plays, no transcoding.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
espeak-ng -v en-us -s 160 -w "$tmp/clip.wav" "One moment, please."
sox "$tmp/clip.wav" -r 8000 -c 1 -e mu-law -t raw assets/one-moment.ulaw norm -3
rm -rf "$tmp"
ls -l assets/one-moment.ulaw
