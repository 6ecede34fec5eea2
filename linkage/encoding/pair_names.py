"""Given names in a second round, encoded per candidate pair (holder side).

Given names are not in the shipped specs: a field-level filter of a given name is the
same for every record carrying that name, so the linkage unit can count identical filters
and MARIE (~7% of records) gives herself away (README, threat model). In the second round
the linkage unit asks both holders for the given names of the few candidate pairs it cannot
decide (:mod:`linkage.second_round` writes the *query*: pairs of linkage ids, nothing else),
and each holder encodes, for every queried pair, its own record's given names under a key
of that pair only:

    pair key = HMAC-SHA-256(subkey, left linkage id || right linkage id)

where ``subkey`` is the project's given-name subkey (HKDF from the secret, as every other
field's). Both holders derive the same pair key, so their two filters of one pair compare
(Dice); the linkage unit, without the secret, cannot relate a filter of one pair to a
filter of another: the same name in two pairs sets unrelated bits. Each filter is
*balanced* (filter + complement, permuted by a permutation of that pair's key): exactly
half of its bits are set whatever the name's length, and since no two pairs share a
permutation the halves cannot be re-paired across records (which undoes balancing of
field-level filters). What the linkage unit learns is, per pair, how similar the two
holders' given names are; and, within one holder's answer for one pair, how similar its
first given name is to all its given names joined (whether the person has more than one).

Two values per record, from the normalisers of the names spec's commented given-name
block: ``first_name`` (the first given name) and ``given_names`` (all given names joined),
so a hospital that records only the first given name still meets the SNDS's full list.

The holder checks the query before answering (one-line errors): it must name this spec and
this key, every one of its own linkage ids must be in its crosswalk, no pair twice, and no
more than ``max_pairs_per_record`` (10) pairs per record, no group of more than ``max_group``
(12) records joined by queried pairs, and no more than ``max_record_share`` (half) of its
records. Within a group the linkage unit learns who shares a given name, and a large group
sharing one points at a common name: the caps keep a query to the shape a second round
needs (a cohort record and its namesake candidates), though not to its intent
(benchmarks/RESULTS.md measures what a linkage unit crafting its query within them learns).
The caps apply to one query: a holder asked again should answer the union of the queries
(a linkage unit can split a large query into small ones).
The answer carries the spec hash, the key fingerprint, the holder, the query's hash and
the encoding's parameters; the linkage unit refuses answers that disagree.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harmonie import __version__
from harmonie.errors import HarmonieError
from harmonie.io import write_parquet
from linkage.normalise.apply import normalise_columns
from linkage.spec import Spec
from privacy.bloom import BloomSettings, _positions, qgrams
from privacy.keys import LinkageKey

QUERY_FORMAT = "harmonie-pair-query"
ANSWER_FORMAT = "harmonie-pair-answer"
FORMAT_VERSION = 1
METADATA_KEY = b"harmonie"
#: the values each holder encodes per pair (the names spec's given-name normalisers)
PAIR_FIELDS = ("first_name", "given_names")
#: the canonical input column they read (a holder maps it with ``columns`` in the spec)
GIVEN_NAMES_COLUMN = "first_names"
#: subkey name of the per-pair keys; its own name, so no field-level filter shares positions with them
PAIR_KEY_NAME = "given_names_per_pair"
#: 1024 bits and 90 positions per bigram (the names spec's defaults: about half of the bits for a
#: 6-7 letter name), balanced to 2048 bits with exactly 1024 set; not folded (nothing to fold against)
PAIR_BLOOM = BloomSettings(bits=1024, qgram=2, hashes=90, balance=True, xor_fold=False)
MAX_PAIRS_PER_RECORD = 10
MAX_GROUP = 12
MAX_RECORD_SHARE = 0.5
_LINKAGE_ID = re.compile(r"^[0-9a-f]{20}$")


# --------------------------------------------------------------------------- the per-pair encoding


class PairNameEncoder:
    """Balanced Bloom filters of given names under per-pair keys (see the module docstring)."""

    def __init__(self, key: LinkageKey, project: str, settings: BloomSettings = PAIR_BLOOM):
        self.settings = settings.validate()
        if not settings.balance or settings.xor_fold:
            raise HarmonieError("per-pair filters are balanced and not folded")
        self._subkey = key.subkey(project, PAIR_KEY_NAME, "bloom-pair")

    def pair_key(self, left_id: str, right_id: str) -> bytes:
        return hmac.digest(self._subkey, b"pair\x1f" + left_id.encode("ascii") + b"\x1f"
                           + right_id.encode("ascii"), "sha256")

    def _permutation(self, pair_key: bytes) -> np.ndarray:
        """A permutation of the balanced filter's positions, ordered by 32-bit words of the pair key's
        HMAC stream (ties, about one pair of positions in 2^12 filters, by position)."""
        n = 2 * self.settings.bits
        stream = b"".join(hmac.digest(pair_key, b"perm\x1f" + block.to_bytes(2, "big"), "sha256")
                          for block in range((4 * n + 31) // 32))
        return np.argsort(np.frombuffer(stream[: 4 * n], dtype=">u4"), kind="stable")

    def encode_pair(self, left_id: str, right_id: str, values: list[str | None]) -> list[bytes | None]:
        """One holder's filters of one pair, one per value (None for a missing value)."""
        s = self.settings
        pair_key = self.pair_key(left_id, right_id)
        grams = {g for v in values if v for g in qgrams(v, s.qgram)}
        if not grams:
            return [None] * len(values)
        position = {g: _positions(pair_key, b"q\x1f" + g.encode("utf-8") + b"\x1f", s.hashes, s.bits)
                    for g in sorted(grams)}
        permutation = self._permutation(pair_key)
        out: list[bytes | None] = []
        for value in values:
            if not value:
                out.append(None)
                continue
            bits = np.zeros(s.bits, dtype=np.uint8)
            for g in qgrams(value, s.qgram):
                bits[position[g]] = 1
            balanced = np.concatenate([bits, 1 - bits])[permutation]
            out.append(np.packbits(balanced).tobytes())
        return out


