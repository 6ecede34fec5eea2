"""The attack's algorithms on plain arrays: alignment, overlaps, q-gram positions, decoding.

Everything here works on Bloom filters as ``(n, words)`` uint64 arrays and on a reference
list of (value, probability) the attacker knows; nothing reads files or sees a key.

Bit positions inside this module are *internal*: bit ``j`` of word ``w`` is position
``64 * w + j``. That is a fixed permutation of the encoder's positions, which is all an
attacker needs (the attack never has to name a real position).

1. **Frequency alignment** (Kuzu et al. 2011; Christen et al. 2017), per salt group: the
   distinct filters sorted by how often they occur are aligned rank by rank with the
   reference values sorted by public frequency, within each number of q-grams when an
   unbalanced filter's weight reveals it (as Kuzu et al. use lengths). A pair is kept only
   where frequencies leave no doubt: both rank neighbours in both lists separated by ``z``
   sigmas of Poisson noise, counts within a factor ``tolerance`` of each other.
2. **Overlap check and growth** (Kuzu et al.'s constraints; the similarity graph of
   Vidanage et al. 2019): the common bits of two filters estimate how many q-grams their
   values share (for balanced or folded filters, their Hamming distance does). Rank
   alignment fails wherever the public list's frequencies differ from the file's, so
   only the most reliable pair is kept, and each frequent filter then gets the one value
   whose q-gram overlaps with the aligned values match the filter's overlaps.
3. **Q-gram positions** (Christen et al. 2017): every position a q-gram sets is 1 in
   every filter of a value holding it, so ``g``'s positions are those set in (almost)
   all aligned filters whose value holds ``g`` (a 0 bit rules a position out, as the
   published attack removes "not possible" q-grams); positions of companions seen more
   widely ('NE' for 'IN' in names ending 'INE') are removed.
4. **Decoding**: a filter holds ``g`` when nearly all of ``g``'s learned positions are
   set; it is re-identified when exactly one value of the list holds every decoded q-gram,
   has the filter's number of q-grams, and leaves unexplained about as many bits as its
   q-grams not learned yet would set. Each value gets at most one filter per field and
   salt group (the encoding is deterministic), and new pairs feed step 3 until nothing
   changes: the attack spreads from frequent names to rare ones and, through a shared
   key, from given names to surnames.

Balanced filters are first un-balanced (``complement_partners``, ``orient``); XOR-folded
filters keep no q-gram positions, so only steps 1-2 apply to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from linkage.kernels import (  # one popcount kernel, shared with the linkage engine
    popcount64,
    popcounts,
)

PAD = "_"


@dataclass(frozen=True)
class AttackSettings:
    """Knobs of the attack (defaults follow the published attacks, made robust to noise)."""

    qgram: int = 2                  # q-gram length of the encoding (public: it is in the spec)
    min_count: int = 5              # filters seen fewer times carry no frequency information
    separation_z: float = 2.0       # neighbours in rank must differ by z sigmas of Poisson noise
    tolerance: float = 2.0          # a filter's count within this factor of the value's expected count
    patterns: bool = True           # run steps 2-3 after the frequency alignment
    max_rounds: int = 8             # learn/decode rounds
    learn_fraction: float = 0.95    # a position belongs to g if set in this share of g's filters
    min_positions: int = 8          # fewer learned positions than this: the q-gram is not learned


# --------------------------------------------------------------------------- q-grams


def qgram_list(value: str, q: int) -> list[str]:
    """Padded q-grams of a value, each once (the encoder's scheme, which is public)."""
    padded = PAD * (q - 1) + value + PAD * (q - 1)
    return list(dict.fromkeys(padded[i:i + q] for i in range(len(padded) - q + 1)))


@dataclass
class QgramIndex:
    """Q-gram sets of the reference values of one pool, as CSR over a shared q-gram vocabulary."""

    vocabulary: list[str]
    indptr: np.ndarray   # per value
    indices: np.ndarray  # q-gram ids

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.indptr)


def qgram_index(values_per_field: list[list[str]], q: int) -> tuple[dict[str, int], list[QgramIndex]]:
    vocabulary: dict[str, int] = {}
    out = []
    for values in values_per_field:
        indptr = [0]
        indices: list[int] = []
        for value in values:
            grams = qgram_list(value, q)
            indices.extend(vocabulary.setdefault(g, len(vocabulary)) for g in grams)
            indptr.append(len(indices))
        out.append(QgramIndex([], np.array(indptr, dtype=np.int64), np.array(indices, dtype=np.int64)))
    names = sorted(vocabulary, key=vocabulary.__getitem__)
    for index in out:
        index.vocabulary = names
    return vocabulary, out


# --------------------------------------------------------------------------- kernels


@njit(cache=True)
def _accumulate(counts, support, words, pair_units, pair_values, indptr, indices):
    """counts[g, pos] += 1 for every set bit of every aligned filter whose value holds g."""
    n_words = words.shape[1]
    for p in range(len(pair_units)):
        u = pair_units[p]
        v = pair_values[p]
        for t in range(indptr[v], indptr[v + 1]):
            g = indices[t]
            support[g] += 1
            for w in range(n_words):
                x = words[u, w]
                for j in range(64):
                    if (x >> np.uint64(j)) & np.uint64(1):
                        counts[g, w * 64 + j] += 1


