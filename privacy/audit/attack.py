"""Attack self-audit: run the published attacks on Bloom-filter encodings against our own files.

``harmonie audit attack`` plays the linkage unit turned attacker. It holds an encoded file
and, like any linkage unit, the spec, but not the secret; it knows a public name-frequency
list (``value``, ``count``). It then runs (details in ``privacy.audit.attack_patterns``):

1. the **frequency attack** of Kuzu et al. (2011) as simplified by Christen et al. (2017):
   the most frequent filters are aligned with the most frequent names, wherever
   frequencies (and the number of q-grams an unbalanced filter reveals) are unambiguous;
2. an **overlap check** in the spirit of Kuzu et al.'s constraints and Vidanage et al.'s
   similarity graphs: aligned pairs must agree on how many q-grams they share, and frequent
   filters are given the one name whose overlaps with the aligned names match;
3. the **q-gram pattern attack** of Christen et al. (2017): from the aligned pairs it
   learns which bit positions each q-gram sets, decodes every other filter into q-grams
   and re-identifies it when exactly one name of the list fits; new pairs feed the
   learning again.

What the attacker reads in the spec is used as a real one would: fields encoded under one
key (``key = "names"``) share q-gram positions, so they are attacked together (given names
decode surnames); a salted field is attacked per value of the salt's own token column (the
year of birth is in the file as a token); balanced filters are un-balanced (complementary
columns pair up; the names' lengths orient them) when the spec gives the encoding's
parameters. The "frequency attack" figures are step 1 alone; the "frequency + pattern
attack" figures are all steps.

With the holder's plaintext (``--plaintext-truth``: ``linkage_id`` and the true normalised
value), the audit measures the share of records and of distinct values re-identified;
without it, it reports what the attacker claims. The report holds counts only, never a
name or a re-identified record.

What it does not prove: the attacks are the published frequency and pattern attacks and
an overlap check, not every attack (a full graph matching of all records, or attacks with
other auxiliary data, may do better); a low figure is a lower bound on an attacker's
success, not a guarantee.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harmonie.errors import HarmonieError
from harmonie.io import ensure_output_dir, read_table, write_text
from linkage import encoded_columns as columns_of
from linkage.encoding.encoded_file import read_encoded
from linkage.normalise.text import ascii_upper
from privacy.audit.attack_patterns import (
    AttackSettings,
    LengthModel,
    QgramIndex,
    align_by_frequency,
    attack_group,
    complement_partners,
    expected_ones,
    fit_length_model,
    length_fit,
    orient,
    popcounts,
    qgram_index,
    unbalance,
)
from privacy.bloom import BloomSettings

_NOT_LETTER = re.compile(r"[^A-Z]")


# --------------------------------------------------------------------------- inputs


@dataclass
class Reference:
    """The attacker's public knowledge: distinct normalised values and their counts."""

    values: list[str]
    counts: np.ndarray

    @property
    def probabilities(self) -> np.ndarray:
        return self.counts / self.counts.sum()


def normalise_value(value) -> str | None:
    """Upper-case ASCII letters only: the public normalisation of names in the spec."""
    if value is None:
        return None
    text = _NOT_LETTER.sub("", ascii_upper(str(value)))
    return text or None


def reference_from_pairs(values, counts) -> Reference:
    """Merge values that normalise alike, drop empty values and zero counts."""
    merged: dict[str, float] = {}
    for value, count in zip(values, counts):
        name = normalise_value(value)
        if name is None or count is None or not np.isfinite(count) or count <= 0:
            continue
        merged[name] = merged.get(name, 0.0) + float(count)
    ordered = sorted(merged.items(), key=lambda item: (-item[1], item[0]))
    return Reference([v for v, _ in ordered], np.array([c for _, c in ordered], dtype=float))


def read_reference(path: str | Path) -> Reference:
    """A name-frequency list: Parquet with columns ``value`` (text) and ``count`` (number >= 0)."""
    path = Path(path)
    table = read_table(path, what="reference list")
    missing = [c for c in ("value", "count") if c not in table.column_names]
    if missing:
        raise HarmonieError(f"reference list {path} lacks column(s) {', '.join(missing)} (needs value, count)")
    if not (pa.types.is_integer(table["count"].type) or pa.types.is_floating(table["count"].type)):
        raise HarmonieError(f"reference list {path}: column 'count' must be numeric")
    counts = table["count"].to_numpy(zero_copy_only=False).astype(float)
    if np.any(counts[np.isfinite(counts)] < 0):
        raise HarmonieError(f"reference list {path}: counts must not be negative")
    reference = reference_from_pairs(table["value"].to_pylist(), counts)
    if len(reference.values) < 2:
        raise HarmonieError(f"reference list {path} holds fewer than two usable names")
    return reference


