"""Training on more than one host with MXNet's parameter server.

The processes are started the way AWS's MXNet training toolkit starts them
(sagemaker_mxnet_container/training.py): a scheduler on hosts[0], a server on every host, the training process
as the worker of its host, and the same DMLC_* variables. What the toolkit lacks is added here: a liveness link
between the hosts, because a worker whose peer has died stays blocked in a kvstore call forever.

    hosts[0]: scheduler + server + worker, liveness listener     hosts[1:]: server + worker, liveness client

Each follower connects to the leader's liveness port and says who it is; each side tells the other "done"
when it has finished, or "stopped" when SIGTERM stopped it. A connection that closes without either means that
host failed: its own failure file has the reason, and this host ends too (failure file naming that host), so the
job ends instead of hanging. A SIGTERM that follows such a loss (local mode's docker-compose stops every container
once one exits) still names the lost host.
"""

import contextlib
import ctypes
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, TypeAlias, TypeVar

import mxnet as mx

from ..errors import JobError, TrainingInterrupted
from ..mxnet_compat import abandon_kvstore, kvstore_barrier

logger = logging.getLogger(__name__)

# The toolkit's defaults: scheduler port 8000 (its `_ps_port` hyperparameter), PS_VERBOSE 0, host lookups
# retried with exponential backoff (0.1 s doubling up to 30 s) for 15 minutes.
DEFAULT_PS_PORT = 8000
PS_PORT_ENV = "HEADLINES_PS_PORT"  # another port, for several clusters on one machine (the tests)
PS_VERBOSE = "0"
HOST_DEADLINE_SECONDS = 15 * 60
FIRST_RETRY_SECONDS, LONGEST_RETRY_SECONDS = 0.1, 30.0
# The liveness link listens next to the scheduler.
LIVENESS_PORT_OFFSET = 1
DONE_MESSAGE = b"done\n"
STOPPED_MESSAGE = b"stopped\n"  # this host was stopped by SIGTERM: not lost
CHILD_STOP_SECONDS = 5
# How long a host stopped by SIGTERM waits to hear whether a peer was lost first: SageMaker local mode
# (docker-compose) stops every container as soon as one exits, so the SIGTERM often follows a lost host by a
# fraction of a second, and the lost host is the reason to report.
LOST_HOST_GRACE_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 10  # one attempt of a follower to reach the leader's liveness port; retried
RECEIVE_BYTES = 64  # a liveness message is one short line
_PR_SET_PDEATHSIG = 1  # linux/prctl.h

T = TypeVar("T")


class KVStore(Protocol):
    """What this package uses of a created MXNet kvstore (mx.kv.KVStore; MXNet has no type information)."""

    @property
    def type(self) -> str: ...

    @property
    def rank(self) -> int: ...

    @property
    def num_workers(self) -> int: ...

    def init(self, key: str | int, value: mx.nd.NDArray) -> None: ...

    def push(self, key: str | int, value: mx.nd.NDArray) -> None: ...

    def pull(self, key: str | int, out: mx.nd.NDArray) -> None: ...

    def row_sparse_pull(self, key: str | int, out: mx.nd.NDArray, row_ids: mx.nd.NDArray) -> None: ...

    def set_optimizer(self, optimizer: mx.optimizer.Optimizer) -> None: ...


# What a training loop hands Gluon's Trainer: a kvstore type name (one host: kvstore_type's "device") or a created
# dist_* kvstore (several hosts: train_as_worker's).
KVStoreArgument: TypeAlias = str | KVStore
# Cluster's `abort(reason)`: ends the process (called from a background thread).
Abort: TypeAlias = Callable[[str], None]


def kvstore_type(num_hosts: int, num_gpus: int) -> str:
    """`device` on one host; `dist_sync` across hosts (gradients aggregated on the servers every step),
    `dist_device_sync` when the hosts have GPUs (first reduced on each host's GPUs)."""
    if num_hosts == 1:
        return "device"
    return "dist_device_sync" if num_gpus > 0 else "dist_sync"


def role_environment(role: str, hosts: Sequence[str], scheduler_address: str, port: int) -> dict[str, str]:
    """DMLC_* variables for `role`, exactly as the toolkit sets them: one server and one worker per host."""
    return {
        "DMLC_NUM_WORKER": str(len(hosts)),
        "DMLC_NUM_SERVER": str(len(hosts)),
        "DMLC_ROLE": role,
        "DMLC_PS_ROOT_URI": scheduler_address,
        "DMLC_PS_ROOT_PORT": str(port),
        "PS_VERBOSE": PS_VERBOSE,
    }