@njit(cache=True, inline="always")
def _holds(word_row, positions_row, size, density):
    """Does a filter hold a q-gram? Nearly all its learned positions must be set: a few
    learned positions may belong to a companion q-gram, but a filter without the q-gram
    sets them only at its own density, far below the bar."""
    if size == 0:
        return False
    hit = 0
    for w in range(len(word_row)):
        hit += popcount64(word_row[w] & positions_row[w])
    bar = density + 4.0 * np.sqrt(density * (1.0 - density) / size)
    bar = max(bar, 0.85)
    return hit >= bar * size


@njit(cache=True, inline="always")
def _density(word_row):
    """Share of a filter's bits that are set."""
    ones = 0
    for w in range(len(word_row)):
        ones += popcount64(word_row[w])
    return ones / (len(word_row) * 64)


@njit(cache=True, parallel=True)
def _explain(words, positions, sizes, checkmask):
    """Per filter: how many set bits (within ``checkmask``) the q-grams it holds do not
    explain, and how many they do."""
    n, n_words = words.shape
    n_learned = positions.shape[0]
    unexplained = np.zeros(n, dtype=np.int64)
    explained = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        density = _density(words[i])
        pred = np.zeros(n_words, dtype=np.uint64)
        for g in range(n_learned):
            if _holds(words[i], positions[g], sizes[g], density):
                for w in range(n_words):
                    pred[w] |= positions[g, w]
        rest = 0
        covered = 0
        for w in range(n_words):
            rest += popcount64(words[i, w] & ~pred[w] & checkmask[w])
            covered += popcount64(pred[w] & words[i, w] & checkmask[w])
        unexplained[i] = rest
        explained[i] = covered
    return unexplained, explained


@njit(cache=True, parallel=True)
def _contains(words, positions, sizes):
    """(filters x learned q-grams) bool: the filter holds the q-gram (see ``_holds``)."""
    n = words.shape[0]
    out = np.zeros((n, positions.shape[0]), dtype=np.bool_)
    for i in prange(n):
        density = _density(words[i])
        for g in range(positions.shape[0]):
            out[i, g] = _holds(words[i], positions[g], sizes[g], density)
    return out


