"""Comparison of candidate pairs: a small integer level per comparison and pair.

Levels are ordered best first (0 = strongest agreement); -1 means a value is missing on
either side and the comparison is neutral in the model. The spec's ``[[comparisons]]``
entries become :class:`Comparison` objects with human labels per level, like Splink's
comparison levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage import encoded_columns as columns_of
from linkage.encoded_arrays import EncodedRecords
from linkage.kernels import dice_pairs, shared_tokens, token_in_list
from linkage.spec import EXTRA_EVENT_LEVELS, Spec

MISSING = -1


@dataclass(frozen=True)
class Comparison:
    name: str
    kind: str
    labels: tuple[str, ...]
    columns: tuple[str, ...] = ()
    thresholds: tuple[float, ...] = ()
    term_frequency: bool = False
    fields: tuple[str, ...] = ()  # the spec fields it reads (a blocking pass on them biases it)
    swapped_with: str = ""        # dice: a field that, crossed both ways, reveals swapped names
    contradicted_by: tuple[str, ...] = ()  # token: columns whose disagreement makes an agreement suspect

    @property
    def n_levels(self) -> int:
        return len(self.labels)

    def levels(self, left: EncodedRecords, right: EncodedRecords, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
        """int8 level of each pair (li[k], ri[k])."""
        return _KINDS[self.kind](self, left, right, li, ri)


def _token_levels(c: Comparison, left, right, li, ri) -> np.ndarray:
    """Agreement on the first column, else on the next (coarser) one, ..., else 'different';
    missing when the first column is missing on either side.

    With ``contradicted_by`` (no coarser columns then), an agreement while any of those
    columns is present on both sides and differs is a level of its own, between 'agree' and
    'disagree': a NIR pseudonym that agrees while the birth year-month or the sex the NIR
    is filed with disagree is another person's NIR (a spouse's or parent's card), not a match.
    """
    out = np.full(len(li), len(c.columns) + bool(c.contradicted_by), dtype=np.int8)
    for level in range(len(c.columns) - 1, -1, -1):
        a, b = left.tokens[c.columns[level]][li], right.tokens[c.columns[level]][ri]
        out[(a == b) & (a != 0)] = level
        if level == 0:
            if c.contradicted_by:
                contradicted = np.zeros(len(li), dtype=bool)
                for column in c.contradicted_by:
                    x, y = left.tokens[column][li], right.tokens[column][ri]
                    contradicted |= (x != 0) & (y != 0) & (x != y)
                out[(out == 0) & contradicted] = 1
            out[(a == 0) | (b == 0)] = MISSING
    return out


def _date_levels(c: Comparison, left, right, li, ri) -> np.ndarray:
    """Levels in the order of the comparison's columns; each level lists one or more ways
    ('left_col=right_col', '|'-separated) to reach it. Tolerance lists (:func:`near` columns)
    count as a hit when the other side's exact token is in the list."""
    out = np.full(len(li), len(c.columns), dtype=np.int8)  # 'different'
    any_present = np.zeros(len(li), dtype=bool)
    for level in range(len(c.columns) - 1, -1, -1):
        hit = np.zeros(len(li), dtype=bool)
        for alternative in c.columns[level].split("|"):
            lcol, rcol = alternative.split("=")
            if columns_of.is_near(lcol):
                hit |= _in_list(left.lists[lcol], li, right.tokens[rcol][ri])
            elif columns_of.is_near(rcol):
                hit |= _in_list(right.lists[rcol], ri, left.tokens[lcol][li])
            else:
                a, b = left.tokens[lcol][li], right.tokens[rcol][ri]
                present = (a != 0) & (b != 0)
                any_present |= present
                hit |= present & (a == b)
        out[hit] = level
    out[~any_present] = MISSING
    return out


def _in_list(lists, rows, tokens) -> np.ndarray:
    """Whether tokens[k] (non-zero) is in the list of row rows[k]."""
    return token_in_list(lists.offsets, lists.values, rows.astype(np.int64), tokens)


