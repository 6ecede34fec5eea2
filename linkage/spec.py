"""The linkage spec: one TOML file shared by both holders and the linkage unit.

It says which fields are encoded and how (normaliser, encoding and its options), where
each holder finds them (column names may differ per holder), and which comparisons,
blocking passes and model settings the linkage unit may use. Its *hash* (SHA-256 of its
canonical content) is written into every encoded file, so the linkage unit can refuse
files encoded under different specs. Unknown keys are errors, not silently ignored.

Example specs for the three scenarios ship with the package: ``harmonie spec example
direct|names|indirect``.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from harmonie.errors import HarmonieError
from harmonie.io import read_settings_text
from linkage import encoded_columns as columns_of
from privacy.bloom import BloomSettings

SPEC_FORMAT_VERSION = 1
EXAMPLES = ("direct", "names", "indirect")

# normaliser -> (number of input columns, default column names, kind of value produced)
NORMALISERS: dict[str, tuple[int, tuple[str, ...], str]] = {
    "sex": (1, ("sex",), "text"),
    "date": (1, ("birth_date",), "date"),
    "nir": (1, ("nir",), "text"),
    "foin": (3, ("nir", "birth_date", "sex"), "text"),
    "surname": (1, ("birth_name",), "text"),
    "birth_name": (2, ("birth_name", "use_name"), "text"),
    "use_name": (1, ("use_name",), "text"),
    "first_name": (1, ("first_names",), "text"),
    "given_names": (1, ("first_names",), "text"),
    "commune": (1, ("commune_code",), "text"),
    "departement": (1, ("commune_code",), "text"),
    "postcode_departement": (1, ("postcode",), "text"),
    "text": (1, (), "text"),
}
ENCODINGS = {"token", "pseudonym", "date", "bloom", "events"}
DATE_PARTS = ("exact", "year_month", "year")
COMPARISON_KINDS = {"dice", "token", "date", "events"}


class SpecError(HarmonieError):
    """The spec file is invalid; the message names the offending entry."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    encoding: str
    normalise: str | None = None
    columns: tuple[str, ...] = ()
    parts: tuple[str, ...] = DATE_PARTS       # date: which tokens
    swap: bool = True                         # date: also a token of the day/month-swapped date
    tolerance_days: int = 0                   # date, events: tokens of nearby days
    tolerance_holder: str | None = None       # events: which holder emits the nearby-day tokens (None: both)
    wide_tolerance_days: int = 0              # events: also tokens of the days beyond tolerance_days up to
                                              # this many, for levels of their own in its comparison (0: none)
    establishment_groups: bool = False        # events: with a FINESS map at encoding, also tokens of
                                              # (establishment group, day), for levels of their own
    salt: str | None = None                   # bloom: field whose value salts the q-grams
    bloom: BloomSettings | None = None
    key: str = ""                             # subkey name; fields compared with each other share one

    @property
    def key_name(self) -> str:
        return self.key or self.name


@dataclass(frozen=True)
class EventSource:
    id_column: str
    finess: str = "finess"
    date: str = "admission_date"


@dataclass(frozen=True)
class HolderSpec:
    role: str
    id_column: str
    columns: dict[str, str] = field(default_factory=dict)  # canonical column -> this holder's column
    events: EventSource | None = None

    def column(self, canonical: str) -> str:
        return self.columns.get(canonical, canonical)


DICE_THRESHOLDS = (0.9, 0.8)
EVENT_LEVELS = (3, 2, 1)
# events comparisons: the counts of events shared only through a wider match (wide tolerance,
# establishment group) that split the 'none shared' level: 2 or more, 1
EXTRA_EVENT_LEVELS = (2, 1)


