"""A host ended because another host stopped (cli/train.abort) lets the checkpoint it is completing be written
first, so that every host of a job keeps a checkpoint of the same epoch; it does not wait forever."""

import threading
import time

from headlines.cli import train
from headlines.runtime.checkpoints import completing, wait_for_checkpoint


def test_abort_ends_the_process_only_once_the_checkpoint_being_completed_is_written(monkeypatch):
    ended = threading.Event()
    monkeypatch.setattr(train, "record_failure", lambda reason: None)
    monkeypatch.setattr(train.os, "_exit", lambda code: ended.set())
    with completing():
        thread = threading.Thread(target=train.abort, args=("Host b was stopped by SIGTERM",))
        thread.start()
        assert not ended.wait(0.5)
    assert ended.wait(5)
    thread.join(5)


def test_the_wait_for_a_checkpoint_gives_up_after_its_timeout():
    with completing():
        started = time.monotonic()
        wait_for_checkpoint(0.2)
        assert 0.2 <= time.monotonic() - started < 2
    started = time.monotonic()
    wait_for_checkpoint(5)  # nothing being completed: at once
    assert time.monotonic() - started < 0.5