def _dice_levels(c: Comparison, left, right, li, ri) -> np.ndarray:
    best = np.full(len(li), -1.0, dtype=np.float32)
    for lcol in c.columns:
        for rcol in c.columns:
            best = np.maximum(best, _dice(left.filters[lcol], right.filters[rcol], li, ri))
    lowest = len(c.labels) - 1  # '< last threshold'
    out = np.full(len(li), lowest, dtype=np.int8)
    for level in range(len(c.thresholds) - 1, -1, -1):
        out[best >= c.thresholds[level]] = level
    if c.swapped_with:  # surname on one side is the given name on the other, and vice versa
        name, other = c.columns[0], c.swapped_with
        one = _dice(left.filters[name], right.filters[other], li, ri)
        two = _dice(left.filters[other], right.filters[name], li, ri)
        out[(out == lowest) & (one >= c.thresholds[0]) & (two >= c.thresholds[0])] = lowest - 1
    out[best < 0] = MISSING
    return out


def _dice(left_filters, right_filters, li, ri) -> np.ndarray:
    (lf, lones), (rf, rones) = left_filters, right_filters
    return dice_pairs(lf, rf, lones, rones, li, ri)


def _event_levels(c: Comparison, left, right, li, ri) -> np.ndarray:
    """Shared events, counted on exact tokens and the tolerance tokens either side emits.

    With wider matches (an events field's wide-tolerance or establishment-group tokens, in
    ``c.columns`` after the field), the last count level and 'none' are split by what the
    wider tokens find (:func:`_event_labels`): events shared only 2-3 days apart (the wide
    list holds no exact or near token of its record), or only at another site of the same
    group (shared at the group level, less those shared at the site level, at least 0).
    """
    name, wider = c.columns[0], c.columns[1:]
    lists = (set(left.lists), set(right.lists))

    def count(joins):
        return sum(_shared(left.lists[lcol], right.lists[rcol], li, ri) for lcol, rcol in joins)

    shared = count(columns_of.event_joins(name, *lists))
    cuts = sorted(c.thresholds, reverse=True)  # e.g. 3, 2, 1 shared events
    out = np.full(len(li), len(cuts), dtype=np.int8)  # 'none shared'
    for level in range(len(cuts) - 1, -1, -1):
        out[shared >= cuts[level]] = level
    if wider:
        found = [count(columns_of.group_joins(name, *lists)) - shared if column == columns_of.group(name)
                 else count(columns_of.wide_joins(name, *lists)) for column in wider]
        last, extra = len(cuts) - 1, EXTRA_EVENT_LEVELS
        in_last, in_none = out == last, out == len(cuts)
        plain_last, none = last + len(wider), last + len(wider) + 1 + len(wider) * len(extra)
        out[in_last], out[in_none] = plain_last, none
        for i in range(len(wider) - 1, -1, -1):  # the first kind of wider match wins
            out[in_last & (found[i] >= 1)] = last + i
            for t in range(len(extra) - 1, -1, -1):
                out[in_none & (found[i] >= extra[t])] = plain_last + 1 + i * len(extra) + t
    empty = (left.lists[name].lengths()[li] == 0) | (right.lists[name].lengths()[ri] == 0)
    out[empty] = MISSING
    return out


def count_labels(cuts: tuple[int, ...]) -> tuple[str, ...]:
    """What each count level of an events comparison holds, highest first: the top cut and
    more ('8+ shared'), then each cut up to the next one ('5-7 shared', '3-4 shared', '2
    shared'), since a level holds every count from its cut to the cut above it."""
    ordered = sorted(cuts, reverse=True)
    return tuple(f"{k}+ shared" if i == 0 else f"{k} shared" if ordered[i - 1] - 1 == k else
                 f"{k}-{ordered[i - 1] - 1} shared" for i, k in enumerate(ordered))


def upgrade_count_labels(labels: tuple[str, ...], cuts: tuple[int, ...]) -> tuple[str, ...]:
    """An events comparison's labels as a model.json written before :func:`count_labels` named
    them ('5 shared' for 5-7): the same levels, today's names, so such a model still scores."""
    ordered = sorted((int(k) for k in cuts), reverse=True)
    old = {f"{k} shared": new for k, new in zip(ordered, count_labels(tuple(ordered)))}
    upgraded = []
    for label in labels:
        head, sep, tail = label.partition(" + more ")
        upgraded.append(old.get(head, head) + sep + tail)
    return tuple(upgraded)


def _event_labels(cuts: tuple[int, ...], wider: list[str]) -> tuple[str, ...]:
    """Labels of an events comparison's levels: one per count cut (:func:`count_labels`), then
    'none shared'; with wider matches (each described by how it matches), the last cut is split
    into 'k shared + more <how>' per kind and 'k shared', and 'none' into 'none shared; 2+
    <how>', 'none shared; 1 <how>' per kind and 'none shared'."""
    counted = count_labels(cuts)
    if not wider:
        return counted + ("none shared",)
    extra = EXTRA_EVENT_LEVELS
    last = tuple(f"{counted[-1]} + more {how}" for how in wider) + (counted[-1],)
    none = tuple(f"none shared; {k}{'+' if i == 0 else ''} {how}" for how in wider for i, k in enumerate(extra))
    return counted[:-1] + last + none + ("none shared",)