# --------------------------------------------------------------------------- query and answer files


def _pairs_digest(left_ids: list[str], right_ids: list[str]) -> hashlib._Hash:
    digest = hashlib.sha256()
    for a, b in zip(left_ids, right_ids):
        digest.update(f"{a}\t{b}\n".encode("ascii"))
    return digest


@dataclass
class PairQuery:
    """The linkage unit's question to both holders: pairs of linkage ids, sorted by (left, right)."""

    left_ids: list[str]
    right_ids: list[str]
    spec_name: str
    spec_hash: str
    key_fingerprint: str
    left_holder: str
    right_holder: str

    def __len__(self) -> int:
        return len(self.left_ids)

    @property
    def sha256(self) -> str:
        """What both answers must name: the spec, the key, the holders and the pairs."""
        digest = _pairs_digest(self.left_ids, self.right_ids)
        digest.update(json.dumps(self._metadata(), sort_keys=True).encode("utf-8"))
        return digest.hexdigest()

    def _metadata(self) -> dict:
        return {"spec_name": self.spec_name, "spec_hash": self.spec_hash, "key_fingerprint": self.key_fingerprint,
                "left_holder": self.left_holder, "right_holder": self.right_holder}

    def table(self) -> pa.Table:
        return pa.table({"left_id": pa.array(self.left_ids, pa.string()),
                         "right_id": pa.array(self.right_ids, pa.string())})

    def save(self, path: str | Path) -> Path:
        document = {"format": QUERY_FORMAT, "format_version": FORMAT_VERSION, "tool": f"harmonie {__version__}",
                    **self._metadata(), "pairs": len(self)}
        return write_parquet(_with_metadata(self.table(), document), path)

    @classmethod
    def load(cls, path: str | Path) -> "PairQuery":
        table, document = _read_document(path, QUERY_FORMAT, "query")
        _require_columns(table, ("left_id", "right_id"), f"query {path}")
        left, right = _id_column(table, "left_id", path), _id_column(table, "right_id", path)
        query = cls(left, right, **{k: _text(document, k, path) for k in (
            "spec_name", "spec_hash", "key_fingerprint", "left_holder", "right_holder")})
        query.check()
        if document.get("pairs") != len(query):
            raise HarmonieError(f"query {path}: its metadata counts {document.get('pairs')!r} pairs, the file holds "
                                f"{len(query)}")
        return query

    def check(self) -> None:
        """Sorted, no pair twice, well-formed linkage ids, two different holders."""
        if self.left_holder == self.right_holder:
            raise HarmonieError(f"the query names one holder ({self.left_holder!r}) on both sides")
        pairs = list(zip(self.left_ids, self.right_ids))
        if pairs != sorted(pairs):
            raise HarmonieError("the query's pairs are not sorted by (left_id, right_id)")
        if any(a == b for a, b in zip(pairs[1:], pairs[:-1])):
            raise HarmonieError("the query names a pair twice")


def _with_metadata(table: pa.Table, document: dict) -> pa.Table:
    metadata = dict(table.schema.metadata or {})
    metadata[METADATA_KEY] = json.dumps(document, sort_keys=True).encode("utf-8")
    return table.replace_schema_metadata(metadata)


