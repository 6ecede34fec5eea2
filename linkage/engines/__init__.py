"""Engines that run the linkage plan (:mod:`linkage.link`).

- ``local``: one process, numpy and numba (:func:`linkage.link.link`), the default;
- ``spark``: the same plan on Apache Spark (:func:`linkage.engines.spark.link_spark`), for
  populations one machine cannot hold. Same inputs, spec and seed give the same links and
  the same model. PySpark is an optional extra (``pip install 'harmonie[spark]'``) and
  needs Java 17 on the driver and executors.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess

from harmonie.errors import HarmonieError

ENGINES = ("local", "spark")
SPARK_EXTRA = "pip install 'harmonie[spark]'"
JAVA_MINIMUM = 17


def java_major_version(java: str) -> int | None:
    """Major version of a ``java`` executable (``java -version`` prints it on stderr)."""
    try:
        text = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2)) if major == 1 and found.group(2) else major  # "1.8" is Java 8


def require_spark() -> None:
    """Raise a one-line :class:`HarmonieError` saying what to install when PySpark or Java is missing."""
    if importlib.util.find_spec("pyspark") is None:
        raise HarmonieError(f"--engine spark needs PySpark, an optional extra: {SPARK_EXTRA} (it also needs Java "
                            f"{JAVA_MINIMUM})")
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # started by spark-submit: the JVM is already there
        return
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home and os.path.exists(os.path.join(home, "bin", "java")) \
        else shutil.which("java")
    if java is None:
        raise HarmonieError(f"--engine spark needs Java {JAVA_MINIMUM} (none on PATH or in JAVA_HOME): install a "
                            f"JDK or JRE {JAVA_MINIMUM}, e.g. apt-get install openjdk-{JAVA_MINIMUM}-jre-headless")
    version = java_major_version(java)
    if version is not None and version < JAVA_MINIMUM:
        raise HarmonieError(f"--engine spark needs Java {JAVA_MINIMUM} or later; {java} is Java {version} "
                            f"(set JAVA_HOME to a Java {JAVA_MINIMUM} install)")


def spark_available() -> tuple[bool, str]:
    """(whether the Spark engine can run here, why not): for tests that skip without it."""
    try:
        require_spark()
    except HarmonieError as exc:
        return False, str(exc)
    return True, ""