def train_as_worker(kvstore_name: str, train: Callable[[KVStore], T]) -> T:
    """Join the parameter server as this host's worker, run train(kvstore), and leave as MXNet expects.

    mx.kv.create returns once every host's worker has joined. After training every host waits at a barrier until
    hosts[0] has written the model (SageMaker local mode stops all the containers as soon as the first one exits);
    then the kvstore goes while the other hosts still run: its destructor is the workers' final handshake, after
    which the scheduler and servers stop by themselves. When this host fails, that destructor would wait for hosts
    that never come to the handshake and the failure would never be reported, so it is skipped."""
    kvstore: KVStore = mx.kv.create(kvstore_name)
    try:
        result = train(kvstore)
    except BaseException:
        abandon_kvstore(kvstore)
        raise
    kvstore_barrier(kvstore)
    del kvstore
    gc.collect()
    return result


def retry_until(
    action: Callable[[], T],
    what: str,
    deadline_seconds: float,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """action() until it stops raising OSError, backing off 0.1 s, 0.2 s, ... 30 s; JobError after the deadline.
    Hosts of one job start at different times: their names and ports appear late."""
    started, wait = clock(), FIRST_RETRY_SECONDS
    while True:
        try:
            return action()
        except OSError as e:
            waited = clock() - started
            if waited + wait > deadline_seconds:
                raise JobError(
                    f"Gave up after {waited:.0f} s: {what} ({e}). The other host(s) of this job did "
                    f"not come up; their logs may say why."
                ) from e
            logger.info("%s (%s); retrying in %.1f s", what, e, wait)
            sleep(wait)
            wait = min(wait * 2, LONGEST_RETRY_SECONDS)


def lookup_host(
    host: str,
    deadline_seconds: float = HOST_DEADLINE_SECONDS,
    resolve: Callable[[str], str] = socket.gethostbyname,
    **retry_options: Any,
) -> str:
    return retry_until(lambda: resolve(host), f"cannot resolve host {host}", deadline_seconds, **retry_options)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the training process dies (even by SIGKILL), the kernel
    # kills its scheduler and server, so no parameter-server process outlives the job.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Cluster:
    """The hosts of one training job. Use as a context manager around the training: entering resolves the
    hosts, connects the liveness link, starts this host's parameter-server processes and puts the worker's
    DMLC_* variables into os.environ (MXNet reads them when the kvstore is created); leaving stops them.

    `abort(reason)` is called from a background thread when another host fails; it must end the process
    (the main thread may be blocked inside MXNet, where no exception can reach it)."""

    def __init__(
        self,
        hosts: Sequence[str],
        current_host: str,
        abort: Abort,
        port: int | None = None,
        deadline_seconds: float = HOST_DEADLINE_SECONDS,
    ) -> None:
        if current_host not in hosts:
            raise JobError(f"The current host {current_host!r} is not among the job's hosts {hosts}.")
        self.hosts = list(hosts)
        self.current_host = current_host
        self.abort = abort
        self.port = port or int(os.environ.get(PS_PORT_ENV, DEFAULT_PS_PORT))
        self.deadline_seconds = deadline_seconds
        self._children: list[tuple[str, subprocess.Popen[bytes]]] = []  # (role, process)
        self._links: dict[str, socket.socket] = {}  # peer host -> socket
        self._finished = threading.Event()
        self._lost = threading.Event()
        self._lost_reason = ""
        self._listener: socket.socket | None = None

    @property
    def leader(self) -> str:
        return self.hosts[0]

    @property
    def is_leader(self) -> bool:
        return self.current_host == self.leader

    @property
    def is_distributed(self) -> bool:
        return len(self.hosts) > 1

    # -- setup -------------------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        if not self.is_distributed:
            return self
        logger.info(
            "distributed training on %d hosts %s: this is %s (%s)",
            len(self.hosts),
            self.hosts,
            self.current_host,
            "scheduler, server and worker" if self.is_leader else "server and worker",
        )
        addresses = {host: lookup_host(host, self.deadline_seconds) for host in self.hosts}
        try:
            self._connect_liveness(addresses[self.leader])
            if self.is_leader:
                self._start("scheduler", addresses[self.leader])
            self._start("server", addresses[self.leader])
        except BaseException:
            self._stop_children()
            raise
        os.environ.update(role_environment("worker", self.hosts, addresses[self.leader], self.port))
        return self

    def _connect_liveness(self, leader_address: str) -> None:
        port = self.port + LIVENESS_PORT_OFFSET
        if self.is_leader:
            self._listener = socket.create_server(("", port), reuse_port=False)
            self._listener.settimeout(self.deadline_seconds)
            expected = set(self.hosts[1:])
            while expected - set(self._links):
                try:
                    connection, _ = self._listener.accept()
                except socket.timeout:
                    missing = ", ".join(sorted(expected - set(self._links)))
                    raise JobError(
                        f"Host(s) {missing} did not connect to {self.leader} within "
                        f"{self.deadline_seconds} s; their logs may say why."
                    ) from None
                connection.settimeout(self.deadline_seconds)
                peer = connection.makefile("rb").readline().decode("utf-8", "replace").strip()
                connection.settimeout(None)
                if peer in expected:
                    self._links[peer] = connection
                else:
                    connection.close()  # not one of this job's hosts
        else:
            link = retry_until(
                lambda: socket.create_connection((leader_address, port), timeout=CONNECT_TIMEOUT_SECONDS),
                f"cannot connect to {self.leader}:{port}",
                self.deadline_seconds,
            )
            link.settimeout(None)
            link.sendall(f"{self.current_host}\n".encode())
            self._links[self.leader] = link
        for peer, link in self._links.items():
            threading.Thread(target=self._watch, args=(peer, link), name=f"liveness-{peer}", daemon=True).start()
        logger.info("liveness link up with %s", ", ".join(sorted(self._links)))

    def _start(self, role: str, scheduler_address: str) -> None:
        environment = dict(os.environ, **role_environment(role, self.hosts, scheduler_address, self.port))
        # As the toolkit does: importing mxnet with DMLC_ROLE=scheduler/server runs that role until shutdown.
        process = subprocess.Popen([sys.executable, "-c", "import mxnet"], env=environment, preexec_fn=_die_with_parent)
        self._children.append((role, process))
        logger.info("started the parameter-server %s (pid %d)", role, process.pid)

    # -- watching ----------------------------------------------------------------------------------------
    def _watch(self, peer: str, link: socket.socket) -> None:
        received = b""
        try:
            while DONE_MESSAGE not in received and STOPPED_MESSAGE not in received:
                chunk = link.recv(RECEIVE_BYTES)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
        if DONE_MESSAGE in received or self._finished.is_set():
            return
        if STOPPED_MESSAGE in received:
            reason = (
                f"Host {peer} was stopped by SIGTERM before training finished, so this host ({self.current_host}) "
                f"stops too."
            )
            # Passed on: a peer that was still training when the stop reached this host (it may wait in an
            # exchange for it) would otherwise take it for lost.
            self._send(STOPPED_MESSAGE)
        else:
            reason = self._lost_reason = (
                f"Host {peer} stopped before training finished, so this host ({self.current_host}) stops "
                f"too; the log and failure reason of {peer} say why."
            )
            self._lost.set()  # before stopping the children: a SIGTERM may end the main thread meanwhile
        self._stop_children()
        self.abort(reason)

    # -- teardown ----------------------------------------------------------------------------------------
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self.is_distributed:
            return
        interrupted = isinstance(exc, TrainingInterrupted)
        if interrupted:  # the peers are told, so that they do not take this host for lost
            self._send(STOPPED_MESSAGE)
        peer_lost = interrupted and self._lost.wait(LOST_HOST_GRACE_SECONDS)
        if exc_type is None:
            self._finished.set()
            self._send(DONE_MESSAGE)
        else:
            self._finished.set()  # this host's own error is the reason to report, not the peers' reaction
        for link in self._links.values():
            # shutdown, not just close: the watcher thread blocked in recv() keeps the socket open otherwise,
            # and the other host would never see the connection end.
            with contextlib.suppress(OSError):
                link.shutdown(socket.SHUT_RDWR)
            link.close()
        if self._listener is not None:
            self._listener.close()
        self._stop_children()
        if peer_lost:
            raise JobError(self._lost_reason) from exc

    def _send(self, message: bytes) -> None:
        for link in self._links.values():
            with contextlib.suppress(OSError):
                link.sendall(message)

    def _stop_children(self) -> None:
        for _, process in self._children:
            if process.poll() is None:
                process.terminate()
        for role, process in self._children:
            try:
                process.wait(CHILD_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                logger.warning("the parameter-server %s did not stop in %d s; killing it", role, CHILD_STOP_SECONDS)
                process.kill()
                process.wait()
        self._children = []
