"""A host's two ways to end (cli/train.abort on a background thread when another host stops, the main thread on
its own failure) never end the process while the other is writing the failure file: the file holds the reason the
exit code goes with, whole."""

import threading
import time

from headlines import contract
from headlines.cli import train

# Long enough for the main thread to empty the file if nothing holds it back.
MAIN_THREAD_GRACE_SECONDS = 1.0


def test_abort_ends_the_process_with_its_reason_whole_while_the_main_thread_records_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv(contract.BASE_DIR_ENV, str(tmp_path))
    failure_file = tmp_path / contract.FAILURE_FILE
    monkeypatch.setattr(train, "wait_for_checkpoint", lambda seconds: None)
    main_thread_emptied_the_file = threading.Event()
    write_failure = train.write_failure

    def emptying_write_failure(path, reason):
        if reason == "main thread's reason":
            open(path, "w").close()  # as open(path, "w") does before the write
            main_thread_emptied_the_file.set()
        write_failure(path, reason)

    at_exit = {}

    def process_ends(code):
        main_thread_emptied_the_file.wait(MAIN_THREAD_GRACE_SECONDS)
        at_exit.update(code=code, reason=failure_file.read_text())

    monkeypatch.setattr(train, "write_failure", emptying_write_failure)
    monkeypatch.setattr(train.os, "_exit", process_ends)
    aborting = threading.Thread(target=train.abort, args=("Host algo-2 stopped before training finished",))
    aborting.start()
    while not failure_file.exists():
        time.sleep(0.01)
    main_thread = threading.Thread(target=train.record_failure, args=("main thread's reason",))
    main_thread.start()
    aborting.join(5)
    main_thread.join(5)
    assert at_exit == {"code": train.EXIT_FAILED, "reason": "Host algo-2 stopped before training finished"}