def _read_document(path: str | Path, expected: str, what: str) -> tuple[pa.Table, dict]:
    path = Path(path)
    if not path.is_file():
        raise HarmonieError(f"{what} file {path} not found")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise HarmonieError(f"{path} is not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    try:
        document = json.loads(raw) if raw is not None else None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        document = None
    if not isinstance(document, dict) or document.get("format") != expected:
        found = document.get("format") if isinstance(document, dict) else None
        hint = f" (it is a {found!r} file)" if isinstance(found, str) and len(found) < 40 else ""
        raise HarmonieError(f"{path} is not a second-round {what} file{hint}")
    if document.get("format_version") != FORMAT_VERSION:
        raise HarmonieError(f"{path} is a {what} file of another version; this tool reads version {FORMAT_VERSION}")
    return table, document


def _text(document: dict, key: str, path) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise HarmonieError(f"{path}: corrupted metadata ({key})")
    return value


def _require_columns(table: pa.Table, columns, label: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise HarmonieError(f"{label} lacks column(s) {', '.join(missing)}")


def _id_column(table: pa.Table, name: str, path) -> list[str]:
    column = table[name]
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        raise HarmonieError(f"{path}: column {name} must hold linkage ids (text)")
    ids = column.to_pylist()
    bad = sum(1 for i in ids if not isinstance(i, str) or not _LINKAGE_ID.match(i))
    if bad:
        raise HarmonieError(f"{path}: {bad:,} value(s) of {name} are not linkage ids (20 hexadecimal characters)")
    return ids


@dataclass
class PairAnswer:
    """One holder's answer: the query's pairs in the query's order, and its filters of each pair."""

    table: pa.Table       # left_id, right_id, then one fixed-size binary column per value of PAIR_FIELDS
    metadata: dict

    @property
    def holder(self) -> str:
        return self.metadata["holder"]

    def save(self, path: str | Path) -> Path:
        return write_parquet(_with_metadata(self.table, {"format": ANSWER_FORMAT, "format_version": FORMAT_VERSION,
                                                         **self.metadata}), path)

    @classmethod
    def load(cls, path: str | Path) -> "PairAnswer":
        table, document = _read_document(path, ANSWER_FORMAT, "answer")
        _require_columns(table, ("left_id", "right_id", *PAIR_FIELDS), f"answer {path}")
        for key in ("spec_hash", "key_fingerprint", "holder", "query_sha256"):
            _text(document, key, path)
        width = PAIR_BLOOM.output_bytes
        for name in PAIR_FIELDS:
            kind = table.schema.field(name).type
            if not pa.types.is_fixed_size_binary(kind) or kind.byte_width != width:
                raise HarmonieError(f"answer {path}: column {name} does not hold {width}-byte filters")
        _id_column(table, "left_id", path)
        _id_column(table, "right_id", path)
        document = {k: v for k, v in document.items() if k not in ("format", "format_version")}
        return cls(table, document)


# --------------------------------------------------------------------------- the holder's command


@dataclass(frozen=True)
class AnswerLimits:
    """How much a holder agrees to answer (see the module docstring)."""

    max_pairs_per_record: int = MAX_PAIRS_PER_RECORD
    max_group: int = MAX_GROUP
    max_record_share: float = MAX_RECORD_SHARE


class QueryGroups:
    """Records joined by queried pairs (union-find over (side, id)): the groups within which the
    linkage unit can learn which records share a given name."""

    def __init__(self):
        self._parent: dict = {}
        self._size: dict = {}

    def find(self, x):
        parent = self._parent
        if x not in parent:
            parent[x], self._size[x] = x, 1
            return x
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def size_if_joined(self, a, b) -> int:
        ra, rb = self.find(a), self.find(b)
        return self._size[ra] if ra == rb else self._size[ra] + self._size[rb]

    def join(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if self._size[ra] < self._size[rb]:
                ra, rb = rb, ra
            self._parent[rb] = ra
            self._size[ra] += self._size[rb]

    def largest(self) -> int:
        return max((self._size[x] for x in self._parent if self._parent[x] == x), default=0)


def query_groups(query: "PairQuery") -> QueryGroups:
    groups = QueryGroups()
    for a, b in zip(query.left_ids, query.right_ids):
        groups.join(("L", a), ("R", b))
    return groups


def _trimmed(column) -> list:
    return pc.utf8_trim_whitespace(pc.cast(column, pa.string())).to_pylist()


def encode_pairs(spec: Spec, key: LinkageKey, role: str, patients: pa.Table, crosswalk: pa.Table,
                 query: PairQuery, *, limits: AnswerLimits = AnswerLimits(),
                 column: str | None = None) -> PairAnswer:
    """Answer a second-round query: this holder's given names of each queried pair, per-pair keyed.

    ``patients`` holds the holder's id column and its given-name column (``column``, by default
    the spec's mapping of ``first_names``); ``crosswalk`` is the one ``encode`` wrote.
    """
    holder = spec.holder(role)
    if query.spec_hash != spec.hash:
        raise HarmonieError(f"the query was made for another spec (hash {query.spec_hash[:12]}... vs "
                            f"{spec.hash[:12]}...)")
    if query.key_fingerprint != key.fingerprint:
        raise HarmonieError(f"the query was made for files encoded with another key (fingerprint "
                            f"{query.key_fingerprint} vs {key.fingerprint})")
    if role not in (query.left_holder, query.right_holder):
        raise HarmonieError(f"the query is for holders {query.left_holder!r} and {query.right_holder!r}, "
                            f"not {role!r}")
    query.check()
    own = query.left_ids if role == query.left_holder else query.right_ids
    _require_columns(crosswalk, ("local_id", "linkage_id"), "the crosswalk")
    provenance = crosswalk.schema.metadata or {}
    for name, expected in (("harmonie.key_fingerprint", key.fingerprint), ("harmonie.holder", role)):
        found = provenance.get(name.encode())
        if found is not None and found.decode("utf-8", "replace") != expected:
            raise HarmonieError(f"the crosswalk was written for another {name.split('.')[1].replace('_', ' ')} "
                                f"than this one ({role}, key {key.fingerprint})")
    local_of = dict(zip(crosswalk["linkage_id"].to_pylist(), crosswalk["local_id"].to_pylist()))
    unknown = len({i for i in own if i not in local_of})
    if unknown:
        raise HarmonieError(f"the query names {unknown:,} {role} linkage id(s) that are not in this crosswalk "
                            f"(a query for another holder, key or run?); nothing was answered")
    per_record = Counter(own)
    busiest = max(per_record.values(), default=0)
    if busiest > limits.max_pairs_per_record:
        raise HarmonieError(f"the query pairs one {role} record with {busiest} others (at most "
                            f"{limits.max_pairs_per_record} are answered: --max-pairs-per-record)")
    largest = query_groups(query).largest()
    if largest > limits.max_group:
        raise HarmonieError(f"the query's pairs join {largest} records into one group (at most {limits.max_group} "
                            f"are answered: --max-group); namesake candidates form small separate groups")
    share = len(per_record) / max(len(local_of), 1)
    if share > limits.max_record_share:
        raise HarmonieError(f"the query asks for {share:.1%} of this holder's records (at most "
                            f"{limits.max_record_share:.0%} are answered: --max-share)")

    name_column = column or holder.column(GIVEN_NAMES_COLUMN)
    _require_columns(patients, (holder.id_column, name_column), "the input table")
    wanted = {local_of[i] for i in per_record}
    ids = _trimmed(patients[holder.id_column])
    row_of: dict[str, int] = {}
    for row, local in enumerate(ids):
        if local in wanted and local not in row_of:  # the first occurrence, as encode keeps
            row_of[local] = row
    absent = len(wanted) - len(row_of)
    if absent:
        raise HarmonieError(f"{absent:,} queried record(s) of the crosswalk are not in the input table "
                            f"(another input than the one encoded?)")
    locals_ = sorted(row_of)
    rows = pa.array([row_of[i] for i in locals_], pa.int64())
    names = patients[name_column].take(rows)
    normalised = {f: normalise_columns(f, [names]).row_values() for f in PAIR_FIELDS}
    value_of = {local: [normalised[f][k] for f in PAIR_FIELDS] for k, local in enumerate(locals_)}

    encoder = PairNameEncoder(key, spec.project)
    filters: list[list[bytes | None]] = [[] for _ in PAIR_FIELDS]
    missing = 0
    for left_id, right_id, mine in zip(query.left_ids, query.right_ids, own):
        values = value_of[local_of[mine]]
        missing += values[0] is None
        for j, encoded in enumerate(encoder.encode_pair(left_id, right_id, values)):
            filters[j].append(encoded)
    width = PAIR_BLOOM.output_bytes
    table = pa.table({"left_id": pa.array(query.left_ids, pa.string()),
                      "right_id": pa.array(query.right_ids, pa.string()),
                      **{f: pa.array(filters[j], pa.binary(width)) for j, f in enumerate(PAIR_FIELDS)}})
    metadata = {"tool": f"harmonie {__version__}", "spec_name": spec.name, "spec_hash": spec.hash,
                "key_fingerprint": key.fingerprint, "holder": role, "query_sha256": query.sha256,
                "pairs": len(query), "records": len(per_record), "pairs_without_given_name": missing,
                "fields": list(PAIR_FIELDS), "bloom": asdict(PAIR_BLOOM)}
    return PairAnswer(table, metadata)
