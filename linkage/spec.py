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


@dataclass(frozen=True)
class Spec:
    name: str
    description: str
    project: str
    holders: dict[str, HolderSpec]
    fields: tuple[FieldSpec, ...]
    comparisons: tuple[dict, ...]
    blocking: tuple[dict, ...]
    model: dict
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

    def encoded_columns(self, role: str | None = None) -> list[str]:
        """The columns an encoded file of this spec holds besides ``linkage_id``."""
        columns = []
        for f in self.fields:
            if f.encoding == "date":
                suffix = {"exact": "", "year_month": "__ym", "year": "__y"}
                columns += [f.name + suffix[p] for p in f.parts]
                if f.swap:
                    columns.append(f.name + "__swap")
                if f.tolerance_days:
                    columns.append(f.name + "__near")
            elif f.encoding == "events":
                columns.append(f.name)
                if f.tolerance_days and (f.tolerance_holder in (None, role) or role is None):
                    columns.append(f.name + "__near")
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
               "salt", "bits", "qgram", "hashes", "balance", "xor_fold", "key"}


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
    bloom_keys = {"bits", "qgram", "hashes", "balance", "xor_fold"} & set(table)
    if encoding != "bloom" and (bloom_keys or "salt" in table):
        raise SpecError(f"{where}: {sorted(bloom_keys | ({'salt'} & set(table)))[0]!r} applies to bloom fields only")
    if encoding != "date" and ("parts" in table or "swap" in table):
        raise SpecError(f"{where}: 'parts' and 'swap' apply to date fields only")
    bloom = (_bloom_settings({k: table[k] for k in bloom_keys}, where, bloom_defaults)
             if encoding == "bloom" else None)
    return FieldSpec(name=name, encoding=encoding, normalise=normalise, columns=columns, parts=parts,
                     swap=bool(table.get("swap", True)), tolerance_days=tolerance, tolerance_holder=tolerance_holder,
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


def _check_linkage_sections(spec_fields: dict[str, FieldSpec], comparisons, blocking, model) -> None:
    for i, comparison in enumerate(comparisons):
        where = f"[[comparisons]] #{i + 1}"
        if not isinstance(comparison, dict):
            raise SpecError(f"{where} must be a table")
        _check_keys(comparison, {"field", "kind", "thresholds", "with", "levels", "label", "term_frequency",
                                 "swapped_with"}, where)
        name = _require(comparison, "field", str, where)
        kind = _require(comparison, "kind", str, where)
        if kind not in COMPARISON_KINDS:
            raise SpecError(f"{where}: kind must be one of {', '.join(sorted(COMPARISON_KINDS))}")
        swapped = [comparison["swapped_with"]] if "swapped_with" in comparison else []
        if swapped and kind != "dice":
            raise SpecError(f"{where}: swapped_with applies to dice comparisons")
        for ref in [name, *comparison.get("with", []), *swapped]:
            if ref not in spec_fields:
                raise SpecError(f"{where} refers to unknown field {ref!r}")
            if kind == "dice" and spec_fields[ref].key_name != spec_fields[name].key_name:
                raise SpecError(f"{where}: {ref!r} and {name!r} are compared with each other, so they must "
                                f"share a key (set key = \"...\" on both)")
        if kind == "dice" and spec_fields[name].encoding != "bloom":
            raise SpecError(f"{where}: dice comparisons need a bloom field")
        thresholds = comparison.get("thresholds", [])
        if not all(isinstance(t, (int, float)) and 0 < t <= 1 for t in thresholds) or \
                list(thresholds) != sorted(thresholds, reverse=True):
            raise SpecError(f"{where}: thresholds are decreasing numbers in (0, 1]")
    for i, block in enumerate(blocking):
        where = f"[[blocking]] #{i + 1}"
        if not isinstance(block, dict):
            raise SpecError(f"{where} must be a table")
        _check_keys(block, {"name", "keys", "events", "lsh", "bands", "rows", "max_block_size", "leave_out"}, where)
        for ref in block.get("leave_out", []):
            if ref not in spec_fields:
                raise SpecError(f"{where}: leave_out refers to unknown field {ref!r}")
        _require(block, "name", str, where)
        modes = [m for m in ("events", "lsh") if m in block] or (["keys"] if "keys" in block else [])
        if len(modes) != 1 or ("events" in block and "keys" in block):
            raise SpecError(f"{where}: give exactly one of 'keys', 'events' or 'lsh' (lsh may add 'keys')")
        refs = [block[modes[0]]] if modes[0] != "keys" else []
        for ref in [*refs, *block.get("keys", [])]:
            if not isinstance(ref, str) or ref.split("__")[0] not in spec_fields:
                raise SpecError(f"{where} refers to unknown field {ref!r}")
        if "lsh" in block:
            rows, bands = block.get("rows", 20), block.get("bands", 24)
            if not (isinstance(rows, int) and 1 <= rows <= 64 and isinstance(bands, int) and 1 <= bands <= 256):
                raise SpecError(f"{where}: lsh needs 1 <= rows <= 64 and 1 <= bands <= 256")
        wanted = {"events": ("events",), "lsh": ("bloom",)}
        for mode, fields_of_mode in ((modes[0], refs), ("keys", block.get("keys", []))):
            allowed = wanted.get(mode, ("token", "pseudonym", "date"))
            for ref in fields_of_mode:
                if spec_fields[ref.split("__")[0]].encoding not in allowed:
                    raise SpecError(f"{where}: {mode!r} needs {' or '.join(allowed)} fields, not {ref!r}")
    if not isinstance(model, dict):
        raise SpecError("[model] must be a table")
    _check_keys(model, {"u_sample_pairs", "em_max_iterations", "em_tolerance", "em_max_pairs_per_record",
                        "threshold", "grey_zone", "seed"}, "[model]")
    if "threshold" in model and not (isinstance(model["threshold"], (int, float)) and 0 < model["threshold"] < 1):
        raise SpecError("[model] threshold is a match probability between 0 and 1")
    grey = model.get("grey_zone", [0.1, 0.9])
    if not (isinstance(grey, list) and len(grey) == 2 and all(isinstance(g, (int, float)) for g in grey)
            and 0 <= grey[0] <= grey[1] <= 1):
        raise SpecError("[model] grey_zone is [low, high] match probabilities")


def parse_spec(text: str, origin: str = "<spec>") -> Spec:
    """Parse and validate spec text; any problem is a one-line :class:`SpecError`."""
    try:
        content = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{origin} is not valid TOML: {exc}") from None
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
    holders_table = content.get("holders", {})
    if not isinstance(holders_table, dict) or len(holders_table) != 2:
        raise SpecError(f"{origin}: [holders] must define exactly two holders")
    holders = {role: _parse_holder(role, table) for role, table in holders_table.items()}
    bloom_defaults = _bloom_settings(content.get("bloom", {}), "[bloom]")
    raw_fields = content.get("fields", [])
    if not isinstance(raw_fields, list) or not raw_fields:
        raise SpecError(f"{origin}: at least one [[fields]] entry is needed")
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
    comparisons = tuple(content.get("comparisons", []))
    blocking = tuple(content.get("blocking", []))
    model = content.get("model", {})
    _check_linkage_sections(by_name, comparisons, blocking, model)
    return Spec(name=name, description=content.get("description", ""), project=project_id, holders=holders,
                fields=fields, comparisons=comparisons, blocking=blocking, model=model, content=content)


def load_spec(path: str | Path) -> Spec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"spec file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec file {path}: {exc}") from None
    return parse_spec(text, str(path))


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