@dataclass(frozen=True, kw_only=True)
class ComparisonSpec:
    """One ``[[comparisons]]`` entry: which field, how its agreement is graded into levels."""

    field: str
    kind: str                                  # dice, token, date or events
    label: str = ""                            # the name charts and model.json show (default: the field)
    thresholds: tuple[float, ...] = ()         # dice: decreasing Dice cut-offs, one level each
    coarser: tuple[str, ...] = ()              # token: coarser fields for the next levels (commune, departement)
                                               # dice: further filters compared with it (birth and use name)
    event_levels: tuple[int, ...] = EVENT_LEVELS  # events: decreasing numbers of shared events, one level each
    term_frequency: bool = False               # token, dice: weight agreement on a rare value more
    swapped_with: str = ""                     # dice: a field that, crossed both ways, reveals swapped names
    contradicted_by: tuple[str, ...] = ()      # token: columns whose disagreement makes an agreement a level
                                               # of its own (a NIR filed with another birth month or sex)

    @property
    def name(self) -> str:
        return self.label or self.field


@dataclass(frozen=True, kw_only=True)
class BlockingPass:
    """One ``[[blocking]]`` pass; its kind is its class (:class:`KeysPass`, :class:`EventsPass`, :class:`LshPass`)."""

    name: str
    max_block_size: int = 250_000  # left x right pairs above which a block (one key value) is skipped
    leave_out: tuple[str, ...] = ()  # fields its non-matches agree on more than random pairs (EM leaves them out)
    keys: tuple[str, ...] = ()     # token columns that must be equal (keys pass; lsh pass: within equal keys)

    @property
    def fields(self) -> set[str]:
        """The spec fields the pass forces to agree."""
        return {columns_of.field_of(column) for column in self.keys}


@dataclass(frozen=True, kw_only=True)
class KeysPass(BlockingPass):
    """Pairs equal on every column of ``keys`` (all present)."""


@dataclass(frozen=True, kw_only=True)
class EventsPass(BlockingPass):
    """Pairs sharing at least one care-event token (exact, or a tolerance token) of ``events``."""

    events: str

    @property
    def fields(self) -> set[str]:
        return super().fields | {self.events}


@dataclass(frozen=True, kw_only=True)
class LshPass(BlockingPass):
    """Pairs whose Bloom filters of ``lsh`` agree on ``rows`` keyed-random bits in any of ``bands`` bands."""

    lsh: str
    bands: int = 24
    rows: int = 20

    @property
    def fields(self) -> set[str]:
        return super().fields | {self.lsh}


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """``[model]``: how the linkage unit estimates and applies the Fellegi-Sunter model."""

    # u comes from random pairs. 200,000 (the old default) left levels with a few dozen hits (same
    # birth date, shared stays) to sampling noise: records are ordered by linkage id, so the same
    # positions held other people under another key, and at 193,000 x 3,000,000 recall moved from
    # 0.924 to 0.958 between two keys. Five million pairs make the weights, and so the links,
    # stable across keys (benchmarks/RESULTS.md).
    u_sample_pairs: int = 5_000_000
    em_max_iterations: int = 200
    em_tolerance: float = 1e-6
    # passes proposing more pairs per left record are mostly non-matches: EM does not train on them
    em_max_pairs_per_record: float = 500.0
    threshold: float | None = None          # match probability for a link; None: the one of max expected F1
    grey_zone: tuple[float, float] = (0.1, 0.9)
    seed: int = 0
    # the share of left records known to have a match in the right file (a cohort treated in France,
    # in SNDS: close to 1). EM can only estimate the share with a plausible candidate, which leaves out
    # the matches that left no evidence; when given, this replaces it in the estimate of recall.
    expected_match_share: float | None = None


@dataclass(frozen=True)
class Spec:
    name: str
    description: str
    project: str
    holders: dict[str, HolderSpec]
    fields: tuple[FieldSpec, ...]
    comparisons: tuple[ComparisonSpec, ...]
    blocking: tuple[BlockingPass, ...]
    model: ModelSettings
    content: dict = field(repr=False, compare=False, default_factory=dict)

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of the spec's content (formatting and comments ignored)."""
        canonical = json.dumps(self.content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise SpecError(f"the spec has no field {name!r}")

    def holder(self, role: str) -> HolderSpec:
        if role not in self.holders:
            raise SpecError(f"the spec has no holder {role!r} (it has: {', '.join(self.holders)})")
        return self.holders[role]

    def encoded_columns(self, role: str | None = None, *, groups: bool = False) -> list[str]:
        """The columns an encoded file of this spec holds besides ``linkage_id`` (``groups``: when
        encoded with a FINESS map, the establishment-group tokens of fields that ask for them)."""
        columns = []
        for f in self.fields:
            if f.encoding == "date":
                columns += [columns_of.date_part(f.name, p) for p in f.parts]
                if f.swap:
                    columns.append(columns_of.swapped(f.name))
                if f.tolerance_days:
                    columns.append(columns_of.near(f.name))
            elif f.encoding == "events":
                columns.append(f.name)
                tolerance_side = f.tolerance_holder in (None, role) or role is None
                if f.tolerance_days and tolerance_side:
                    columns.append(columns_of.near(f.name))
                if f.wide_tolerance_days and tolerance_side:
                    columns.append(columns_of.wide(f.name))
                if f.establishment_groups and groups:
                    columns.append(columns_of.group(f.name))
                    if f.tolerance_days and tolerance_side:
                        columns.append(columns_of.group_near(f.name))
            else:
                columns.append(f.name)
        return columns


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SpecError(f"unknown key {unknown[0]!r} in {where} (allowed: {', '.join(sorted(allowed))})")


def _require(table: dict, key: str, kind: type, where: str):
    if key not in table:
        raise SpecError(f"{where} needs {key!r}")
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SpecError(f"{key!r} in {where} must be a {kind.__name__}")
    return value


def _bloom_settings(table: dict, where: str, base: BloomSettings | None = None) -> BloomSettings:
    allowed = {"bits", "qgram", "hashes", "balance", "xor_fold"}
    _check_keys(table, allowed, where)
    values = dict(base.__dict__) if base else {}
    for key in allowed & set(table):
        expected = bool if key in ("balance", "xor_fold") else int
        if not isinstance(table[key], expected) or (expected is int and isinstance(table[key], bool)):
            raise SpecError(f"{key!r} in {where} must be a {expected.__name__}")
        values[key] = table[key]
    return BloomSettings(**values).validate()


_FIELD_KEYS = {"name", "encoding", "normalise", "columns", "parts", "swap", "tolerance_days", "tolerance_holder",
               "salt", "bits", "qgram", "hashes", "balance", "xor_fold", "key", "wide_tolerance_days",
               "establishment_groups"}


def _parse_field(table: dict, index: int, bloom_defaults: BloomSettings, holders: set[str]) -> FieldSpec:
    where = f"[[fields]] #{index + 1}"
    if not isinstance(table, dict):
        raise SpecError(f"{where} must be a table")
    name = _require(table, "name", str, where)
    where = f"field {name!r}"
    _check_keys(table, _FIELD_KEYS, where)
    if not name.isidentifier() or "__" in name:
        raise SpecError(f"{where}: names are identifiers without '__'")
    encoding = _require(table, "encoding", str, where)
    if encoding not in ENCODINGS:
        raise SpecError(f"{where}: encoding must be one of {', '.join(sorted(ENCODINGS))}")
    normalise = table.get("normalise")
    columns: tuple[str, ...] = ()
    if encoding == "events":
        if normalise is not None or "columns" in table:
            raise SpecError(f"{where}: events come from the holder's events table, not from columns")
    else:
        if normalise not in NORMALISERS:
            raise SpecError(f"{where}: normalise must be one of {', '.join(sorted(NORMALISERS))}")
        arity, default_columns, produces = NORMALISERS[normalise]
        columns = tuple(table.get("columns", default_columns))
        if len(columns) != arity or not all(isinstance(c, str) and c for c in columns):
            raise SpecError(f"{where}: normaliser {normalise!r} takes {arity} column name(s)")
        if (encoding == "date") != (produces == "date"):
            raise SpecError(f"{where}: encoding 'date' goes with normaliser 'date' and only with it")
    parts = tuple(table.get("parts", DATE_PARTS))
    if not parts or not set(parts) <= set(DATE_PARTS):
        raise SpecError(f"{where}: parts must be among {', '.join(DATE_PARTS)}")
    tolerance = table.get("tolerance_days", 1 if encoding == "events" else 0)
    if not isinstance(tolerance, int) or isinstance(tolerance, bool) or not 0 <= tolerance <= 30:
        raise SpecError(f"{where}: tolerance_days must be an integer between 0 and 30")
    tolerance_holder = table.get("tolerance_holder")
    if tolerance_holder is not None and tolerance_holder not in holders:
        raise SpecError(f"{where}: tolerance_holder must name a holder ({', '.join(sorted(holders))})")
    if encoding != "events" and ({"wide_tolerance_days", "establishment_groups"} & set(table)):
        raise SpecError(f"{where}: 'wide_tolerance_days' and 'establishment_groups' apply to events fields only")
    wide = table.get("wide_tolerance_days", FieldSpec.wide_tolerance_days)
    if not isinstance(wide, int) or isinstance(wide, bool) or not (wide == 0 or tolerance < wide <= 30):
        raise SpecError(f"{where}: wide_tolerance_days is 0 (none) or a whole number of days above "
                        f"tolerance_days ({tolerance}) and at most 30")
    groups = table.get("establishment_groups", FieldSpec.establishment_groups)
    if not isinstance(groups, bool):
        raise SpecError(f"{where}: establishment_groups is true or false")
    bloom_keys = {"bits", "qgram", "hashes", "balance", "xor_fold"} & set(table)
    if encoding != "bloom" and (bloom_keys or "salt" in table):
        raise SpecError(f"{where}: {sorted(bloom_keys | ({'salt'} & set(table)))[0]!r} applies to bloom fields only")
    if encoding != "date" and ("parts" in table or "swap" in table):
        raise SpecError(f"{where}: 'parts' and 'swap' apply to date fields only")
    bloom = (_bloom_settings({k: table[k] for k in bloom_keys}, where, bloom_defaults)
             if encoding == "bloom" else None)
    return FieldSpec(name=name, encoding=encoding, normalise=normalise, columns=columns, parts=parts,
                     swap=bool(table.get("swap", True)), tolerance_days=tolerance, tolerance_holder=tolerance_holder,
                     wide_tolerance_days=wide, establishment_groups=groups,
                     salt=table.get("salt"), bloom=bloom, key=str(table.get("key", "")))


def _parse_holder(role: str, table: dict) -> HolderSpec:
    where = f"[holders.{role}]"
    if not isinstance(table, dict):
        raise SpecError(f"{where} must be a table")
    _check_keys(table, {"id", "columns", "events"}, where)
    id_column = _require(table, "id", str, where)
    columns = table.get("columns", {})
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise SpecError(f"{where}.columns maps column names to column names")
    events = None
    if "events" in table:
        ev = table["events"]
        if not isinstance(ev, dict):
            raise SpecError(f"{where}.events must be a table")
        _check_keys(ev, {"id", "finess", "date"}, f"{where}.events")
        events = EventSource(id_column=ev.get("id", id_column), finess=ev.get("finess", "finess"),
                             date=ev.get("date", "admission_date"))
    return HolderSpec(role=role, id_column=id_column, columns=dict(columns), events=events)


def _parse_comparison(comparison, index: int, spec_fields: dict[str, FieldSpec]) -> ComparisonSpec:
    where = f"[[comparisons]] #{index + 1}"
    if not isinstance(comparison, dict):
        raise SpecError(f"{where} must be a table")
    _check_keys(comparison, {"field", "kind", "thresholds", "with", "levels", "label", "term_frequency",
                             "swapped_with", "contradicted_by"}, where)
    name = _require(comparison, "field", str, where)
    kind = _require(comparison, "kind", str, where)
    if kind not in COMPARISON_KINDS:
        raise SpecError(f"{where}: kind must be one of {', '.join(sorted(COMPARISON_KINDS))}")
    swapped = [comparison["swapped_with"]] if "swapped_with" in comparison else []
    if swapped and kind != "dice":
        raise SpecError(f"{where}: swapped_with applies to dice comparisons")
    coarser = comparison.get("with", [])
    if not isinstance(coarser, list):
        raise SpecError(f"{where}: 'with' is a list of field names")
    for ref in [name, *coarser, *swapped]:
        if not isinstance(ref, str) or ref not in spec_fields:
            raise SpecError(f"{where} refers to unknown field {ref!r}")
        if kind == "dice" and spec_fields[ref].key_name != spec_fields[name].key_name:
            raise SpecError(f"{where}: {ref!r} and {name!r} are compared with each other, so they must "
                            f"share a key (set key = \"...\" on both)")
    if kind == "dice" and spec_fields[name].encoding != "bloom":
        raise SpecError(f"{where}: dice comparisons need a bloom field")
    thresholds = comparison.get("thresholds", list(DICE_THRESHOLDS) if kind == "dice" else [])
    if not isinstance(thresholds, list) or not thresholds and kind == "dice" or \
            not all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t <= 1 for t in thresholds) or \
            list(thresholds) != sorted(thresholds, reverse=True):
        raise SpecError(f"{where}: thresholds are decreasing numbers in (0, 1]")
    levels = comparison.get("levels", list(EVENT_LEVELS))
    if not isinstance(levels, list) or not levels or len(set(levels)) != len(levels) or \
            not all(isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= 1000 for k in levels):
        raise SpecError(f"{where}: levels are distinct whole numbers of shared events between 1 and 1000")
    label = comparison.get("label", name)
    term_frequency = comparison.get("term_frequency", False)
    if not isinstance(label, str) or not label or not isinstance(term_frequency, bool):
        raise SpecError(f"{where}: label is a name and term_frequency true or false")
    if term_frequency and kind not in ("token", "dice"):
        raise SpecError(f"{where}: term_frequency applies to token and dice comparisons")
    against = comparison.get("contradicted_by", [])
    if against and (kind != "token" or coarser):
        raise SpecError(f"{where}: contradicted_by applies to token comparisons without 'with'")
    if not isinstance(against, list) or not all(
            isinstance(c, str) and columns_of.field_of(c) in spec_fields
            and spec_fields[columns_of.field_of(c)].encoding in ("token", "pseudonym", "date") for c in against):
        raise SpecError(f"{where}: contradicted_by lists token columns of the spec (e.g. birth_date__ym, sex)")
    return ComparisonSpec(field=name, kind=kind, label=label, thresholds=tuple(float(t) for t in thresholds),
                          coarser=tuple(coarser), event_levels=tuple(sorted(levels, reverse=True)),
                          term_frequency=term_frequency, swapped_with=swapped[0] if swapped else "",
                          contradicted_by=tuple(against))


_PASS_KINDS = {"keys": ("token", "pseudonym", "date"), "events": ("events",), "lsh": ("bloom",)}


def _parse_blocking_pass(block, index: int, spec_fields: dict[str, FieldSpec]) -> BlockingPass:
    where = f"[[blocking]] #{index + 1}"
    if not isinstance(block, dict):
        raise SpecError(f"{where} must be a table")
    _check_keys(block, {"name", "keys", "events", "lsh", "bands", "rows", "max_block_size", "leave_out"}, where)
    leave_out = block.get("leave_out", [])
    if not isinstance(leave_out, list):
        raise SpecError(f"{where}: leave_out is a list of field names")
    for ref in leave_out:
        if not isinstance(ref, str) or ref not in spec_fields:
            raise SpecError(f"{where}: leave_out refers to unknown field {ref!r}")
    name = _require(block, "name", str, where)
    modes = [m for m in ("events", "lsh") if m in block] or (["keys"] if "keys" in block else [])
    if len(modes) != 1 or ("events" in block and "keys" in block):
        raise SpecError(f"{where}: give exactly one of 'keys', 'events' or 'lsh' (lsh may add 'keys')")
    mode = modes[0]
    keys = block.get("keys", [])
    if not isinstance(keys, list) or (mode == "keys" and not keys):
        raise SpecError(f"{where}: keys is a non-empty list of encoded columns")
    own = [block[mode]] if mode != "keys" else []
    for ref in [*own, *keys]:
        if not isinstance(ref, str) or columns_of.field_of(ref) not in spec_fields:
            raise SpecError(f"{where} refers to unknown field {ref!r}")
    for kind, refs in ((mode, own), ("keys", keys)):
        allowed = _PASS_KINDS[kind]
        for ref in refs:
            if spec_fields[columns_of.field_of(ref)].encoding not in allowed:
                raise SpecError(f"{where}: {kind!r} needs {' or '.join(allowed)} fields, not {ref!r}")
    max_block_size = block.get("max_block_size", BlockingPass.max_block_size)
    if not isinstance(max_block_size, int) or isinstance(max_block_size, bool) or \
            not 1 <= max_block_size <= MAX_BLOCK_PAIRS_LIMIT:
        raise SpecError(f"{where}: max_block_size is a number of pairs between 1 and {MAX_BLOCK_PAIRS_LIMIT:,}")
    common = {"name": name, "max_block_size": max_block_size, "leave_out": tuple(leave_out), "keys": tuple(keys)}
    if mode == "events":
        return EventsPass(events=block["events"], **common)
    if mode == "lsh":
        rows, bands = block.get("rows", LshPass.rows), block.get("bands", LshPass.bands)
        if not (isinstance(rows, int) and not isinstance(rows, bool) and 1 <= rows <= 64
                and isinstance(bands, int) and not isinstance(bands, bool) and 1 <= bands <= 256):
            raise SpecError(f"{where}: lsh needs 1 <= rows <= 64 and 1 <= bands <= 256")
        return LshPass(lsh=block["lsh"], bands=bands, rows=rows, **common)
    return KeysPass(**common)