def _shared(a, b, li, ri) -> np.ndarray:
    return shared_tokens(a.offsets, a.values, b.offsets, b.values, li.astype(np.int64), ri.astype(np.int64))


_KINDS = {"token": _token_levels, "date": _date_levels, "dice": _dice_levels, "events": _event_levels}


def build_comparisons(spec: Spec, left_columns: set[str], right_columns: set[str]) -> list[Comparison]:
    """The spec's comparisons, resolved against the columns both encoded files hold."""
    comparisons = []
    for entry in spec.comparisons:
        name, kind, label = entry.field, entry.kind, entry.name
        if kind == "token":
            coarser, against = entry.coarser, entry.contradicted_by  # e.g. commune, then departement
            labels = ("agree",) if not coarser else (f"same {name}",) + tuple(f"same {w}" for w in coarser)
            if against:
                labels += (f"agree, but {' or '.join(against)} differ",)
            comparisons.append(Comparison(label, kind, labels + ("disagree" if not coarser else "different",),
                                          (name, *coarser), term_frequency=entry.term_frequency,
                                          fields=(name, *coarser, *(columns_of.field_of(c) for c in against)),
                                          contradicted_by=against))
        elif kind == "dice":
            thresholds, swapped = entry.thresholds, entry.swapped_with
            labels = (tuple(f"Dice >= {t:g}" for t in thresholds)
                      + ((f"swapped with {swapped}",) if swapped else ()) + (f"Dice < {thresholds[-1]:g}",))
            comparisons.append(Comparison(label, kind, labels, (name, *entry.coarser), thresholds,
                                          term_frequency=entry.term_frequency,
                                          fields=(name, *entry.coarser, *([swapped] if swapped else [])),
                                          swapped_with=swapped))
        elif kind == "events":
            # wider matches of the field, where the files hold their tokens: levels of their own,
            # so EM learns each weight, and one comparison, since they and the shared-stay count
            # depend on each other (a pair with a shared stay has more stays around it)
            events_field, wider = spec.field(name), []
            if events_field.establishment_groups and columns_of.group(name) in left_columns \
                    and columns_of.group(name) in right_columns:
                wider.append((columns_of.group(name), "at another site of the group"))
            if events_field.wide_tolerance_days and columns_of.wide(name) in left_columns | right_columns:
                days = f"{events_field.tolerance_days + 1}-{events_field.wide_tolerance_days}"
                wider.append((columns_of.wide(name), f"{days} days apart"))
            comparisons.append(Comparison(label, kind, _event_labels(entry.event_levels, [w for _, w in wider]),
                                          (name, *(c for c, _ in wider)), entry.event_levels, fields=(name,)))
        elif kind == "date":
            days = spec.field(name).tolerance_days
            near, swap = columns_of.near(name), columns_of.swapped(name)
            ym, year = columns_of.date_part(name, "year_month"), columns_of.date_part(name, "year")
            options = [(name, name, "exact date"),
                       (near, name, f"within {days} days"), (name, near, f"within {days} days"),
                       (swap, name, "day and month swapped"), (name, swap, "day and month swapped"),
                       (ym, ym, "same year and month"), (year, year, "same year")]
            ways: dict[str, list[str]] = {}  # one level per label, maybe several ways to reach it
            for lcol, rcol, text in options:
                if lcol in left_columns and rcol in right_columns:
                    ways.setdefault(text, []).append(f"{lcol}={rcol}")
            comparisons.append(Comparison(label, kind, tuple(ways) + ("different",),
                                          tuple("|".join(w) for w in ways.values()), fields=(name,)))
    return comparisons


def compare(comparisons: list[Comparison], left: EncodedRecords, right: EncodedRecords, li: np.ndarray,
            ri: np.ndarray) -> np.ndarray:
    """(n_pairs, n_comparisons) int8 levels."""
    out = np.empty((len(li), len(comparisons)), dtype=np.int8)
    for j, c in enumerate(comparisons):
        out[:, j] = c.levels(left, right, li, ri)
    return out
