"""The streaming processes' collector settings (in a child process: they are process-wide)."""

import subprocess
import sys


def test_streaming_freezes_start_up_objects_and_collects_less_often() -> None:
    code = (
        "import gc; from mdtool.gc_tuning import YOUNG_THRESHOLD, tune_for_streaming; tune_for_streaming(); "
        "assert gc.get_threshold()[0] == YOUNG_THRESHOLD and gc.get_freeze_count() > 1000; print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr
