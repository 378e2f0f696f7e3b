"""The deliberately broken products the test suite must catch: each mutant is one text replacement in one file of
the repository and the tests that must fail on it. `make test-mutants` (tests/mutants/run.py) applies each to a
copy of the repository and runs its tests there; a replacement whose text is no longer in the file fails the run
loudly, so the catalogue follows the code it breaks."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    finding: str  # what broken product the tests once let through, or what they guard
    path: str  # relative to the repository root
    original: str  # must occur exactly once in the file
    mutated: str
    tests: tuple[str, ...]  # pytest node IDs or files that must fail on the mutant


MUTANTS = (
    Mutant(
        "majority-class classifier",
        "accuracy floors below the majority class passed a model that answers one label",
        "code/headlines/classifier/loop.py",
        "matrix = confusion_matrix(labels, logits.argmax(axis=1), classes)",
        "matrix = confusion_matrix(labels, np.full(len(labels), np.bincount(data.labels).argmax()), classes)",
        ("tests/unit/classifier/test_job.py::test_job_writes_model_metrics_and_plots",),
    ),
    Mutant(
        "drain that drops the request",
        "the SIGTERM-drain test did not prove a request was in flight",
        "code/headlines/serving/server.py",
        '"graceful_timeout": GRACEFUL_TIMEOUT,',
        '"graceful_timeout": 0,',
        ("tests/unit/serving/test_server.py::test_sigterm_drains_the_request_in_flight_then_exits",),
    ),
    Mutant(
        "vectors from a shuffled corpus",
        "nothing checked that the word vectors are good",
        "code/headlines/word_vectors/corpus.py",
        "    tokens.extend(lines[-1].split())\n    return tokens\n",
        "    tokens.extend(lines[-1].split())\n    return __import__('random').Random(0).sample(tokens, len(tokens))\n",
        ("tests/unit/word_vectors/test_quality.py::test_vectors_put_topic_words_next_to_their_own_topic",),
    ),
    Mutant(
        "wrong sigmoid table",
        "the CPU engine's reference reused the product's own sigmoid table",
        "code/headlines/word_vectors/cpu/kernels.py",
        "np.exp(MAX_SIGMOID - _sigmoid_steps)",
        "np.exp(MAX_SIGMOID - _sigmoid_steps * 1.01)",
        ("tests/unit/word_vectors/cpu/test_kernels.py::test_sigmoid_is_fasttexts_table_within_its_resolution",),
    ),
    Mutant(
        "a stopped host taken for lost",
        "two hosts stopped by SIGTERM reported each other as lost",
        "code/headlines/runtime/distributed.py",
        "        if interrupted:  # the peers are told, so that they do not take this host for lost\n"
        "            self._send(STOPPED_MESSAGE)\n",
        "",
        (
            "tests/unit/runtime/test_distributed.py::"
            "test_hosts_stopped_together_by_sigterm_say_so_and_take_no_one_for_lost",
        ),
    ),
    Mutant(
        "build CA kept in the image",
        "the proxy-CA check was skipped on every machine without a proxy CA",
        "containers/serve/Dockerfile",
        "then export PIP_CERT=/run/secrets/ca; fi",
        "then cp /run/secrets/ca /opt/venv/pip-ca.pem && export PIP_CERT=/opt/venv/pip-ca.pem; fi",
        ("tests/container/test_build_ca.py",),
    ),
    Mutant(
        "push without the container tests",
        "CodeBuild pushed images that only the unit tier had checked",
        "buildspec.yml",
        "\n        && .venv/bin/python -m pytest -m container",
        "\n        && true",
        ("tests/unit/project/test_delivery_docs.py::test_the_container_tests_run_the_built_images_before_any_push",),
    ),
    Mutant(
        "benchmark record blind to new files",
        "benchmark records could not be traced to one build",
        "benchmarks/harness.py",
        'git("status", "--porcelain")',
        'git("status", "--porcelain", "--untracked-files=no")',
        (
            "tests/unit/benchmarks/test_provenance.py::"
            "test_a_record_names_the_commit_and_whether_the_tree_differed_from_it",
        ),
    ),
    Mutant(
        "no /ping lookout",
        "/ping waited behind the largest requests (8-22 s beside 6 MB ones, past SageMaker's 2 s)",
        "code/headlines/serving/worker.py",
        "        self.lookout.start()\n",
        "",
        ("tests/unit/serving/test_worker.py::test_pings_are_answered_at_once_while_every_worker_runs_a_long_request",),
    ),
    Mutant(
        "kept requests dropped at SIGTERM",
        "the connections a worker's lookout keeps were closed unanswered when the worker stopped",
        "code/headlines/serving/worker.py",
        "        self._finish_kept()\n",
        "",
        ("tests/unit/serving/test_worker.py::test_sigterm_answers_every_request_the_lookout_kept",),
    ),
    Mutant(
        "lookout gives up on a late request",
        "a /ping whose request line came 0.1 s after its connection waited behind the long request (a CI run: 30 s)",
        "code/headlines/serving/worker.py",
        "            if ping is None and not silent:\n                continue\n",
        "            if ping is None and not silent:\n                ping = False\n",
        ("tests/unit/serving/test_worker.py::test_a_ping_that_comes_late_is_answered_at_once_when_it_comes",),
    ),
    Mutant(
        "ping answered on its request line",
        "pings whose headers stalled blocked the lookout, a second each, while later pings waited",
        "code/headlines/serving/worker.py",
        "        if _END_OF_HEAD in head:\n            return True\n",
        "        return True\n",
        ("tests/unit/serving/test_worker.py::test_pings_beside_a_ping_whose_headers_never_come_are_answered",),
    ),
    Mutant(
        "silent connections fill the lookouts",
        "64 silent connections a worker kept every /ping in the accept queue",
        "code/headlines/serving/worker.py",
        "        return len(self.unread) < UNREAD_PER_WORKER or self.unread[0].accepted_at < silent_since\n",
        "        return len(self.unread) < UNREAD_PER_WORKER\n",
        (
            "tests/unit/serving/test_worker.py::test_silent_connections_leave_the_lookout_free_and_are_closed_after_the_timeout",
        ),
    ),
    Mutant(
        "late requests closed to make room",
        "what closes silent connections for room must not close a burst's requests that are merely late",
        "code/headlines/serving/worker.py",
        "        return len(self.unread) < UNREAD_PER_WORKER or self.unread[0].accepted_at < silent_since\n",
        "        return True\n",
        (
            "tests/unit/serving/test_worker.py::test_a_burst_of_late_requests_larger_than_the_lookouts_wait_on_loses_none",
        ),
    ),
    Mutant(
        "silent connections never closed",
        "a connection that never sent its request held a worker until the arbiter killed it",
        "code/headlines/serving/worker.py",
        "            silent = time.monotonic() > min(connection.accepted_at + self.cfg.timeout, silent_until)\n",
        "            silent = False\n",
        (
            "tests/unit/serving/test_worker.py::test_silent_connections_leave_the_lookout_free_and_are_closed_after_the_timeout",
            "tests/unit/serving/test_worker.py::test_sigterm_answers_a_request_whose_line_comes_late_and_closes_a_silent_connection",
        ),
    ),
    Mutant(
        "lookout spins on part of a request",
        "a request line stopped at 'GE' made the lookout poll without a pause: a core's worth of CPU",
        "code/headlines/serving/worker.py",
        "time.sleep(PART_OF_A_REQUEST_PAUSE_SECONDS)  # poll would answer",
        "(PART_OF_A_REQUEST_PAUSE_SECONDS)  # poll would answer",
        ("tests/unit/serving/test_worker.py::test_a_request_line_that_stops_part_way_costs_the_lookout_no_cpu",),
    ),
    Mutant(
        "a request cut short waits for the timeout",
        "without the peer's close in poll, a request its client cut short stayed with the lookout for the timeout",
        "code/headlines/serving/worker.py",
        "poller.register(connection.client, select.POLLIN | select.POLLRDHUP)",
        "poller.register(connection.client, select.POLLIN)",
        ("tests/unit/serving/test_worker.py::test_a_part_of_a_request_whose_client_closed_goes_to_a_worker_at_once",),
    ),
    Mutant(
        "a wake-up a kept connection",
        "a byte a kept connection filled gunicorn's wake-up pipe under constant load, and the write killed the lookout",
        "code/headlines/serving/worker.py",
        "        if self.busy_since is None:\n            try:\n",
        "        if True:\n            try:\n",
        ("tests/unit/serving/test_worker.py::test_a_connection_kept_for_a_busy_main_thread_writes_no_wake_up",),
    ),
    Mutant(
        "orphaned workers run on",
        "a worker whose master was killed hung at the lookout's join, holding the port and the pipe",
        "code/headlines/serving/worker.py",
        "        self.alive = False  # run also returns",
        "        pass  # run also returns",
        ("tests/unit/serving/test_server.py::test_without_a_model_the_server_runs_and_ping_says_why",),
    ),
    Mutant(
        "workers map the served files themselves",
        "a weights file rewritten in place under the server killed the worker that read it (SIGBUS)",
        "code/headlines/serving/server.py",
        "predictor, load_error = load_predictor(model_dir, copies)",
        "predictor, load_error = load_predictor(model_dir)",
        ("tests/unit/serving/test_server.py::test_weights_rewritten_in_place_under_the_server_change_no_answer",),
    ),
    Mutant(
        "a Pipe channel cut after its first block",
        "Pipe-mode channels were not read at all (FIFOs ignored); a copy that stops early trains on part of the data",
        "code/headlines/runtime/channels.py",
        "shutil.copyfileobj(source, target, COPY_BLOCK_BYTES)",
        "target.write(source.read(COPY_BLOCK_BYTES))",
        (
            "tests/unit/runtime/test_channels.py::"
            "test_a_pipe_channel_is_copied_once_and_its_later_fifos_are_never_opened",
        ),
    ),
    Mutant(
        "Graviton endpoints given the x86 serving image",
        "an arm64 instance type would run the amd64 image and fail with 'exec format error'",
        "scripts/launch.py",
        "return pushed_image(args.images, images.SERVING_IMAGE_KEYS[architecture])",
        "return pushed_image(args.images, images.SERVING_IMAGE_KEY)",
        ("tests/unit/scripts/test_launch.py::test_the_pushed_image_follows_the_use_and_the_instance_type",),
    ),
    Mutant(
        "the hosts' mean with a fused multiply-add",
        "the averaging's compiled passes would round the mean once, not as numpy's product and sum: other bits",
        "code/headlines/classifier/cpu/averaging_kernels.py",
        'EXACT_JIT_OPTIONS = {**JIT_OPTIONS, "fastmath": False}',
        "EXACT_JIT_OPTIONS = JIT_OPTIONS",
        ("tests/unit/classifier/cpu/test_averaging.py::test_the_mean_is_numpys_float32_arithmetic_bit_for_bit",),
    ),
    Mutant(
        "the hosts' mean kept out of the parameters",
        "the compiled mean updates the last averaging's copy; the steps' own parameters must take it too",
        "code/headlines/classifier/cpu/averaging_kernels.py",
        "        parameters[i] = last[i]\n",
        "",
        (
            "tests/unit/classifier/cpu/test_averaging.py::test_the_mean_is_numpys_float32_arithmetic_bit_for_bit",
            "tests/unit/classifier/cpu/test_averaging.py::"
            "test_an_epochs_end_leaves_the_mean_of_the_hosts_parameters_in_the_net_and_the_steps",
        ),
    ),
    Mutant(
        "the net's copy left running",
        "write_parameter reads the steps' array where it lies; returning before MXNet's copy has run lets the next "
        "step's writes into the net",
        "code/headlines/classifier/steps.py",
        "    for array in parameter.list_data():\n        array.wait_to_read()\n",
        "",
        (
            "tests/unit/classifier/test_steps.py::test_the_net_holds_the_values_written_though_the_array_changes_at_once",
        ),
    ),
    Mutant(
        "every block of an embedding sent",
        "an epoch's exchange sent the whole embedding where a host changed ~40% of its rows (85 MB, not 47, on UCI)",
        "code/headlines/runtime/host_exchange.py",
        "used = range(-(-rows // buffers.block_rows))",
        "used = range(len(buffers.pushed))",
        (
            "tests/unit/classifier/cpu/test_averaging.py::"
            "test_an_embeddings_changed_rows_alone_travel_and_give_what_the_whole_would",
        ),
    ),
    Mutant(
        "every row taken for changed",
        "the changed rows' count must say which rows differ from the last mean, or all of them travel",
        "code/headlines/classifier/cpu/averaging_kernels.py",
        "        changed_bits[row] = 0\n",
        "        changed_bits[row] = one\n",
        (
            "tests/unit/classifier/cpu/test_averaging.py::"
            "test_an_embeddings_changed_rows_alone_travel_and_give_what_the_whole_would",
        ),
    ),
    Mutant(
        "the changed rows' mean kept out of the parameters",
        "the exchange by rows updates the last mean's rows; the steps' own parameters must take them too",
        "code/headlines/classifier/cpu/averaging_kernels.py",
        "            parameters[rows[i], d] = last[rows[i], d]\n",
        "",
        (
            "tests/unit/classifier/cpu/test_averaging.py::"
            "test_an_embeddings_changed_rows_alone_travel_and_give_what_the_whole_would",
        ),
    ),
    Mutant(
        "row blocks outside the refit's namespace",
        "a refit's second exchange over the same servers must not reuse the first pass's keys",
        "code/headlines/runtime/host_exchange.py",
        'self.kvstore.init(f"{self.namespace}{key}/{block}", mx.nd.zeros(pushed.shape, dtype=dtype))',
        'self.kvstore.init(f"{key}/{block}", mx.nd.zeros(pushed.shape, dtype=dtype))',
        (
            "tests/unit/runtime/test_host_exchange.py::"
            "test_the_servers_hold_a_key_a_block_the_last_one_the_rows_left_under_the_namespace",
        ),
    ),
    Mutant(
        "float16 ties rounded up, not to even",
        "where the CPU has no float16 conversion the kernels round in integers; they must round as numpy does",
        "code/headlines/half_floats.py",
        "    if (significand & 0x3FFF) != 0x1000:\n        significand += 0x1000\n",
        "    significand += 0x1000\n",
        ("tests/unit/test_half_floats.py::test_float32_values_round_to_float16_as_numpy_rounds_them",),
    ),
)
