"""The multi-source plan: which sources, which pairs of them are linked, with which spec.

A TOML file the linkage unit keeps beside the pair specs::

    format_version = 1
    name = "harmonie"

    [sources.canto]
    duplicate_free = true        # a cohort: at most one record per person
    [sources.snds]
    duplicate_free = false       # SNDS: a person may have a second id

    [[pairs]]
    left = "canto"
    right = "snds"
    spec = "canto_snds.toml"                     # paths are relative to the plan file
    left_file = "encoded/canto_snds.canto.parquet"
    right_file = "encoded/canto_snds.snds.parquet"
    # threshold = 0.5                            # optional: a fixed match probability for this pair

Each pair is linked by the ordinary pairwise engine (:func:`linkage.link.link`) under its own
spec, whose two holders are named as the pair's sources. A source keeps one name (its holder
role) in every spec, and every spec of a plan has the same ``[project] id``: a holder's
linkage ids are a keyed function of the project, its role and its local ids, so the same
record has the same linkage id in each of its encodings, which is how the clustering knows
that the CANTO record linked to SNDS and the CANTO record linked to ESME are one record.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from harmonie.errors import HarmonieError
from harmonie.io import read_settings_text

PLAN_FORMAT_VERSION = 1
MAX_PLAN_BYTES = 1 << 20
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


class PlanError(HarmonieError):
    """The multi-source plan is malformed or does not fit its specs and files."""


@dataclass(frozen=True)
class Source:
    """One data holder of the plan; ``duplicate_free``: at most one of its records per person."""

    name: str
    duplicate_free: bool


@dataclass(frozen=True)
class PairPlan:
    """One pairwise linkage of the plan."""

    left: str
    right: str
    spec: Path
    left_file: Path
    right_file: Path
    threshold: float | None = None

    @property
    def name(self) -> str:
        return f"{self.left}-{self.right}"


@dataclass(frozen=True)
class ClusterSettings:
    """How the clustering resolves what the pairwise links disagree on (:mod:`.clustering`)."""

    check_contradictions: bool = True  # score unlinked plan pairs that end up in one cluster
    contradiction_margin: float = 0.0  # refuse a merge when a direct pair's weight + the edge's < this
    components_only: bool = False      # plain connected components, no constraint (for comparison: Splink's way)


@dataclass(frozen=True)
class MultiSourcePlan:
    name: str
    sources: tuple[Source, ...]
    pairs: tuple[PairPlan, ...]
    clustering: ClusterSettings = ClusterSettings()
    origin: str = "<plan>"

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        raise PlanError(f"{self.origin}: no source {name!r} (it has: {', '.join(s.name for s in self.sources)})")

    def files_of(self, name: str) -> list[Path]:
        """Every encoded file of a source, in pair order."""
        return [pair.left_file if pair.left == name else pair.right_file for pair in self.pairs
                if name in (pair.left, pair.right)]


def _keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PlanError(f"unknown key {unknown[0]!r} in {where} (allowed: {', '.join(sorted(allowed))})")


def parse_plan(text: str, origin: str = "<plan>", base: Path | None = None) -> MultiSourcePlan:
    """Parse and validate plan text; relative paths are taken from ``base``. One line per problem."""
    try:
        content = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{origin} is not valid TOML: {exc}") from None
    base = base or Path(".")
    _keys(content, {"format_version", "name", "sources", "pairs", "clustering"}, origin)
    if content.get("format_version") != PLAN_FORMAT_VERSION:
        raise PlanError(f"{origin}: format_version must be {PLAN_FORMAT_VERSION}")
    name = content.get("name", "harmonie")
    if not isinstance(name, str) or not _NAME.match(name):
        raise PlanError(f"{origin}: name is letters, digits, '_' or '-' (at most 64)")
    raw_sources = content.get("sources")
    if not isinstance(raw_sources, dict) or len(raw_sources) < 2:
        raise PlanError(f"{origin}: [sources.NAME] must declare two sources or more")
    sources = []
    for source_name, table in raw_sources.items():
        where = f"{origin} [sources.{source_name}]"
        if not _NAME.match(source_name):
            raise PlanError(f"{where}: a source name is letters, digits, '_' or '-' (the spec's holder name)")
        if not isinstance(table, dict):
            raise PlanError(f"{where} must be a table")
        _keys(table, {"duplicate_free"}, where)
        if not isinstance(table.get("duplicate_free"), bool):
            raise PlanError(f"{where}: duplicate_free = true (a cohort: one record per person) or false (SNDS)")
        sources.append(Source(source_name, table["duplicate_free"]))
    known = {s.name for s in sources}
    raw_pairs = content.get("pairs")
    if not isinstance(raw_pairs, list) or not raw_pairs:
        raise PlanError(f"{origin}: [[pairs]] must list one pair or more")
    pairs, seen = [], set()
    for i, table in enumerate(raw_pairs):
        where = f"{origin} [[pairs]] #{i + 1}"
        if not isinstance(table, dict):
            raise PlanError(f"{where} must be a table")
        _keys(table, {"left", "right", "spec", "left_file", "right_file", "threshold"}, where)
        for key in ("left", "right", "spec", "left_file", "right_file"):
            if not isinstance(table.get(key), str) or not table[key]:
                raise PlanError(f"{where} needs {key} = \"...\"")
        left, right = table["left"], table["right"]
        for side in (left, right):
            if side not in known:
                raise PlanError(f"{where}: {side!r} is not a source of the plan ({', '.join(sorted(known))})")
        if left == right:
            raise PlanError(f"{where}: a pair links two different sources (a source is not deduplicated here)")
        if frozenset((left, right)) in seen:
            raise PlanError(f"{where}: the pair {left}-{right} is listed twice")
        seen.add(frozenset((left, right)))
        threshold = table.get("threshold")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                      or not 0 < threshold < 1):
            raise PlanError(f"{where}: threshold is a match probability between 0 and 1")
        pairs.append(PairPlan(left, right, base / table["spec"], base / table["left_file"], base / table["right_file"],
                              None if threshold is None else float(threshold)))
    linked = {s for p in pairs for s in (p.left, p.right)}
    if linked != known:
        raise PlanError(f"{origin}: source {sorted(known - linked)[0]!r} is in no pair")
    raw = content.get("clustering", {})
    if not isinstance(raw, dict):
        raise PlanError(f"{origin}: [clustering] must be a table")
    _keys(raw, {"check_contradictions", "contradiction_margin"}, f"{origin} [clustering]")
    check = raw.get("check_contradictions", True)
    margin = raw.get("contradiction_margin", 0.0)
    if not isinstance(check, bool) or isinstance(margin, bool) or not isinstance(margin, (int, float)) \
            or not -100 <= margin <= 100:
        raise PlanError(f"{origin} [clustering]: check_contradictions is true/false, contradiction_margin a "
                        "weight between -100 and 100")
    return MultiSourcePlan(name, tuple(sources), tuple(pairs), ClusterSettings(check, float(margin)), origin)


def load_plan(path: str | Path) -> MultiSourcePlan:
    path = Path(path)
    return parse_plan(read_settings_text(path, "plan file", limit=MAX_PLAN_BYTES, error=PlanError), str(path),
                      base=path.parent)


def check_plan(plan: MultiSourcePlan) -> dict:
    """Before any linking: each pair's spec names its two sources as holders, every spec shares one
    project id, and each encoded file exists, was made under its pair's spec and by the source it is
    listed for (the checks `harmonie link` makes, plus those that keep linkage ids one per record).
    Returns the parsed specs by pair name."""
    from linkage.encoding.encoded_file import check_compatible, check_spec_columns, read_footer
    from linkage.spec import load_spec

    specs, projects = {}, {}
    for pair in plan.pairs:
        spec = load_spec(pair.spec)
        if set(spec.holders) != {pair.left, pair.right}:
            raise PlanError(f"{plan.origin}: the spec of pair {pair.name} ({pair.spec}) has holders "
                            f"{', '.join(sorted(spec.holders))}, not {pair.left} and {pair.right}: name each holder "
                            "of a pair spec as its source")
        projects[pair.name] = spec.project
        footers = {path: read_footer(path) for path in (pair.left_file, pair.right_file)}
        check_compatible(footers[pair.left_file][1], footers[pair.right_file][1])
        for source, path in ((pair.left, pair.left_file), (pair.right, pair.right_file)):
            schema, metadata = footers[path]
            if metadata["spec_hash"] != spec.hash:
                raise PlanError(f"the encoded file {path} was made with another spec than pair {pair.name}'s "
                                f"{pair.spec} (hash {metadata['spec_hash'][:12]}... vs {spec.hash[:12]}...)")
            check_spec_columns(schema, metadata, spec, str(path))
            holder = metadata.get("holder")
            if holder != source:
                raise PlanError(f"{path} was encoded by holder {holder!r}, but the plan lists it as {source}'s "
                                f"file for pair {pair.name}: swap left_file and right_file, or fix the path")
        specs[pair.name] = spec
    if len(set(projects.values())) > 1:
        shown = ", ".join(f"{name}: {project}" for name, project in projects.items())
        raise PlanError(f"{plan.origin}: the pair specs have different [project] ids ({shown}): a holder's linkage "
                        "ids would differ between its encodings; give every spec of the plan one project id")
    return specs
