#!/bin/sh
# libFuzzer's argv[0] for fuzz workers: libFuzzer runs it again for -merge, -fork and -jobs. The campaign sets
# FUZZ_PYTHON, FUZZ_TARGET, FUZZ_STATS, FUZZ_BAD_LOG and PYTHONPATH (see fuzz/campaign.py).
exec "${FUZZ_PYTHON:-python3}" -m fuzz._worker "$@"