MAX_BLOCK_PAIRS_LIMIT = 10**9
MAX_BLOCKING_PASSES = 32  # the candidates' pass bit mask is a uint32
MAX_U_SAMPLE_PAIRS = 50_000_000  # ~1 GB of levels; more adds nothing the u estimate can use


def _number(model: dict, key: str, kind: type, low, high, text: str):
    value = model.get(key, getattr(ModelSettings, key))
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or \
            not low <= value <= high or value != value:
        raise SpecError(f"[model] {key} {text}")
    return kind(value)


def _parse_model(model) -> ModelSettings:
    if not isinstance(model, dict):
        raise SpecError("[model] must be a table")
    _check_keys(model, {"u_sample_pairs", "em_max_iterations", "em_tolerance", "em_max_pairs_per_record",
                        "threshold", "grey_zone", "seed", "expected_match_share"}, "[model]")
    share = model.get("expected_match_share")
    if share is not None and not (isinstance(share, (int, float)) and not isinstance(share, bool) and 0 < share <= 1):
        raise SpecError("[model] expected_match_share is a share of left records between 0 and 1")
    threshold = model.get("threshold")
    if threshold is not None and not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
                                      and 0 < threshold < 1):
        raise SpecError("[model] threshold is a match probability between 0 and 1")
    grey = model.get("grey_zone", list(ModelSettings.grey_zone))
    if not (isinstance(grey, list) and len(grey) == 2 and all(isinstance(g, (int, float)) and not isinstance(g, bool)
                                                              for g in grey) and 0 <= grey[0] <= grey[1] <= 1):
        raise SpecError("[model] grey_zone is [low, high] match probabilities")
    return ModelSettings(
        u_sample_pairs=_number(model, "u_sample_pairs", int, 1_000, MAX_U_SAMPLE_PAIRS,
                               f"is a whole number of random pairs between 1,000 and {MAX_U_SAMPLE_PAIRS:,}"),
        em_max_iterations=_number(model, "em_max_iterations", int, 1, 100_000,
                                  "is a whole number of iterations between 1 and 100,000"),
        em_tolerance=_number(model, "em_tolerance", float, 1e-15, 0.1, "is a number between 1e-15 and 0.1"),
        em_max_pairs_per_record=_number(model, "em_max_pairs_per_record", float, 1, 1e9,
                                        "is a number of pairs per record between 1 and 1e9"),
        threshold=None if threshold is None else float(threshold),
        grey_zone=(grey[0], grey[1]),
        seed=_number(model, "seed", int, 0, 2**32 - 1, "is a whole number between 0 and 2^32 - 1"),
        expected_match_share=None if share is None else float(share))


