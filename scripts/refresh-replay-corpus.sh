#!/usr/bin/env bash
# Re-records the replay corpus (tests/fixtures/replay/*.jsonl): places every
# simulated scenario's call through the engine and the simulators, checks
# that each replays without divergence, and writes its flight record.
# Run it when a change to the call machine alters behaviour on purpose, then
# review the diff of the records (docs/replay.md) and commit it with the change.
set -euo pipefail
cd "$(dirname "$0")/.."
UPDATE_REPLAY_CORPUS=1 cargo test -p frontdesk --test calls --locked \
    replay_corpus::every_simulated_scenario_replays_without_divergence -- --nocapture
git status --short tests/fixtures/replay