def filter_words(table: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(n, words) uint64 filters and the present mask of one Bloom-filter column."""
    if name not in table.column_names:
        raise HarmonieError(f"the encoded file has no column {name!r}")
    column = table[name].combine_chunks()
    if not pa.types.is_fixed_size_binary(column.type) or column.type.byte_width % 8:
        raise HarmonieError(f"column {name!r} is not a Bloom-filter column")
    width = column.type.byte_width
    n = len(column)
    data = np.frombuffer(column.buffers()[1], dtype=np.uint8)[column.offset * width:(column.offset + n) * width]
    present = column.is_valid().to_numpy(zero_copy_only=False)
    words = np.ascontiguousarray(data.reshape(n, width)).view(np.uint64)
    return words, present


def group_codes(table: pa.Table, name: str) -> np.ndarray:
    """Per record, the index of its value in a token column (-1 when missing)."""
    if name not in table.column_names:
        raise HarmonieError(f"the encoded file has no column {name!r} to group by")
    column = table[name].combine_chunks()
    if not pa.types.is_int64(column.type):
        raise HarmonieError(f"column {name!r} is not a token column; group by a token column (e.g. birth_date__y)")
    tokens = pc.fill_null(column, 0).to_numpy(zero_copy_only=False)
    _, codes = np.unique(tokens, return_inverse=True)
    return np.where(tokens == 0, -1, codes).astype(np.int64)


# --------------------------------------------------------------------------- the attack


@dataclass
class FieldPlan:
    """How one field is attacked: its reference, its q-gram length, its salt groups, its pool."""

    field: str
    reference: Reference
    qgram: int = 2
    group_by: str | None = None
    pool: str = ""          # fields with the same pool name share one key
    use_lengths: bool = True
    bloom: BloomSettings | None = None   # the encoding's parameters, when the spec is known


@dataclass
class FieldOutcome:
    field: str
    final: np.ndarray       # per record: index into the reference, -1 = not re-identified
    frequency: np.ndarray   # per record, from the frequency alignment alone
    present: np.ndarray
    distinct_filters: int
    groups: int
    pooled_with: list[str]
    length_model: int | None     # positions per q-gram fitted from the set bits, None if not used
    learned_qgrams: int
    rounds: int
    balanced: dict | None = None   # balanced filters: whether the originals were recovered, and the fits


def _distinct(words: np.ndarray, groups: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distinct (group, filter) among ``rows``: unit words, unit group, counts, unit of each row."""
    keyed = np.ascontiguousarray(np.column_stack([groups[rows].astype(np.uint64), words[rows]]))
    view = keyed.view(np.dtype((np.void, keyed.dtype.itemsize * keyed.shape[1]))).ravel()
    _, first, inverse, counts = np.unique(view, return_index=True, return_inverse=True, return_counts=True)
    return keyed[first, 1:], groups[rows][first], counts, inverse.ravel()


def _spec_model(plan: FieldPlan, reference_sizes: np.ndarray) -> LengthModel | None:
    """The length model an attacker reading the spec knows (positions per q-gram, bits)."""
    if plan.bloom is None:
        return None
    top = int(reference_sizes.max(initial=1)) + 3
    return LengthModel(plan.bloom.bits, plan.bloom.hashes,
                       expected_ones(plan.bloom.bits, plan.bloom.hashes, np.arange(0, top)))


def _groups_of(unit_group: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(unit_group, kind="stable")
    return [g for g in np.split(order, np.flatnonzero(np.diff(unit_group[order])) + 1) if len(g)]


def _expected_counts(parts: list[dict], units: np.ndarray, unit_field: np.ndarray, unit_counts: np.ndarray):
    return [p["plan"].reference.probabilities * int(unit_counts[units][unit_field[units] == f].sum())
            for f, p in enumerate(parts)]


RECOVERY_FIT = 0.85      # share of filters whose weight fits a whole number of q-grams
RECOVERY_MARGIN = 0.05   # ... and by how much better than the mirror orientation


def _recover_balanced(parts: list[dict], indexes: list[QgramIndex], settings: AttackSettings,
                      partner: np.ndarray) -> np.ndarray | None:
    """Balanced filters: keep the original column of each complement pair (see ``orient``).

    The field with most distinct filters orients the columns (fields sharing a key share
    the keyed permutation); of the two global orientations, the one whose weights fall on
    the number of set bits the spec predicts for whole numbers of q-grams is the original.
    Returns the plain frequency attack's guesses per unit on the balanced filters (for the
    report), or None when no orientation fits (the filters are then attacked as they are).
    """
    largest = max(range(len(parts)), key=lambda f: len(parts[f]["unit_words"]))
    words = parts[largest]["unit_words"]
    columns = orient(words, partner)
    model = _spec_model(parts[largest]["plan"], indexes[largest].sizes)
    fits = []
    for candidate in (columns, partner[columns]):
        ones = popcounts(unbalance(words, candidate))
        fits.append(length_fit(ones, parts[largest]["unit_counts"], model))
    best = columns if fits[0] >= fits[1] else partner[columns]
    for p in parts:
        p["balanced"] = {"length_fit": [round(f, 3) for f in sorted(fits, reverse=True)]}
    # the original orientation puts most weights on whole numbers of q-grams, clearly better
    # than its mirror; a weak or close fit means the orientation is not established
    if max(fits) < RECOVERY_FIT or abs(fits[0] - fits[1]) < RECOVERY_MARGIN:
        return None
    unit_group = np.concatenate([p["unit_group"] for p in parts])
    unit_counts = np.concatenate([p["unit_counts"] for p in parts])
    unit_field = np.concatenate([np.full(len(p["unit_words"]), f, dtype=np.int64) for f, p in enumerate(parts)])
    frequency = np.full(len(unit_group), -1, dtype=np.int64)
    for units in _groups_of(unit_group):
        expected = _expected_counts(parts, units, unit_field, unit_counts)
        for f in range(len(parts)):
            mine = units[unit_field[units] == f]
            for u, v in align_by_frequency(unit_counts[mine], np.zeros(len(mine), dtype=np.int64), expected[f],
                                           np.zeros(len(expected[f]), dtype=np.int64), settings):
                frequency[mine[u]] = v
    for p in parts:
        p["words"] = unbalance(p["words"], best)
        p["unit_words"] = unbalance(p["unit_words"], best)
    return frequency


def attack_table(table: pa.Table, plans: list[FieldPlan], settings: AttackSettings | None = None
                 ) -> dict[str, FieldOutcome]:
    """Attack the Bloom-filter columns of an encoded table; see the module docstring."""
    settings = settings or AttackSettings()
    outcomes: dict[str, FieldOutcome] = {}
    pools: dict[tuple, list[FieldPlan]] = {}
    for plan in plans:
        pools.setdefault((plan.pool or plan.field, plan.group_by, plan.qgram), []).append(plan)
    n = table.num_rows
    for (_, group_by, qgram), members in pools.items():
        pool_settings = AttackSettings(**{**asdict(settings), "qgram": qgram})
        groups = group_codes(table, group_by) if group_by else np.zeros(n, dtype=np.int64)
        _, indexes = qgram_index([p.reference.values for p in members], qgram)
        n_qgrams = int(max((ix.indices.max(initial=-1) for ix in indexes), default=-1)) + 1
        parts = []
        for plan in members:
            words, present = filter_words(table, plan.field)
            rows = np.flatnonzero(present & (groups >= 0))
            unit_words, unit_group, unit_counts, inverse = _distinct(words, groups, rows)
            parts.append(dict(plan=plan, words=words, present=present, rows=rows, unit_words=unit_words,
                              unit_group=unit_group, unit_counts=unit_counts, inverse=inverse))
        # balanced filters with known parameters: recover the original halves first
        raw_frequency = None
        partner = (complement_partners(max((p["unit_words"] for p in parts), key=len))
                   if all(p["plan"].use_lengths and p["plan"].bloom is not None for p in parts) else None)
        if partner is not None:
            raw_frequency = _recover_balanced(parts, indexes, pool_settings, partner)
            partner = None if raw_frequency is None else partner
        for f, p in enumerate(parts):
            plan = p["plan"]
            ones = popcounts(p["unit_words"])
            bits = p["unit_words"].shape[1] * 64
            model = None
            if plan.use_lengths:
                model = _spec_model(plan, indexes[f].sizes) if plan.bloom is not None else None
                if model is None or model.bits != bits:
                    model = fit_length_model(ones, p["unit_counts"], bits, indexes[f].sizes,
                                             plan.reference.probabilities)
            p["model"] = model
            p["classes"] = model.qgrams_of(ones) if model else np.zeros(len(ones), dtype=np.int64)
            p["ref_classes"] = indexes[f].sizes if model else np.zeros(len(indexes[f].sizes), dtype=np.int64)
        # folded filters hide lengths and q-gram positions, not similarities: check the
        # alignment with distances when the spec gives the encoding's parameters
        schemes = [(_spec_model(p["plan"], indexes[f].sizes), p["plan"].bloom.balance, True)
                   if p["model"] is None and p["plan"].bloom is not None and p["plan"].bloom.xor_fold else None
                   for f, p in enumerate(parts)]
        unit_words = np.concatenate([p["unit_words"] for p in parts])
        unit_group = np.concatenate([p["unit_group"] for p in parts])
        unit_counts = np.concatenate([p["unit_counts"] for p in parts])
        unit_field = np.concatenate([np.full(len(p["unit_words"]), f, dtype=np.int64) for f, p in enumerate(parts)])
        unit_classes = np.concatenate([p["classes"] for p in parts])
        final = np.full(len(unit_words), -1, dtype=np.int64)
        frequency = final.copy()
        learned, rounds = 0, 0
        for units in _groups_of(unit_group):
            expected = _expected_counts(parts, units, unit_field, unit_counts)
            result = attack_group(np.ascontiguousarray(unit_words[units]), unit_counts[units], unit_field[units],
                                  unit_classes[units], expected, [p["ref_classes"] for p in parts], indexes,
                                  n_qgrams, pool_settings, [p["model"] for p in parts], schemes)
            final[units] = result.final_guess
            frequency[units] = result.frequency_guess
            learned = max(learned, result.learned_qgrams)
            rounds = max(rounds, result.rounds)
        if raw_frequency is not None:
            frequency = raw_frequency
        start = 0
        names = [p["plan"].field for p in parts]
        for f, p in enumerate(parts):
            count = len(p["unit_words"])
            per_record = np.full(n, -1, dtype=np.int64)
            per_record_frequency = per_record.copy()
            per_record[p["rows"]] = final[start:start + count][p["inverse"]]
            per_record_frequency[p["rows"]] = frequency[start:start + count][p["inverse"]]
            start += count
            outcomes[p["plan"].field] = FieldOutcome(
                field=p["plan"].field, final=per_record, frequency=per_record_frequency,
                present=p["present"], distinct_filters=count, groups=len(np.unique(p["unit_group"])),
                pooled_with=[m for m in names if m != p["plan"].field],
                length_model=p["model"].hashes if p["model"] else None, learned_qgrams=learned, rounds=rounds,
                balanced=None if "balanced" not in p else {**p["balanced"], "recovered": partner is not None})
    return outcomes


# --------------------------------------------------------------------------- measurement


def _shares(guess: np.ndarray, present: np.ndarray, reference: Reference, truth: np.ndarray | None) -> dict:
    guessed = present & (guess >= 0)
    out = {"records_claimed": int(guessed.sum()),
           "values_claimed": len(np.unique(guess[guessed]))}
    if truth is None:
        return out
    known = present & (truth != None)
    values = np.array(reference.values + [None], dtype=object)
    correct = known & guessed & (values[guess] == truth)
    wrong = known & guessed & ~correct
    distinct_true = set(truth[known].tolist())
    distinct_found = set(truth[correct].tolist())
    listed = distinct_true & set(reference.values)  # the values an attacker with this list can name
    n_known = int(known.sum())
    out.update({
        "records_with_truth": n_known,
        "records_reidentified": int(correct.sum()),
        "records_wrong": int(wrong.sum()),
        "share_records_reidentified": round(float(correct.sum()) / n_known, 6) if n_known else 0.0,
        "values_present": len(distinct_true),
        "values_reidentified": len(distinct_found),
        "share_values_reidentified": round(len(distinct_found) / len(distinct_true), 6) if distinct_true else 0.0,
        "values_in_reference": len(listed),
        "share_listed_values_reidentified": round(len(distinct_found & listed) / len(listed), 6) if listed else 0.0,
        "precision": round(float(correct.sum()) / float((known & guessed).sum()), 6) if (known & guessed).any()
        else None,
    })
    return out


def read_truth(path: str | Path, table: pa.Table, fields: list[str]) -> dict[str, np.ndarray]:
    """Per field, the true normalised value of each record of ``table`` (None when unknown).

    The truth file holds ``linkage_id`` and either one column per attacked field or, when a
    single field is attacked, a column ``value``.
    """
    path = Path(path)
    truth = read_table(path, what="plaintext truth")
    if "linkage_id" not in truth.column_names:
        raise HarmonieError(f"plaintext truth {path} lacks column linkage_id")
    columns = {}
    for name in fields:
        if name in truth.column_names:
            columns[name] = name
        elif "value" in truth.column_names and len(fields) == 1:
            columns[name] = "value"
        else:
            raise HarmonieError(f"plaintext truth {path} has no column {name!r} (or 'value' for a single field)")
    ids = pc.cast(truth["linkage_id"], pa.string()).to_pylist()
    position = {i: k for k, i in enumerate(ids) if i is not None}
    rows = np.array([position.get(i, -1) for i in pc.cast(table["linkage_id"], pa.string()).to_pylist()],
                    dtype=np.int64)
    if not (rows >= 0).any():
        raise HarmonieError(f"no linkage_id of the encoded file is in the plaintext truth {path}")
    out = {}
    for name, column in columns.items():
        values = np.array([normalise_value(v) for v in truth[column].to_pylist()] + [None], dtype=object)
        out[name] = values[rows]
    return out


@dataclass
class AttackReport:
    encoded: str
    metadata: dict
    settings: dict
    fields: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"encoded": self.encoded, "spec_hash": self.metadata.get("spec_hash"),
                "key_fingerprint": self.metadata.get("key_fingerprint"), "holder": self.metadata.get("holder"),
                "rows": self.metadata.get("rows_encoded"), "settings": self.settings, "fields": self.fields}


def plans_from_spec(spec_path: str | Path, metadata: dict, fields: list[str], references: list[Reference],
                    table: pa.Table) -> list[FieldPlan]:
    """What an attacker who reads the spec knows: q-gram length, salts and shared keys."""
    from linkage.spec import load_spec

    spec = load_spec(spec_path)
    if spec.hash != metadata.get("spec_hash"):
        raise HarmonieError(f"the spec {spec_path} is not the one the file was encoded with "
                            f"(spec hash {spec.hash[:12]}... vs {str(metadata.get('spec_hash'))[:12]}...)")
    plans = []
    for name, reference in zip(fields, references):
        f = spec.field(name)
        if f.encoding != "bloom":
            raise HarmonieError(f"field {name!r} is not a Bloom-filter field in the spec")
        group_by = None
        if f.salt:
            salt = spec.field(f.salt)
            if salt.encoding == "date":
                group_by = next(columns_of.date_part(salt.name, p) for p in ("year", "year_month", "exact")
                                if p in salt.parts)
            else:
                group_by = salt.name
        plans.append(FieldPlan(field=name, reference=reference, qgram=f.bloom.qgram, group_by=group_by,
                               pool=f"{f.key_name}|{f.salt}", use_lengths=not f.bloom.xor_fold, bloom=f.bloom))
    return plans


def bloom_columns(table: pa.Table) -> list[str]:
    return [name for name in table.column_names
            if pa.types.is_fixed_size_binary(table.schema.field(name).type)]


def run_attack(encoded: str | Path, references: list[str | Path], fields: list[str] | None = None, *,
               spec: str | Path | None = None, group_by: str | None = None, truth: str | Path | None = None,
               settings: AttackSettings | None = None) -> AttackReport:
    """Load, attack and measure (see the module docstring); the library form of ``harmonie audit attack``."""
    settings = settings or AttackSettings()
    encoded_file = read_encoded(encoded)
    metadata, table = encoded_file.metadata, encoded_file.table
    if not references:
        raise HarmonieError("give at least one reference list (--reference)")
    fields = list(fields or [])
    if not fields:
        if len(references) > 1:
            raise HarmonieError("several reference lists: name the field each one is for (--field, in the same order)")
        fields = bloom_columns(table)
        if not fields:
            raise HarmonieError(f"{encoded} has no Bloom-filter column to attack")
    if len(references) not in (1, len(fields)):
        raise HarmonieError(f"{len(references)} reference lists for {len(fields)} fields: give one list, "
                            f"or one per field in the same order")
    if len(set(fields)) != len(fields):
        raise HarmonieError("a field is named twice (--field)")
    loaded = {str(p): read_reference(p) for p in dict.fromkeys(map(str, references))}
    per_field = [loaded[str(references[0] if len(references) == 1 else references[i])] for i in range(len(fields))]
    for name in fields:
        filter_words(table, name)  # checks the column exists and holds filters
    if group_by is not None:
        group_codes(table, group_by)
    if spec is not None:
        plans = plans_from_spec(spec, metadata, fields, per_field, table)
        if group_by is not None:
            plans = [FieldPlan(**{**p.__dict__, "group_by": group_by}) for p in plans]
    else:
        plans = [FieldPlan(field=name, reference=ref, qgram=settings.qgram, group_by=group_by)
                 for name, ref in zip(fields, per_field)]
    truths = read_truth(truth, table, fields) if truth is not None else {}
    outcomes = attack_table(table, plans, settings)
    report = AttackReport(encoded=str(encoded), metadata=metadata,
                          settings={**asdict(settings), "spec": str(spec) if spec else None})
    for plan in plans:
        outcome = outcomes[plan.field]
        expected_truth = truths.get(plan.field)
        report.fields[plan.field] = {
            "records_with_filter": int(outcome.present.sum()),
            "distinct_filters": outcome.distinct_filters,
            "reference_values": len(plan.reference.values),
            "grouped_by": plan.group_by, "groups": outcome.groups,
            "pooled_with": outcome.pooled_with,
            "length_model_positions_per_qgram": outcome.length_model,
            "balanced_filters": outcome.balanced,
            "xor_folded": bool(plan.bloom and plan.bloom.xor_fold) if plan.bloom else None,
            "learned_qgrams": outcome.learned_qgrams, "rounds": outcome.rounds,
            "frequency_attack": _shares(outcome.frequency, outcome.present, plan.reference, expected_truth),
            "frequency_and_pattern_attack": _shares(outcome.final, outcome.present, plan.reference, expected_truth),
        }
    return report


def summary_lines(report: AttackReport) -> list[str]:
    """Human-readable figures (counts and shares only, never a name)."""
    lines = [f"attack self-audit of {report.encoded} (spec {str(report.metadata.get('spec_hash'))[:12]}, "
             f"{report.metadata.get('rows_encoded')} records)"]
    for name, figures in report.fields.items():
        extra = []
        if figures["grouped_by"]:
            extra.append(f"grouped by {figures['grouped_by']} ({figures['groups']} groups)")
        if figures["pooled_with"]:
            extra.append(f"key shared with {', '.join(figures['pooled_with'])}")
        if figures.get("xor_folded"):
            extra.append("XOR-folded: no q-gram positions to learn (frequency attack and distance check only)")
        balanced = figures.get("balanced_filters")
        if balanced:
            extra.append("balanced filters un-balanced" if balanced["recovered"] else
                         "balanced filters NOT un-balanced (orientation not established): the figures may "
                         "understate the risk")
        lines.append(f"{name}: {figures['records_with_filter']} filters, {figures['distinct_filters']} distinct"
                     + (f"; {'; '.join(extra)}" if extra else ""))
        for stage, label in (("frequency_attack", "frequency attack"),
                             ("frequency_and_pattern_attack", "frequency + pattern attack")):
            s = figures[stage]
            if "share_records_reidentified" in s:
                lines.append(f"  {label}: {s['records_reidentified']} records re-identified "
                             f"({100 * s['share_records_reidentified']:.2f}%), {s['values_reidentified']} of "
                             f"{s['values_present']} values ({100 * s['share_values_reidentified']:.2f}%), "
                             f"{s['records_wrong']} wrong guesses")
            else:
                lines.append(f"  {label}: claims {s['records_claimed']} records, {s['values_claimed']} values "
                             f"(no plaintext truth given: correctness not measured)")
    return lines


def write_attack_report(report: AttackReport, out_dir: str | Path) -> list[Path]:
    out = ensure_output_dir(out_dir)
    written = [write_text(json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n", out / "attack.json"),
               write_text("\n".join(summary_lines(report)) + "\n", out / "attack.txt")]
    return written
