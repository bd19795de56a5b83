"""A real single-node Slurm cluster for tests: Debian's slurmctld, slurmd and munge, started by hand.

Everything lives under one folder: munge's key, socket, pid, log and seed files, slurm.conf, the controller's
state, slurmd's spool and the logs. The three daemons are children of this process (``munged -F``,
``slurmctld -D``, ``slurmd -D``) and are stopped by their own pids. Ports are picked free by binding port 0,
so clusters of several pytest workers (or of other checkouts on the same host) run side by side.

    reason = ensure_installed()          # None, or why Slurm can't be had here
    cluster = SlurmCluster(root_dir)
    cluster.start()                      # ~1.1 s; raises SlurmError with the daemons' log tails
    job = cluster.sbatch("--array=0-2", "--wrap", "echo $SLURM_ARRAY_TASK_ID", cwd=tmp)
    states = cluster.wait(job)           # {"12_0": "COMPLETED", ...}
    cluster.show_job(f"{job}_1")["ExitCode"]
    subprocess.run(["squeue"], env=cluster.env)
    cluster.stop()
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "sinfo", "scancel")
# Daemons live in sbin, which a non-login root shell may lack on its PATH.
_SEARCH_PATH = os.pathsep.join(
    dict.fromkeys(p for p in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/sbin"] if p)
)
INSTALL_LOCK = Path("/tmp/nerf_dataset-slurm-install.lock")
# Job states after which a job never runs again (squeue -t all, %T).
FINAL_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
        "SPECIAL_EXIT",
        "REVOKED",
    }
)
_UNIX_SOCKET_MAX = 107  # sun_path is 108 bytes with its terminating NUL


class SlurmError(RuntimeError):
    """Slurm could not be started, or a client command failed; the message says why (and shows log tails)."""


def which(name: str) -> str | None:
    return shutil.which(name, path=_SEARCH_PATH)


def missing_binaries() -> list[str]:
    return [name for name in (*DAEMONS, *CLIENTS) if which(name) is None]


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive fcntl lock on ``path``, held for the ``with`` block (released if the holder dies)."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _apt(args: list[str], timeout: float) -> str | None:
    """Run ``apt-get ARGS`` quietly; None, or one line saying how it failed."""
    command = ["apt-get", *args]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return f"`{' '.join(command)}` took over {timeout:.0f} s"
    if done.returncode == 0:
        return None
    last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
    return f"`{' '.join(command)}` failed ({done.returncode}): {last}"


def ensure_installed(timeout: float = 900) -> str | None:
    """Install Debian's Slurm and munge when missing; None when they are there, else one line saying why not.

    Quiet (apt's output only in the reason of a failure). Serialised across processes by a lock file, so
    parallel pytest workers don't race for dpkg's lock.
    """
    missing = missing_binaries()
    if not missing:
        return None
    wanted = " ".join(PACKAGES)
    if os.geteuid() != 0:
        return f"Slurm is not installed ({', '.join(missing)} missing) and only root may apt-get install {wanted}"
    if which("apt-get") is None:
        return f"Slurm is not installed ({', '.join(missing)} missing) and there is no apt-get to install {wanted}"
    with file_lock(INSTALL_LOCK):
        if not missing_binaries():  # another worker installed it while we waited
            return None
        # The package lists may be missing or stale (an old list names .debs the mirror no longer has). A
        # failed update (one unreachable source) needn't stop the install: its error is told if that fails.
        update = _apt(["update", "-qq"], timeout)
        install = _apt(["install", "-y", "-qq", "--no-install-recommends", *PACKAGES], timeout)
        if install:
            return f"{install} (after {update})" if update else install
    missing = missing_binaries()
    if missing:
        return f"apt-get installed {wanted} but {', '.join(missing)} still can't be found"
    return None


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that nothing listens on now (bound to port 0, then closed)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child after fork does no more than call it
except (OSError, AttributeError):
    _prctl = None


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, so a killed pytest leaves no daemons."""
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"--- {path.name}: (none)"
    return "\n".join([f"--- {path.name} (last {min(lines, len(text))} lines)", *text[-lines:]])


class SlurmCluster:
    """One controller and one node (named after ``hostname -s``), all under ``root_dir``."""

    def __init__(self, root_dir: str | os.PathLike, *, name: str = "nerftest", start_timeout: float = 60.0):
        self.root = Path(root_dir).absolute()
        self.name = name
        self.start_timeout = start_timeout
        self.conf = self.root / "slurm.conf"
        self.log_dir = self.root / "log"
        self.munge_dir = self.root / "munge"
        self.munge_socket = self.munge_dir / "run" / "munge.sock"
        self.host = socket.gethostname().split(".")[0]
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.ports: tuple[int, int] | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self.start_seconds: float | None = None
        # What client commands (sbatch, squeue, scontrol, sinfo, scancel) run with: ours, plus SLURM_CONF.
        # Inherited SLURM_*/SBATCH_*/SQUEUE_* variables (pytest itself inside a Slurm job) would steer them
        # to another cluster or job, so they are dropped.
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SLURM_", "SBATCH_", "SQUEUE_", "SINFO_", "SCONTROL_", "SALLOC_", "SRUN_"))
        }
        self.env["SLURM_CONF"] = str(self.conf)
        self.env["PATH"] = _SEARCH_PATH

    # -- start ---------------------------------------------------------------------------------------------

    def start(self) -> SlurmCluster:
        """Start munged, slurmctld and slurmd; return once ``sinfo`` says the node is idle (or raise)."""
        t0 = time.monotonic()
        missing = missing_binaries()
        if missing:
            raise SlurmError(f"Slurm is not installed: {', '.join(missing)} missing (see ensure_installed())")
        for attempt in range(3):
            self._layout()
            self.ports = tuple(free_ports(2))
            self._write_conf()
            try:
                self._start_daemons()
                self._wait_idle()
                break
            except SlurmError as error:
                # Another process may have taken a port between our probe and the daemon's bind: retry anew.
                clash = "Address already in use" in self.logs()
                self.stop(grace=1)  # no jobs yet; a slurmd whose controller is gone may be slow to hear SIGTERM
                if not clash or attempt == 2:
                    raise SlurmError(f"{error}\n{self.logs()}") from None
        self.start_seconds = time.monotonic() - t0
        return self

    def _layout(self) -> None:
        for sub in ("log", "state", "spool", "munge"):  # a retry starts afresh; nothing else of root_dir goes
            shutil.rmtree(self.root / sub, ignore_errors=True)
        for sub in ("log", "state", "spool", "munge/run", "munge/lib", "munge/log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # munged refuses a socket whose folder or any parent lacks o+x: "execute permissions for all
        # required". Open our folders; check (don't change) the ones above root_dir.
        for path in (self.root, self.munge_dir, self.munge_socket.parent, self.munge_dir / "lib", self.log_dir):
            path.chmod(0o755)
        for parent in self.root.parents:
            if not parent.stat().st_mode & 0o001:
                raise SlurmError(
                    f"munged needs o+x on every parent of its socket, and {parent} is "
                    f"{oct(parent.stat().st_mode & 0o777)}: put the cluster's folder elsewhere (under /tmp)"
                )
        # Unix sockets (munge's, slurmstepd's in the spool) can't have paths longer than sun_path.
        longest = max(len(str(self.munge_socket)), len(str(self.root / "spool" / f"{self.host}_4294967294.4294967294")))
        if longest > _UNIX_SOCKET_MAX:
            raise SlurmError(f"{self.root} is too long a folder for Unix sockets (a path of {longest} bytes)")
        key = self.munge_dir / "munge.key"
        key.unlink(missing_ok=True)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        try:
            os.write(fd, os.urandom(128))
        finally:
            os.close(fd)

    def _write_conf(self) -> None:
        ctld_port, slurmd_port = self.ports
        cpus = len(os.sched_getaffinity(0))  # nproc: never more than slurmd finds, or the node is drained
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
        root, log = self.root, self.log_dir
        settings = {
            "ClusterName": self.name,
            # The address is given, so the host name needn't resolve.
            "SlurmctldHost": f"{self.host}(127.0.0.1)",
            "SlurmUser": self.user,
            "SlurmdUser": self.user,
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={self.munge_socket}",
            "SlurmctldPort": ctld_port,
            "SlurmdPort": slurmd_port,
            "StateSaveLocation": root / "state",
            "SlurmdSpoolDir": root / "spool",
            "SlurmctldPidFile": root / "slurmctld.pid",
            "SlurmdPidFile": root / "slurmd.pid",
            "SlurmctldLogFile": log / "slurmctld.log",
            "SlurmdLogFile": log / "slurmd.log",
            "SlurmctldDebug": "info",
            "SlurmdDebug": "info",
            "MailProg": "/bin/true",
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",
            "JobCompType": "jobcomp/none",
            "MpiDefault": "none",
            "SchedulerType": "sched/backfill",
            # Without it the second wave of array tasks waits ~3 s.
            "SchedulerParameters": "batch_sched_delay=0",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core",
            "ReturnToService": 2,
            "InactiveLimit": 0,
            "KillWait": 5,
            # Finished jobs stay visible to squeue -t all and scontrol show job (there's no sacct) for 5 min.
            "MinJobAge": 300,
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        lines += [
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={min(1000, memory_mb)} State=UNKNOWN",
            "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def _spawn(self, name: str, command: list[str]) -> None:
        with open(self.log_dir / f"{name}.out", "ab") as out:  # the child has its own copy of the descriptor
            self.processes[name] = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.root,
                preexec_fn=_die_with_parent,
            )

    def _start_daemons(self) -> None:
        munge = self.munge_dir
        self._spawn(
            "munged",
            [
                which("munged"),
                "--foreground",
                f"--socket={self.munge_socket}",
                f"--key-file={munge / 'munge.key'}",
                f"--log-file={munge / 'log' / 'munged.log'}",
                f"--pid-file={munge / 'run' / 'munged.pid'}",
                f"--seed-file={munge / 'lib' / 'munged.seed'}",
            ],
        )
        self._wait_for(lambda: self.munge_socket.exists(), "munged's socket")
        self._spawn("slurmctld", [which("slurmctld"), "-D", "-f", str(self.conf)])
        self._spawn("slurmd", [which("slurmd"), "-D", "-f", str(self.conf)])

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            code = process.poll()
            if code is not None:
                raise SlurmError(f"{name} exited ({code}) while the cluster was starting")

    def _wait_for(self, ready, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            self._check_alive()
            if ready():
                return
            if time.monotonic() > deadline:
                raise SlurmError(f"{what} not ready after {self.start_timeout:.0f} s")
            time.sleep(0.05)

    def _wait_idle(self) -> None:
        def idle() -> bool:
            # sinfo retries a controller that doesn't answer for ~10 s: cut it short to see a daemon's death.
            try:
                done = subprocess.run(
                    [which("sinfo"), "-h", "-o", "%t"], capture_output=True, text=True, env=self.env, timeout=2
                )
            except subprocess.TimeoutExpired:
                return False
            return done.returncode == 0 and done.stdout.split() == ["idle"]

        self._wait_for(idle, "the node (sinfo -h -o %t says idle)")

    # -- clients -------------------------------------------------------------------------------------------

    def run(self, *args: str, cwd: str | os.PathLike | None = None, timeout: float = 30) -> str:
        """Run a client command (``sbatch``, ``squeue``...) against this cluster; its stdout, or SlurmError."""
        command = [which(args[0]) or args[0], *map(str, args[1:])]
        done = subprocess.run(command, capture_output=True, text=True, env=self.env, cwd=cwd, timeout=timeout)
        if done.returncode != 0:
            raise SlurmError(f"`{' '.join(map(str, args))}` failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def sbatch(self, *args: str, cwd: str | os.PathLike | None = None) -> str:
        """Submit with ``sbatch --parsable ARGS`` (run in ``cwd``, where slurm-*.out land); the job id."""
        return self.run("sbatch", "--parsable", *args, cwd=cwd).strip().split(";")[0]

    def states(self, job_id: str) -> dict[str, str]:
        """``{"ID_K": state}`` for a job or an array's tasks, finished ones included (``squeue -t all``)."""
        out = self.run("squeue", "-h", "-j", job_id, "-t", "all", "-o", "%i %T")
        return dict(line.split(None, 1) for line in out.splitlines() if line.strip())

    def wait(self, job_id: str, timeout: float = 60, interval: float = 0.2) -> dict[str, str]:
        """Poll ``squeue`` until every task of ``job_id`` has finished; their states (SlurmError on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.states(job_id)
            if states and all(state in FINAL_STATES for state in states.values()):
                return states
            if time.monotonic() > deadline:
                raise SlurmError(f"job {job_id} not finished after {timeout:.0f} s: {states}\n{self.logs()}")
            time.sleep(interval)

    def show_job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job -o ID`` as a dict (JobState, ExitCode, Reason...)."""
        fields: dict[str, str] = {}
        key = None
        for token in self.run("scontrol", "show", "job", "-o", job_id).split():
            name, sep, value = token.partition("=")
            if sep and name.replace(":", "").replace("/", "").isalnum():
                key, fields[name] = name, value
            elif key is not None:  # a value with spaces (Command, WorkDir...)
                fields[key] += " " + token
        return fields

    # -- stop ----------------------------------------------------------------------------------------------

    def stop(self, grace: float = 10.0) -> None:
        """Cancel what is left of the jobs, then SIGTERM each daemon by its pid (SIGKILL after ``grace`` s)."""
        if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
            with contextlib.suppress(Exception):
                self.run("scancel", "--user", self.user, timeout=10)
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline:  # let slurmstepd end the tasks before slurmd goes
                    live = self.run("squeue", "-h", "-o", "%T", timeout=10).split()
                    if not live:
                        break
                    time.sleep(0.1)
        for name in ("slurmd", "slurmctld", "munged"):  # munged last: the others authenticate through it
            process = self.processes.pop(name, None)
            if process is None:
                continue
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=grace)
        self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        """What outlives the daemons: slurmstepd (it double-forks away from slurmd) and a job's processes.

        Both carry our SLURM_CONF in their environment (slurmd's, or the submitter's that sbatch hands on),
        and no other process has this cluster's folder in it, so those are the ones SIGKILLed.
        """
        mark = f"SLURM_CONF={self.conf}".encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                if mark in (proc / "environ").read_bytes().split(b"\0"):
                    os.kill(int(proc.name), signal.SIGKILL)
            except (OSError, ValueError):
                continue

    def logs(self, lines: int = 15) -> str:
        """The tails of the daemons' output, for a failure's message.

        In the foreground the daemons write to stderr all that their log files get, and before those are
        open (a bad slurm.conf) only there: ``log/NAME.out`` has it all.
        """
        files = [self.log_dir / f"{name}.out" for name in DAEMONS]
        return "\n".join(_tail(path, lines) for path in files if path.exists() and path.stat().st_size)

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