def _pack_internal(mask: np.ndarray) -> np.ndarray:
    """(rows, 64 * words) bool -> (rows, words) uint64 in the internal bit order."""
    rows, bits = mask.shape
    weights = (np.uint64(1) << np.arange(64, dtype=np.uint64))
    blocks = mask.reshape(rows, bits // 64, 64).astype(np.uint64)
    return (blocks * weights).sum(axis=2, dtype=np.uint64)


def _unpack_internal(words: np.ndarray) -> np.ndarray:
    rows, n_words = words.shape
    shifts = np.arange(64, dtype=np.uint64)
    return ((words[:, :, None] >> shifts) & np.uint64(1)).astype(bool).reshape(rows, n_words * 64)


# --------------------------------------------------------------------------- length model


def expected_ones(bits: int, hashes: float, qgrams: np.ndarray) -> np.ndarray:
    """Expected set bits of an unbalanced filter holding ``qgrams`` distinct q-grams."""
    return bits * (1.0 - (1.0 - 1.0 / bits) ** (hashes * np.asarray(qgrams, dtype=float)))


@dataclass
class LengthModel:
    """What an unbalanced filter's number of set bits says about its number of q-grams."""

    bits: int
    hashes: int
    table: np.ndarray  # expected set bits for 0..max q-grams

    def qgrams_of(self, ones: np.ndarray) -> np.ndarray:
        """Most likely number of q-grams per filter, -1 when between two lengths."""
        ones = np.asarray(ones, dtype=float)
        nearest = np.abs(ones[:, None] - self.table[None, :]).argmin(axis=1)
        gaps = np.diff(self.table)
        half_gap = np.minimum(np.r_[gaps[0], gaps][nearest], np.r_[gaps, gaps[-1]][nearest])
        ok = np.abs(ones - self.table[nearest]) <= 0.4 * half_gap
        return np.where(ok, nearest, -1)


def fit_length_model(ones: np.ndarray, weights: np.ndarray, bits: int, ref_sizes: np.ndarray,
                     ref_probs: np.ndarray) -> LengthModel | None:
    """Fit the number of positions per q-gram so the mean set bits match the reference.

    None when the filters are balanced (constant weight), or when no number of positions
    explains the observed weights (e.g. XOR-folded filters): lengths are then not used.
    """
    if len(ones) == 0:
        return None
    mean_ones = float(np.average(ones, weights=weights))
    if np.all(ones == ones[0]):
        return None
    candidates = np.arange(1, 257)
    predicted = np.array([np.sum(ref_probs * expected_ones(bits, h, ref_sizes)) for h in candidates])
    best = int(candidates[np.abs(predicted - mean_ones).argmin()])
    table = expected_ones(bits, best, np.arange(0, int(ref_sizes.max(initial=1)) + 3))
    model = LengthModel(bits, best, table)
    # the model must explain most filters: otherwise (folding, other schemes) do not use lengths
    explained = np.average(model.qgrams_of(ones) >= 0, weights=weights)
    if explained < 0.6:
        return None
    return model


# --------------------------------------------------------------------------- step 1


def _separated(sorted_values: np.ndarray, k: int, z: float) -> bool:
    """Is the k-th of counts sorted in decreasing order distinct from both neighbours?"""
    x = sorted_values[k]
    for other in (k - 1, k + 1):
        if 0 <= other < len(sorted_values):
            y = sorted_values[other]
            if abs(x - y) < z * np.sqrt(max(x + y, 1e-9)):
                return False
    return True


def align_by_frequency(unit_counts: np.ndarray, unit_classes: np.ndarray, ref_expected: np.ndarray,
                       ref_classes: np.ndarray, settings: AttackSettings) -> list[tuple[int, int]]:
    """Rank-align frequent filters with frequent values within each length class.

    ``unit_classes``/``ref_classes``: number of q-grams (all 0 when lengths are unknown;
    -1 = unknown length, never aligned). ``ref_expected``: expected count of each value in
    this group. Returns (unit, value) pairs whose alignment is unambiguous.
    """
    pairs = []
    for cls in np.unique(unit_classes[unit_classes >= 0]):
        units = np.flatnonzero(unit_classes == cls)
        units = units[np.argsort(-unit_counts[units], kind="stable")]
        units = units[unit_counts[units] >= settings.min_count]
        if not len(units):
            continue
        refs = np.flatnonzero(ref_classes == cls)
        refs = refs[np.argsort(-ref_expected[refs], kind="stable")][: len(units) + 1]
        if not len(refs):
            continue
        counts = unit_counts[units].astype(float)
        expected = ref_expected[refs]
        for k in range(min(len(units), len(refs))):
            ratio = counts[k] / max(expected[k], 1e-9)
            if not (1.0 / settings.tolerance <= ratio <= settings.tolerance):
                continue
            if _separated(counts, k, settings.separation_z) and _separated(expected, k, settings.separation_z):
                pairs.append((int(units[k]), int(refs[k])))
    return pairs


# --------------------------------------------------------------------------- step 1b


@njit(cache=True)
def _common_bits(a, b):
    out = np.zeros((a.shape[0], b.shape[0]), dtype=np.int64)
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            total = 0
            for w in range(a.shape[1]):
                total += popcount64(a[i, w] & b[j, w])
            out[i, j] = total
    return out


def shared_qgram_estimates(words: np.ndarray, classes: np.ndarray, model: LengthModel) -> np.ndarray:
    """Estimated number of q-grams two unbalanced filters share, from their common set bits.

    With ``k`` positions per q-gram and ``r = (1 - 1/m)^k``, two filters of ``s + a`` and
    ``s + b`` q-grams sharing ``s`` have about ``m(1 - r^s) + m r^s (1 - r^a)(1 - r^b)``
    common bits; the estimate is the ``s`` whose expectation is nearest.
    """
    m = model.bits
    r = (1.0 - 1.0 / m) ** model.hashes
    common = _common_bits(words, words).astype(float)
    top = int(max(classes.max(initial=0), 0)) + 1
    s = np.arange(top)
    bi = classes[:, None, None].astype(float)
    bj = classes[None, :, None].astype(float)
    a = np.maximum(bi - s, 0)
    b = np.maximum(bj - s, 0)
    expected = m * (1 - r ** s) + m * r ** s * (1 - r ** a) * (1 - r ** b)
    possible = s[None, None, :] <= np.minimum(bi, bj)
    error = np.where(possible, np.abs(common[:, :, None] - expected), np.inf)
    return error.argmin(axis=2)


def _overlaps(index: QgramIndex, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Exact number of shared q-grams between reference values ``rows`` and ``cols``."""
    from scipy.sparse import csr_matrix

    n_qgrams = int(index.indices.max(initial=-1)) + 1
    matrix = csr_matrix((np.ones(len(index.indices), dtype=np.int32), index.indices, index.indptr),
                        shape=(len(index.sizes), max(n_qgrams, 1)))
    return (matrix[rows] @ matrix[cols].T).toarray()


def refine_alignment(words: np.ndarray, counts: np.ndarray, classes: np.ndarray, seeds: np.ndarray,
                     index: QgramIndex, expected: np.ndarray, model: LengthModel, settings: AttackSettings,
                     max_units: int = 400, widen: float = 4.0) -> np.ndarray:
    """Re-derive the alignment of frequent filters from their pairwise overlaps.

    The overlap of two unbalanced filters tells how many q-grams their values share
    (Kuzu et al.'s constraints; the similarity graph of Vidanage et al.). Rank alignment
    goes wrong as soon as the public list's frequencies differ from the file's (a list for
    all of France, a file of older women), so only the most reliable pair is kept: the
    first aligned pair of the most frequent filter. From there, each frequent filter is
    given a value when exactly one value of its length and of a plausible frequency (within
    a factor ``widen``) shares with every aligned value the number of q-grams the filters
    share (within one), and the aligned set grows until nothing more fits.
    """
    frequent = np.flatnonzero((counts >= settings.min_count) & (classes >= 0))
    frequent = frequent[np.argsort(-counts[frequent], kind="stable")][:max_units]
    if len(frequent) < 3:
        return seeds.copy()
    estimate = shared_qgram_estimates(words[frequent], classes[frequent], model)
    value = np.full(len(frequent), -1, dtype=np.int64)
    first = np.flatnonzero(seeds[frequent] >= 0)
    if not len(first):
        return seeds.copy()
    value[first[0]] = seeds[frequent[first[0]]]
    candidates_of = []
    for k in range(len(frequent)):
        c = counts[frequent[k]]
        candidates_of.append(np.flatnonzero((index.sizes == classes[frequent[k]]) & (expected * widen >= c)
                                            & (expected <= c * widen)))
    def fits(k: int, candidates: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        diff = np.abs(_overlaps(index, candidates, value[anchors]) - estimate[k, anchors][None, :])
        return np.flatnonzero((diff.max(axis=1) <= 1) & (diff.sum(axis=1) <= 1 + 0.15 * len(anchors)))

    return _grow_alignment(value, candidates_of, fits, frequent, len(words))


def _grow_alignment(value: np.ndarray, candidates_of: list[np.ndarray], fits, frequent: np.ndarray,
                    n_units: int) -> np.ndarray:
    """Grow an alignment of frequent units to names from its anchors (``value`` >= 0), in place:
    each unaligned unit takes the one free candidate that ``fits(k, candidates, anchors)``
    against every anchor, when no other unit claims the same name; repeat until stable.
    Returns the names per unit of the whole file (-1 where none)."""
    while True:
        anchors = np.flatnonzero(value >= 0)
        taken = set(value[anchors].tolist())
        resolved: dict[int, list[int]] = {}
        for k in np.flatnonzero(value < 0):
            candidates = np.array([v for v in candidates_of[k] if v not in taken], dtype=np.int64)
            if not len(candidates):
                continue
            found = fits(k, candidates, anchors)
            if len(found) == 1:
                resolved.setdefault(int(candidates[found[0]]), []).append(int(k))
        added = [(ks[0], v) for v, ks in resolved.items() if len(ks) == 1]
        if not added:
            break
        for k, v in added:
            value[k] = v
    out = np.full(n_units, -1, dtype=np.int64)
    out[frequent] = value
    return out


# --------------------------------------------------------------------------- steps 2-3


@dataclass
class Learned:
    positions: np.ndarray   # (n_learned, words) uint64
    qgrams: np.ndarray      # their ids in the vocabulary
    per_qgram: float        # typical number of positions of one q-gram

    @property
    def sizes(self) -> np.ndarray:
        return popcounts(self.positions) if len(self.positions) else np.zeros(0, dtype=np.int64)


def learn_positions(words: np.ndarray, pair_units: np.ndarray, pair_values: np.ndarray, index: QgramIndex,
                    n_qgrams: int, settings: AttackSettings) -> Learned:
    """Positions of each q-gram: set in (almost) every aligned filter whose value contains it."""
    n_bits = words.shape[1] * 64
    counts = np.zeros((n_qgrams, n_bits), dtype=np.int32)
    support = np.zeros(n_qgrams, dtype=np.int64)
    if len(pair_units):
        _accumulate(counts, support, words, pair_units.astype(np.int64), pair_values.astype(np.int64),
                    index.indptr, index.indices)
    seen = np.flatnonzero(support >= 2)
    # a few wrong pairs must not erase a q-gram's positions: from 8 filters on, a position
    # may miss a share (1 - learn_fraction) of them, and at least one
    n = support[seen]
    allowed_misses = np.where(n >= 8, np.maximum(1, np.floor((1.0 - settings.learn_fraction) * n)), 0)
    mask = counts[seen] >= (n - allowed_misses)[:, None]
    mask = _trim_companions(mask, seen, n, allowed_misses, pair_values, index, n_qgrams)
    sizes = mask.sum(axis=1)
    well_supported = sizes[n >= 10]
    if len(well_supported):
        per_qgram = float(np.median(well_supported))
    elif len(sizes):
        per_qgram = float(sizes.min())
    else:
        per_qgram = 0.0
    # a q-gram seen in few filters keeps positions of its companions: learned only once its
    # position set has shrunk to about one q-gram's worth
    keep = (sizes >= settings.min_positions) & (sizes <= 1.5 * per_qgram) & (per_qgram >= settings.min_positions)
    return Learned(_pack_internal(mask[keep]), seen[keep], per_qgram)


def _trim_companions(mask: np.ndarray, seen: np.ndarray, support: np.ndarray, allowed_misses: np.ndarray,
                     pair_values: np.ndarray, index: QgramIndex, n_qgrams: int) -> np.ndarray:
    """Remove from each q-gram's positions those of its companions.

    When q-gram ``c`` was present in (almost) all the aligned values holding ``g`` ('NE'
    in names ending 'INE'), ``c``'s positions pass ``g``'s threshold too. A companion seen
    more widely than ``g`` has cleaner positions of its own: they are removed from ``g``'s,
    most widely seen first (a few of ``g``'s own positions that collide go with them).
    """
    from scipy.sparse import csr_matrix

    if not len(seen):
        return mask
    rows = np.repeat(np.arange(len(pair_values)), index.sizes[pair_values])
    cols = np.concatenate([index.indices[index.indptr[v]:index.indptr[v + 1]] for v in pair_values]) \
        if len(pair_values) else np.zeros(0, dtype=np.int64)
    incidence = csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(pair_values), n_qgrams))
    together = (incidence[:, seen].T @ incidence[:, seen]).toarray()
    trimmed = mask.copy()
    for k in np.argsort(-support, kind="stable"):
        companions = np.flatnonzero((together[k] >= 0.6 * support[k]) & (support > support[k]))
        for c in companions:
            trimmed[k] &= ~trimmed[c]
    return trimmed


def complement_columns(words: np.ndarray) -> np.ndarray:
    """Internal positions whose column is the exact complement of another one (balanced filters)."""
    n_bits = words.shape[1] * 64
    if len(words) < 16:
        return np.zeros(n_bits, dtype=bool)
    columns = _unpack_internal(words).T
    packed = np.packbits(columns, axis=1)
    flipped = np.packbits(~columns, axis=1)
    present = {row.tobytes() for row in packed}
    return np.array([row.tobytes() in present for row in flipped], dtype=bool)


@njit(cache=True, parallel=True)
def _match(contains, learned_global, learned_slot, classes, rest, one_more, per_qgram,
           v_indptr, v_indices, inv_indptr, inv_indices, sizes):
    """Per unit, the one reference value its decoded q-grams fit (-1: none or several).

    ``v`` fits when it holds every decoded q-gram (a decoded q-gram is near-certain), at
    most one of its learned q-grams failed to decode (learned positions may still carry a
    few of a companion's), its number of q-grams is the filter's (when known), and the
    unexplained bits match the ``k`` q-grams of ``v`` not seen: about none for ``k = 0``,
    about ``k`` q-grams' worth of new bits otherwise.
    """
    n_units, n_learned = contains.shape
    guess = np.full(n_units, -1, dtype=np.int64)
    for i in prange(n_units):
        decoded = 0
        rare = -1
        rare_count = 1 << 62
        for g in range(n_learned):
            if contains[i, g]:
                decoded += 1
                gg = learned_global[g]
                c = inv_indptr[gg + 1] - inv_indptr[gg]
                if c < rare_count:
                    rare_count = c
                    rare = gg
        b = classes[i]
        if decoded < 2 or (b >= 0 and 3 * decoded < b):
            continue
        found = -1
        n_found = 0
        for t in range(inv_indptr[rare], inv_indptr[rare + 1]):
            v = inv_indices[t]
            size = v_indptr[v + 1] - v_indptr[v]
            if b >= 0 and size != b:
                continue
            held = 0
            missed = 0
            unknown = 0
            for r in range(v_indptr[v], v_indptr[v + 1]):
                slot = learned_slot[v_indices[r]]
                if slot < 0:
                    unknown += 1
                elif contains[i, slot]:
                    held += 1
                else:
                    missed += 1
            if held != decoded or missed > 1:
                continue
            k = unknown + missed
            if b < 0 and k > 1:
                continue
            if k == 0:
                ok = rest[i] <= 0.2 * per_qgram
            else:
                ok = rest[i] >= 0.4 * k * one_more[i] and rest[i] <= 1.8 * k * one_more[i]
            if ok:
                n_found += 1
                found = v
                if n_found > 1:
                    break
        if n_found == 1:
            guess[i] = found
    return guess


@dataclass
class FieldIndex:
    """A field's reference q-gram sets both ways: value -> q-grams and q-gram -> values."""

    index: QgramIndex
    inv_indptr: np.ndarray
    inv_indices: np.ndarray

    @classmethod
    def build(cls, index: QgramIndex, n_qgrams: int) -> FieldIndex:
        value_of = np.repeat(np.arange(len(index.sizes)), index.sizes)
        order = np.argsort(index.indices, kind="stable")
        counts = np.bincount(index.indices, minlength=n_qgrams)
        return cls(index, np.r_[0, np.cumsum(counts)].astype(np.int64), value_of[order].astype(np.int64))


def decode_units(words: np.ndarray, learned: Learned, paired: np.ndarray, unit_field: np.ndarray,
                 fields: list[FieldIndex], per_qgram: float, unit_classes: np.ndarray | None = None) -> np.ndarray:
    """Value per unit (-1 none) from the learned positions (see ``_match``)."""
    n_units, n_words = words.shape
    n_bits = n_words * 64
    guess = np.full(n_units, -1, dtype=np.int64)
    if not len(learned.qgrams) or not n_units:
        return guess
    if unit_classes is None:
        unit_classes = np.full(n_units, -1, dtype=np.int64)
    used = _unpack_internal(learned.positions).any(axis=0)
    # on balanced filters, the complement half carries no q-gram: check only positions some
    # learned q-gram sets, and unpaired positions (unbalanced filters have no pairs)
    check = ~paired | used
    checkmask = _pack_internal(check.reshape(1, n_bits))[0]
    sizes = learned.sizes
    unexplained, explained = _explain(words, learned.positions, sizes, checkmask)
    contains = _contains(words, learned.positions, sizes)
    checked = max(int(check.sum()), 1)
    one_more = per_qgram * (1.0 - explained / checked)  # new bits expected from one more q-gram
    n_qgrams = len(fields[0].inv_indptr) - 1 if fields else 0
    slot = np.full(n_qgrams, -1, dtype=np.int64)
    slot[learned.qgrams] = np.arange(len(learned.qgrams))
    for f, field in enumerate(fields):
        units = np.flatnonzero(unit_field == f)
        if not len(units):
            continue
        guess[units] = _match(contains[units], learned.qgrams.astype(np.int64), slot, unit_classes[units],
                              unexplained[units].astype(np.float64), one_more[units].astype(np.float64),
                              float(per_qgram), field.index.indptr, field.index.indices, field.inv_indptr,
                              field.inv_indices, field.index.sizes)
    return guess


def resolve_one_to_one(proposal: np.ndarray, previous: np.ndarray, unit_field: np.ndarray,
                       unit_counts: np.ndarray) -> np.ndarray:
    """A deterministic encoding gives each value one filter (per field and salt group): when
    several filters claim a value, keep the one that held it already, else the clearly most
    frequent one (twice the next: the others are typing variants), else none."""
    out = proposal.copy()
    claimed = np.flatnonzero(proposal >= 0)
    if not len(claimed):
        return out
    key = unit_field[claimed] * (int(proposal.max()) + 1) + proposal[claimed]
    order = np.lexsort((-unit_counts[claimed], key))
    claimed, key = claimed[order], key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    for a, b in zip(starts, ends):
        if b - a == 1:
            continue
        group = claimed[a:b]
        holders = group[previous[group] == proposal[group]]
        if len(holders) == 1:
            keep = holders[0]
        elif unit_counts[group[0]] >= 2 * unit_counts[group[1]]:
            keep = group[0]
        else:
            keep = -1
        out[group[group != keep]] = -1
    return out


@dataclass
class GroupResult:
    frequency_guess: np.ndarray  # value per unit from the alignment alone (-1 none)
    final_guess: np.ndarray      # value per unit after the pattern rounds (-1 none)
    rounds: int
    learned_qgrams: int


def attack_group(words: np.ndarray, unit_counts: np.ndarray, unit_field: np.ndarray, unit_classes: np.ndarray,
                 ref_expected: list[np.ndarray], ref_classes: list[np.ndarray], indexes: list[QgramIndex],
                 n_qgrams: int, settings: AttackSettings, models: list[LengthModel | None] | None = None,
                 distance_schemes: list[tuple | None] | None = None) -> GroupResult:
    """Run the attack on the distinct filters ("units") of one salt group of one key pool.

    ``models``: per field, the length model of unbalanced filters (None: lengths unknown).
    ``distance_schemes``: per field without a length model, ``(model, balanced, folded)``
    when the encoding's parameters are known, to check the alignment with distances.
    """
    n_units = len(words)
    seeds = np.full(n_units, -1, dtype=np.int64)
    for f in range(len(indexes)):
        units = np.flatnonzero(unit_field == f)
        for u, v in align_by_frequency(unit_counts[units], unit_classes[units], ref_expected[f], ref_classes[f],
                                       settings):
            seeds[units[u]] = v
    result = GroupResult(seeds.copy(), seeds.copy(), 0, 0)
    if not settings.patterns:
        return result
    models = list(models or [None] * len(indexes))
    schemes = list(distance_schemes or [None] * len(indexes))
    for f, model in enumerate(models):
        units = np.flatnonzero(unit_field == f)
        if model is not None:
            seeds[units] = refine_alignment(words[units], unit_counts[units], unit_classes[units], seeds[units],
                                            indexes[f], ref_expected[f], model, settings)
        elif schemes[f] is not None:
            known, balanced, folded = schemes[f]
            seeds[units] = refine_by_distance(np.ascontiguousarray(words[units]), unit_counts[units], seeds[units],
                                              indexes[f], ref_expected[f], known, settings, balanced=balanced,
                                              folded=folded)
    result.final_guess = seeds.copy()
    if not (seeds >= 0).any():
        return result
    paired = complement_columns(words)
    merged_indptr, merged_indices, offsets = _merge_indexes(indexes)
    merged = QgramIndex([], merged_indptr, merged_indices)
    fitted = [m for m in models if m is not None]
    field_indexes = [FieldIndex.build(ix, n_qgrams) for ix in indexes]
    classes_known = np.where(np.isin(unit_field, [f for f, m in enumerate(models) if m is not None]), unit_classes, -1)
    current = seeds.copy()
    for round_number in range(1, settings.max_rounds + 1):
        # one learning pass over the pairs of all fields sharing the key: q-gram ids are
        # shared, value ids are per field (offsets into the merged CSR)
        pair_units = np.flatnonzero(current >= 0)
        values = current[pair_units] + offsets[unit_field[pair_units]]
        learned = learn_positions(words[pair_units], np.arange(len(pair_units)), values, merged, n_qgrams,
                                  settings)
        per_qgram = float(fitted[0].table[1]) if fitted else learned.per_qgram
        guess = decode_units(words, learned, paired, unit_field, field_indexes, per_qgram, classes_known)
        # earlier pairs survive unless the learned positions contradict them
        kept = (current >= 0) & _consistent(words, current, unit_field, learned, indexes, n_qgrams)
        proposal = np.where(guess >= 0, guess, np.where(kept, current, -1))
        updated = resolve_one_to_one(proposal, current, unit_field, unit_counts)
        result.rounds, result.learned_qgrams = round_number, len(learned.qgrams)
        if np.array_equal(updated, current):
            break
        current = updated
    result.final_guess = current
    return result


def _merge_indexes(indexes: list[QgramIndex]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sizes = [len(ix.sizes) for ix in indexes]
    offsets = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
    indices = np.concatenate([ix.indices for ix in indexes])
    lengths = np.concatenate([ix.sizes for ix in indexes])
    indptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    return indptr, indices, offsets


def _consistent(words: np.ndarray, assigned: np.ndarray, unit_field: np.ndarray, learned: Learned,
                indexes: list[QgramIndex], n_qgrams: int) -> np.ndarray:
    """Pairs the learned positions do not contradict.

    Only positive evidence counts: a filter holding all positions of a learned q-gram its
    value lacks (chance cannot do that with tens of positions). A learned q-gram of the
    value that does not decode proves little while its positions still include those of
    its usual companions.
    """
    out = np.ones(len(assigned), dtype=bool)
    units = np.flatnonzero(assigned >= 0)
    if not len(units) or not len(learned.qgrams):
        return out
    inside = _contains(words[units], learned.positions, learned.sizes)
    position_of = np.full(n_qgrams, -1, dtype=np.int64)
    position_of[learned.qgrams] = np.arange(len(learned.qgrams))
    for k, u in enumerate(units):
        index = indexes[unit_field[u]]
        grams = index.indices[index.indptr[assigned[u]]:index.indptr[assigned[u] + 1]]
        own = np.zeros(len(learned.qgrams), dtype=bool)
        own[position_of[grams][position_of[grams] >= 0]] = True
        out[u] = not np.any(inside[k] & ~own)
    return out


# --------------------------------------------------------------------------- balanced filters


def complement_partners(words: np.ndarray, sample: int = 20000, seed: int = 0) -> np.ndarray | None:
    """For balanced filters, each internal position's complement position; None if not balanced.

    A balanced filter is the filter and its complement, permuted: every original position
    and its complement give two columns that are exact complements over all filters.
    """
    n, n_words = words.shape
    bits = n_words * 64
    if n < 32 or bits % 128 or not np.all(popcounts(words) == bits // 2):
        return None
    distinct = np.unique(words.view(np.dtype((np.void, 8 * n_words))).ravel(), return_index=True)[1]
    rows = np.random.default_rng(seed).choice(distinct, size=min(len(distinct), sample), replace=False)
    if len(rows) < 32:
        return None
    columns = _unpack_internal(words[rows])
    packed = np.packbits(columns.T, axis=1)
    flipped = np.packbits(~columns.T, axis=1)
    where = {row.tobytes(): i for i, row in enumerate(packed)}
    partner = np.array([where.get(row.tobytes(), -1) for row in flipped], dtype=np.int64)
    if np.mean(partner >= 0) < 0.95:
        return None
    return partner


def orient(words: np.ndarray, partner: np.ndarray, sample: int = 20000, seed: int = 0) -> np.ndarray:
    """One column of each complement pair, all originals or all complements.

    A longer name sets more original positions everywhere, so over distinct filters the
    original columns are positively correlated with each other and with the filter's
    original weight; their complements negatively. The first principal component gives a
    first orientation, refined until every chosen column correlates positively with the
    weight of the chosen columns. Which of the two global orientations is the original is
    left to the caller (the weight distribution tells, see ``length_fit``).
    """
    n_words = words.shape[1]
    distinct = np.unique(words.view(np.dtype((np.void, 8 * n_words))).ravel(), return_index=True)[1]
    rows = np.random.default_rng(seed).choice(distinct, size=min(len(distinct), sample), replace=False)
    first = np.flatnonzero((partner > np.arange(len(partner))) | (partner < 0))
    chosen = _unpack_internal(words[rows])[:, first].astype(np.float64)
    centred = chosen - chosen.mean(axis=0)
    loading = np.ones(len(first))
    for _ in range(100):
        loading = centred.T @ (centred @ loading)
        loading /= np.linalg.norm(loading) or 1.0
    sign = np.where(loading >= 0, 1, -1)
    for _ in range(30):
        oriented = np.where(sign > 0, chosen, 1.0 - chosen)
        weight = oriented.sum(axis=1)
        corr = (oriented - oriented.mean(axis=0)).T @ (weight - weight.mean())
        new_sign = np.where(corr >= 0, sign, -sign)
        if np.array_equal(new_sign, sign):
            break
        sign = new_sign
    return np.where((sign > 0) | (partner[first] < 0), first, partner[first])


def length_fit(ones: np.ndarray, weights: np.ndarray, model: LengthModel) -> float:
    """Share of filters whose weight sits on a number of q-grams the model predicts."""
    return float(np.average(model.qgrams_of(ones) >= 0, weights=weights)) if len(ones) else 0.0


def unbalance(words: np.ndarray, columns: np.ndarray, chunk: int = 20000) -> np.ndarray:
    """Filters reduced to the chosen (original) columns: unbalanced again, half as long."""
    n = len(words)
    width = len(columns) + (-len(columns)) % 64
    out = np.zeros((n, width // 64), dtype=np.uint64)
    for start in range(0, n, chunk):
        block = np.zeros((min(chunk, n - start), width), dtype=bool)
        block[:, :len(columns)] = _unpack_internal(words[start:start + chunk])[:, columns]
        out[start:start + chunk] = _pack_internal(block)
    return out


def expected_distance(model: LengthModel, b1: np.ndarray, b2: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """Expected Hamming distance between the original filters of values of ``b1`` and ``b2``
    q-grams sharing ``shared`` of them."""
    m = model.bits
    r = (1.0 - 1.0 / m) ** model.hashes
    a = np.maximum(b1 - shared, 0)
    b = np.maximum(b2 - shared, 0)
    common = m * (1 - r ** shared) + m * r ** shared * (1 - r ** a) * (1 - r ** b)
    return expected_ones(m, model.hashes, b1) + expected_ones(m, model.hashes, b2) - 2 * common


def observed_distance(d: np.ndarray, bits: int, balanced: bool, folded: bool) -> np.ndarray:
    """Expected Hamming distance between two hardened filters whose originals (``bits`` long)
    are ``d`` apart: balancing doubles it; XOR-folding keeps a position different when
    exactly one of its two source positions is, i.e. ``D (1 - D / n)`` of ``n`` positions."""
    d = np.asarray(d, dtype=float)
    total = 2 * bits if balanced else bits
    d = 2 * d if balanced else d
    return d * (1 - d / total) if folded else d


def refine_by_distance(words: np.ndarray, counts: np.ndarray, seeds: np.ndarray, index: QgramIndex,
                       expected: np.ndarray, model: LengthModel, settings: AttackSettings,
                       max_units: int = 400, widen: float = 4.0, balanced: bool = True, folded: bool = False
                       ) -> np.ndarray:
    """``refine_alignment`` for filters whose weight hides the length (balanced, folded).

    The Hamming distance between two such filters follows from the distance between the
    original ones, whose expectation follows from the values' numbers of q-grams and the
    number they share (the similarity graph of Vidanage et al.): a value fits a filter when
    every distance to an aligned filter is within three spreads of what it predicts, the
    spread being the sampling noise of hash collisions (about 20 bits of an original
    distance) carried through balancing and folding, plus the folding's own noise.
    """
    frequent = np.flatnonzero(counts >= settings.min_count)
    frequent = frequent[np.argsort(-counts[frequent], kind="stable")][:max_units]
    first = np.flatnonzero(seeds[frequent] >= 0)
    if len(frequent) < 3 or not len(first):
        return seeds.copy()
    sub = np.ascontiguousarray(words[frequent])
    ones = popcounts(sub)
    distance = (ones[:, None] + ones[None, :] - 2 * _common_bits(sub, sub)).astype(float)
    value = np.full(len(frequent), -1, dtype=np.int64)
    value[first[0]] = seeds[frequent[first[0]]]
    sizes = index.sizes
    candidates_of = [np.flatnonzero((expected * widen >= counts[u]) & (expected <= counts[u] * widen))
                     for u in frequent]
    def fits(k: int, candidates: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        shared = _overlaps(index, candidates, value[anchors])
        original = expected_distance(model, sizes[candidates][:, None], sizes[value[anchors]][None, :], shared)
        predicted = observed_distance(original, model.bits, balanced, folded)
        slope = np.abs(observed_distance(original + 1, model.bits, balanced, folded) - predicted)
        spread = np.sqrt((20.0 * slope) ** 2 + (predicted if folded else 0.0))
        z = np.abs(distance[k, anchors][None, :] - predicted) / np.maximum(spread, 1.0)
        return np.flatnonzero((z.max(axis=1) <= 3.0) & (z.mean(axis=1) <= 1.5))

    return _grow_alignment(value, candidates_of, fits, frequent, len(words))