MAX_SPEC_BYTES = 1 << 20       # a spec is a few kilobytes; a megabyte is a mistake or an attack
MAX_SPEC_DEPTH = 8             # [holders.cohort.columns] is 3 deep; lists of tables add one
MAX_FIELDS = MAX_COMPARISONS = 64
MAX_NAME_LENGTH = 200


def _depth(value, limit: int) -> int:
    """Nesting depth of parsed TOML, stopping at ``limit + 1`` (a loop, so no recursion to exhaust)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _long_strings(value, limit: int) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and len(item) > limit:
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_spec(text: str, origin: str = "<spec>") -> Spec:
    """Parse and validate spec text; any problem is a one-line :class:`SpecError` naming ``origin``.

    Bounded before anything else: at most 1 MiB of text, nesting at most 8 deep, names and strings
    of at most 200 characters, at most 64 fields, 64 comparisons and 32 blocking passes.
    """
    try:
        return _parse_spec(text, origin)
    except SpecError as exc:
        message = str(exc)
        if message.startswith(origin):
            raise
        raise SpecError(f"{origin}: {message}") from None


def _parse_spec(text: str, origin: str) -> Spec:
    if not isinstance(text, str):
        raise SpecError(f"{origin} is not text")
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"{origin} is over {MAX_SPEC_BYTES >> 20} MiB: a spec is a few kilobytes")
    try:
        content = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{origin} is not valid TOML: {exc}") from None
    except RecursionError:
        raise SpecError(f"{origin} nests arrays or tables too deeply (at most {MAX_SPEC_DEPTH} levels)") from None
    if _depth(content, MAX_SPEC_DEPTH) > MAX_SPEC_DEPTH:
        raise SpecError(f"{origin} nests arrays or tables too deeply (at most {MAX_SPEC_DEPTH} levels)")
    if _long_strings(content, MAX_NAME_LENGTH * 20):
        raise SpecError(f"{origin} holds a key or string longer than {MAX_NAME_LENGTH * 20:,} characters")
    _check_keys(content, {"format_version", "name", "description", "project", "holders", "bloom", "fields",
                          "comparisons", "blocking", "model"}, origin)
    version = content.get("format_version")
    if version != SPEC_FORMAT_VERSION:
        raise SpecError(f"{origin}: format_version must be {SPEC_FORMAT_VERSION} (got {version!r})")
    name = _require(content, "name", str, origin)
    project = content.get("project", {})
    if not isinstance(project, dict):
        raise SpecError(f"{origin}: [project] must be a table")
    _check_keys(project, {"id"}, "[project]")
    project_id = _require(project, "id", str, "[project]")
    if not project_id.strip() or project_id != project_id.strip() or len(project_id) > MAX_NAME_LENGTH or \
            not project_id.isprintable():
        raise SpecError(f"{origin}: [project] id must be a non-empty name (at most {MAX_NAME_LENGTH} printable "
                        "characters, no leading or trailing space): each project's keys derive from it")
    holders_table = content.get("holders", {})
    if not isinstance(holders_table, dict) or len(holders_table) != 2:
        raise SpecError(f"{origin}: [holders] must define exactly two holders")
    holders = {role: _parse_holder(role, table) for role, table in holders_table.items()}
    bloom_defaults = _bloom_settings(content.get("bloom", {}), "[bloom]")
    raw_fields = content.get("fields", [])
    if not isinstance(raw_fields, list) or not raw_fields:
        raise SpecError(f"{origin}: at least one [[fields]] entry is needed")
    if len(raw_fields) > MAX_FIELDS:
        raise SpecError(f"{origin}: at most {MAX_FIELDS} [[fields]] entries")
    fields = tuple(_parse_field(t, i, bloom_defaults, set(holders)) for i, t in enumerate(raw_fields))
    by_name = {f.name: f for f in fields}
    if len(by_name) != len(fields):
        raise SpecError(f"{origin}: field names must be unique")
    for f in fields:
        if f.salt is not None and f.salt not in by_name:
            raise SpecError(f"field {f.name!r}: salt refers to unknown field {f.salt!r}")
        if f.salt is not None and by_name[f.salt].encoding in ("bloom", "events"):
            raise SpecError(f"field {f.name!r}: salt must be a token, pseudonym or date field")
        if f.encoding == "events":
            missing = [role for role, h in holders.items() if h.events is None]
            if missing:
                raise SpecError(f"field {f.name!r}: holder {missing[0]!r} declares no events table")
    for f in fields:
        sharing = [g for g in fields if g.key_name == f.key_name]
        if any((g.encoding, g.bloom, g.salt) != (f.encoding, f.bloom, f.salt) for g in sharing):
            raise SpecError(f"fields sharing key {f.key_name!r} must have the same encoding, settings and salt")
    raw_comparisons, raw_blocking = content.get("comparisons", []), content.get("blocking", [])
    if not isinstance(raw_comparisons, list) or not isinstance(raw_blocking, list):
        raise SpecError(f"{origin}: [[comparisons]] and [[blocking]] are arrays of tables")
    if len(raw_comparisons) > MAX_COMPARISONS or len(raw_blocking) > MAX_BLOCKING_PASSES:
        raise SpecError(f"{origin}: at most {MAX_COMPARISONS} comparisons and {MAX_BLOCKING_PASSES} blocking passes")
    comparisons = tuple(_parse_comparison(c, i, by_name) for i, c in enumerate(raw_comparisons))
    blocking = tuple(_parse_blocking_pass(b, i, by_name) for i, b in enumerate(raw_blocking))
    if len(blocking) > MAX_BLOCKING_PASSES:
        raise SpecError(f"{origin}: at most {MAX_BLOCKING_PASSES} blocking passes")
    model = _parse_model(content.get("model", {}))
    return Spec(name=name, description=content.get("description", ""), project=project_id, holders=holders,
                fields=fields, comparisons=comparisons, blocking=blocking, model=model, content=content)


def load_spec(path: str | Path) -> Spec:
    return parse_spec(read_settings_text(path, "spec file", limit=MAX_SPEC_BYTES, error=SpecError), str(path))


def example_spec_text(name: str) -> str:
    if name not in EXAMPLES:
        raise SpecError(f"no example spec {name!r}; choose one of {', '.join(EXAMPLES)}")
    return resources.files("linkage").joinpath("specs", f"{name}.toml").read_text(encoding="utf-8")


def example_spec(name: str) -> Spec:
    return parse_spec(example_spec_text(name), f"example spec {name!r}")


GIVEN_NAMES_BLOCK = ("# --- given names (opt-in)", "# --- end of given names")


def with_given_names(text: str) -> str:
    """The names example spec with its commented opt-in given-name block switched on (fields,
    comparison, LSH pass) and swap detection added to the birth-name comparison.

    Not the default: the attack self-audit names the commonest given names of 7-11% of
    records however their filters are hardened (see the comments in the spec).
    """
    try:
        start, end = (text.index(marker) for marker in GIVEN_NAMES_BLOCK)
    except ValueError:
        raise SpecError("this spec has no commented given-name block to switch on") from None
    block = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                      for line in text[start:end].splitlines()[1:])
    text = text[:start] + block + "\n" + text[end:]
    swap = 'swapped_with = "first_name" # surname and given name written in each other\'s place'
    return re.sub(r'(?m)^(with = \["use_name"\].*)$', lambda m: m.group(1) + "\n" + swap, text, count=1)
