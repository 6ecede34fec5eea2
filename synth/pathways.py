"""Claims of synthetic patients as care pathways: per kind of care, from the patient's own treatments.

Generating claims row by row from one model per stratum of cancer × stage × follow-up (the
previous design) gave chemotherapy sessions to 60% of patients who had no chemotherapy and
day sessions lasting nights. Here each claim belongs to a kind of care read from its codes
(:mod:`synth.care_rules`: surgery, chemotherapy session, radiotherapy session, palliative
stay, hormone therapy, oral targeted therapy...), and for each kind:

1. **how many**: the number of claims of that kind per patient is drawn from the real
   patients of the same stratum — whether the patient has a treatment the kind requires
   (a chemotherapy session requires chemotherapy or a targeted therapy), cancer, stage,
   death and follow-up band, coarsened when a stratum holds fewer than ``MIN_PATIENTS``
   real patients but never across the treatment: a patient without the treatment gets as
   many sessions as real patients without it have (none, where the world has none);
2. **when**: the first claim's day (from the window start, or for kinds anchored at the
   end of follow-up such as palliative care, before it) and the gaps between consecutive
   claims of the kind are drawn from the real ones' quantiles (by cancer × stage,
   × follow-up band, coarsened likewise), linearly interpolated, so cycles keep their
   rhythm and the time from diagnosis to the first session keeps its distribution; a claim
   that would fall past the patient's window is placed at a uniform day within it (the
   count is the model's, and care volume matters to costs); the first claims of the
   treatment kinds (surgery, chemotherapy and radiotherapy sessions, hormone and oral
   targeted therapy) are drawn jointly: the order in which they start (surgery then
   chemotherapy, or neoadjuvant chemotherapy first...) from the real patients with the same
   cancer and the same treatment kinds, and each start day from the real ones of that order;
3. **what**: the claim's own columns (length of stay, diagnosis and GHM for stays; drug and
   quantity for dispensings) from a small SDV GaussianCopula per kind × cancer type (per
   kind below ``MIN_ROWS`` rows); the cost given what the claim is (GHM × length-of-stay
   band; drug × boxes), from the real costs' quantiles of that group, as tariffs work; lengths of stay and quantities are small
   whole numbers whose exact frequencies matter (a copula's continuous margin smears them),
   so they are modelled as categories; day sessions last 0 nights by rule.

Every claim therefore lies in its patient's window (stays from ``WORKUP_DAYS`` before
diagnosis, dispensings from diagnosis, to the end of follow-up).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth.care_rules import DISPENSING_KINDS, STAY_KINDS, CareKind, kinds_of
from synth.generators import draw, fit_synthesizer, single_table_synthesizer
from synth.schema import PATIENT_ID, WORKUP_DAYS, column_order
from synth.strata import assign_strata, draw_from_counts, fit_strata, with_bands
from synth.topcoding import TopCoding, cap_count_column, code_costs

MIN_PATIENTS = 50
MIN_ROWS = 200
MAX_TRAINING_ROWS = 20_000
COUNT_STRATA = (("eligible", "cancer_type", "stage", "death", "followup_band"),
                ("eligible", "cancer_type", "death", "followup_band"), ("eligible", "cancer_type"), ("eligible",))
TIMING_STRATA = (("cancer_type", "stage", "followup_band"), ("cancer_type", "followup_band"), ("followup_band",), ())
ATTRIBUTE_STRATA = (("cancer_type",), ())
MIN_COST_ROWS = 50
PATHWAY_KINDS = ("surgery", "chemotherapy_session", "radiotherapy_session", "hormone_therapy", "targeted_oral")
ORDER_STRATA = (("cancer_type", "pathway_kinds"), ("pathway_kinds",))
_QUANTILES = np.linspace(0, 1, 201)
LAST_MONTH = 30


@dataclass(frozen=True)
class ClaimTable:
    name: str
    date_column: str
    window_start_days: int           # the window opens this many days before diagnosis
    columns: dict[str, str]          # the claim's own modelled columns: {name: sdtype}
    kinds: tuple[CareKind, ...]
    cost_groups: tuple[tuple[str, ...], ...]  # what a claim's cost is drawn given, finest first

    def cost_frame(self, attributes: pd.DataFrame) -> pd.DataFrame:
        """The columns a cost is drawn given (length of stay in bands: tariffs add a supplement per night)."""
        frame = attributes.drop(columns=["cost_eur"], errors="ignore").copy()
        if "length_of_stay" in frame.columns:
            frame["los_band"] = np.searchsorted(LOS_BANDS, frame["length_of_stay"].astype(float), side="right")
        else:
            frame["los_band"] = 0
        return frame

    def attributes(self, claims: pd.DataFrame, care: CareKind) -> tuple[pd.DataFrame, dict[str, str]]:
        columns = {c: t for c, t in self.columns.items()
                   if c != "cost_eur" and not (care.day_session and c == "length_of_stay")}
        frame = claims[[c for c in columns if c != "length_of_stay"]].copy()
        if "length_of_stay" in columns:
            frame["length_of_stay"] = (claims["discharge_date"] - claims["admission_date"]).dt.days
        return frame[list(columns)].reset_index(drop=True), columns


TABLES = (
    ClaimTable("stays", "admission_date", WORKUP_DAYS,
               {"length_of_stay": "categorical", "main_diagnosis": "categorical", "ghm": "categorical",
                "cost_eur": "numerical"}, STAY_KINDS, (("ghm", "los_band"), ("ghm",), ())),
    ClaimTable("dispensings", "dispensing_date", 0,
               {"atc_code": "categorical", "quantity": "categorical", "cost_eur": "numerical"}, DISPENSING_KINDS,
               (("atc_code", "quantity"), ("atc_code",), ())),
)
LOS_BANDS = (1, 3, 6, 11, 21)


def _eligible(patients: pd.DataFrame, care: CareKind) -> pd.Series:
    if not care.requires:
        return pd.Series(True, index=patients.index)
    return patients[list(care.requires)].fillna(False).astype(bool).any(axis=1)


def _offsets(claims: pd.DataFrame, people: pd.DataFrame, table: ClaimTable, care: CareKind) -> pd.Series:
    """Each claim's day: from the window start, or (end-anchored kinds) before the end of follow-up."""
    if care.anchor == "end":
        return (claims[PATIENT_ID].map(people["end_of_followup"]) - claims[table.date_column]).dt.days
    start = people["diagnosis_date"] - pd.Timedelta(days=table.window_start_days)
    return (claims[table.date_column] - claims[PATIENT_ID].map(start)).dt.days


def _quantiles(values: np.ndarray) -> list[float]:
    return np.quantile(values, _QUANTILES).round(3).tolist() if len(values) else []


def _fit_timing(days: pd.Series, owners: pd.Series, patients: pd.DataFrame) -> dict:
    """Quantiles of the first claim's day and of the gaps between consecutive claims, by timing stratum."""
    frame = pd.DataFrame({PATIENT_ID: owners.to_numpy(), "day": days.to_numpy()}).sort_values(
        [PATIENT_ID, "day"], kind="stable")
    first = frame.groupby(PATIENT_ID)["day"].min()
    gaps = frame["day"].diff().where(frame[PATIENT_ID].eq(frame[PATIENT_ID].shift()))
    frame["gap"] = gaps
    with_claims = patients[patients[PATIENT_ID].isin(first.index)]
    strata = fit_strata(with_claims, TIMING_STRATA, MIN_PATIENTS).set_axis(with_claims[PATIENT_ID])
    frame["stratum"] = frame[PATIENT_ID].map(strata)
    timing = {}
    for name in sorted(strata.unique()):
        members = strata.index[strata == name]
        gap_values = frame.loc[frame["stratum"] == name, "gap"].dropna().to_numpy()
        timing[name] = {"first": _quantiles(first[members].to_numpy(float)), "gaps": _quantiles(gap_values)}
    everyone = frame["gap"].dropna().to_numpy()
    for entry in timing.values():  # a stratum whose patients have one claim each borrows the overall gaps
        if not entry["gaps"]:
            entry["gaps"] = _quantiles(everyone) or [0.0] * len(_QUANTILES)
    return timing


def _first_days(tables: dict[str, pd.DataFrame], patients: pd.DataFrame) -> pd.DataFrame:
    """Per patient (rows of ``patients``), the day after diagnosis of their first claim of each pathway kind."""
    diagnosis = patients.set_index(PATIENT_ID)["diagnosis_date"]
    out = pd.DataFrame(index=patients[PATIENT_ID])
    for table in TABLES:
        claims = tables[table.name]
        kind = kinds_of(table.name, claims)
        for care in table.kinds:
            if care.name in PATHWAY_KINDS:
                rows = claims[kind.eq(care.name).to_numpy()]
                first = rows.groupby(PATIENT_ID)[table.date_column].min()
                out[care.name] = (first - diagnosis.reindex(first.index)).dt.days.reindex(out.index)
    return out[[k for k in PATHWAY_KINDS if k in out.columns]]


def _orders(first: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each patient's set of pathway kinds ('surgery+chemotherapy_session') and their order by start day
    ('chemotherapy_session>surgery'; ties in the order of PATHWAY_KINDS)."""
    kinds = pd.Series("", index=first.index)
    for kind in first.columns:
        kinds = kinds.where(first[kind].isna(), kinds + np.where(kinds.eq(""), "", "+") + kind)
    rank = first.rank(axis=1, method="first")
    order = pd.Series("", index=first.index)
    for position in range(1, first.shape[1] + 1):
        at = (rank == position)
        name = at.idxmax(axis=1).where(at.any(axis=1), "")
        order = order + np.where(order.eq("") | name.eq(""), "", ">") + name
    return kinds, order


def _fit_costs(table: ClaimTable, attributes: pd.DataFrame, cost: pd.Series, coding: TopCoding) -> dict:
    """Quantiles of the cost given what the claim is (GHM and length of stay; drug and boxes), per group of at
    least ``MIN_COST_ROWS`` claims: tariffs are set that way, so a margin fitted by a copula (which moved the mean
    cost of a chemotherapy session by 38% in a 7,700-patient replica) is not needed."""
    frame = table.cost_frame(attributes)
    groups = fit_strata(frame, table.cost_groups, MIN_COST_ROWS)
    values = cost.to_numpy(float)
    return {name: _quantiles(code_costs(values[(groups == name).to_numpy()], coding))
            for name in sorted(groups.unique())}


def _draw_costs(costs: dict, table: ClaimTable, rows: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    groups = assign_strata(table.cost_frame(rows), table.cost_groups, set(costs)).to_numpy()
    out = np.zeros(len(rows))
    u = rng.random(len(rows))
    for name in sorted(costs):
        members = groups == name
        out[members] = np.interp(u[members], _QUANTILES, costs[name])
    return out.round(2)


def _fit_orders(train: dict[str, pd.DataFrame], patients: pd.DataFrame) -> dict:
    """Order of the first claims of the pathway kinds, and their start days by order, per stratum of cancer ×
    set of kinds (patients with two kinds or more)."""
    first = _first_days(train, patients)
    kinds, order = _orders(first)
    several = (first.notna().sum(axis=1) >= 2).to_numpy()
    frame = patients.set_index(PATIENT_ID).loc[first.index[several], ["cancer_type"]].assign(
        pathway_kinds=kinds[several].to_numpy(), order=order[several].to_numpy())
    if frame.empty:
        return {}
    strata = fit_strata(frame, ORDER_STRATA, MIN_PATIENTS)
    model = {}
    for name in sorted(strata.unique()):
        members = frame[strata == name]
        if len(members) < MIN_PATIENTS:
            continue
        entry = {"orders": {o: int(n) for o, n in members["order"].value_counts().sort_index().items()},
                 "first_days": {}}
        for o, group in members.groupby("order", sort=True):
            if len(group) >= MIN_PATIENTS:
                days = first.loc[group.index]
                entry["first_days"][o] = {k: _quantiles(days[k].dropna().to_numpy(float)) for k in o.split(">")}
        model[name] = entry
    return model


def fit_pathways(train: dict[str, pd.DataFrame], *, seed: int, coding: TopCoding = TopCoding()
                 ) -> tuple[dict, dict[str, object]]:
    """The pathway model (JSON-ready) and its SDV synthesizers, keyed by relative file name; counts and costs
    top-coded under ``coding`` (:mod:`synth.topcoding`)."""
    patients = with_bands(train["patients"])
    people = patients.set_index(PATIENT_ID)
    model, synthesizers = {}, {}
    for t_index, table in enumerate(TABLES):
        claims = train[table.name]
        kind = kinds_of(table.name, claims)
        entries = {}
        for k_index, care in enumerate(table.kinds):
            rows = claims[kind.eq(care.name).to_numpy()]
            if rows.empty:
                continue
            counts = cap_count_column(patients[PATIENT_ID].map(rows.groupby(PATIENT_ID).size()).fillna(0)
                                      .astype(int), coding)
            frame = patients.assign(eligible=_eligible(patients, care))
            strata = fit_strata(frame, COUNT_STRATA, MIN_PATIENTS)
            count_table = {name: {str(int(v)): int(n) for v, n in counts[strata == name].value_counts().sort_index()
                                  .items()} for name in sorted(strata.unique())}
            timing = _fit_timing(_offsets(rows, people, table, care), rows[PATIENT_ID], patients)
            attributes, columns = table.attributes(rows, care)
            cancers = rows[PATIENT_ID].map(people["cancer_type"]).reset_index(drop=True)
            attribute_strata = fit_strata(attributes.assign(cancer_type=cancers), ATTRIBUTE_STRATA, MIN_ROWS)
            files = {}
            for a_index, name in enumerate(sorted(attribute_strata.unique())):
                subset = attributes[(attribute_strata == name).to_numpy()]
                if len(subset) > MAX_TRAINING_ROWS:
                    subset = subset.sample(MAX_TRAINING_ROWS, random_state=seed + a_index)
                synthesizer = single_table_synthesizer(columns, table=table.name)
                file = f"pathways/{table.name}/{care.name}/{a_index:03d}.pkl"
                synthesizers[file] = fit_synthesizer(synthesizer, subset.reset_index(drop=True),
                                                     seed + 100 * t_index + 10 * k_index + a_index, table.name)
                files[name] = file
            entries[care.name] = {"counts": count_table, "timing": timing, "attributes": files,
                                  "costs": _fit_costs(table, attributes, rows["cost_eur"], coding),
                                  "training_claims": len(rows)}
        model[table.name] = entries
    model["orders"] = _fit_orders(train, patients)
    return model, synthesizers


def _draw_counts(table: dict, strata: pd.Series, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(len(strata), dtype=np.int64)
    u = rng.random(len(strata))
    for name in sorted(table):
        rows = (strata == name).to_numpy()
        out[rows] = draw_from_counts(table[name], u[rows]).astype(np.int64)
    return out


def _draw_days(timing: dict, strata: pd.Series, counts: np.ndarray, rng: np.random.Generator,
               first_days: np.ndarray) -> np.ndarray:
    """Per claim (patients in order, ``counts[i]`` claims each), its day: first + cumulated gaps; the first day
    is ``first_days[i]`` where that is not NaN."""
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    position = np.arange(len(owner)) - np.repeat(starts, counts)
    step = np.zeros(len(owner))
    u_first, u_gap = rng.random(len(counts)), rng.random(len(owner))
    owner_strata = strata.to_numpy()[owner]
    for name in sorted(timing):
        entry = timing[name]
        first = np.interp(u_first, _QUANTILES, entry["first"])
        first = np.where(np.isnan(first_days), first, first_days)
        rows = owner_strata == name
        step[rows] = np.where(position[rows] == 0, first[owner[rows]], np.interp(u_gap[rows], _QUANTILES, entry["gaps"]))
    total = np.cumsum(step)
    base = total[starts[counts > 0]] - step[starts[counts > 0]]
    return np.floor(total - np.repeat(base, counts[counts > 0]))


def _draw_attributes(entry: dict, synthesizers: dict, strata: pd.Series, table: ClaimTable, care: CareKind,
                     seed: int) -> pd.DataFrame:
    parts = []
    for index, name in enumerate(sorted(entry["attributes"])):
        rows = np.flatnonzero((strata == name).to_numpy())
        if len(rows):
            drawn = draw(synthesizers[entry["attributes"][name]], len(rows), seed + index, table.name)
            parts.append(drawn.set_axis(rows))
    out = pd.concat(parts).sort_index() if parts else pd.DataFrame(index=strata.index)
    if "length_of_stay" in table.columns:
        los = out["length_of_stay"] if "length_of_stay" in out.columns else pd.Series(0, index=out.index)
        out["length_of_stay"] = 0 if care.day_session else np.round(los.astype(float)).clip(lower=0).astype(int)
    return out


def _draw_first_days(orders: dict, p: pd.DataFrame, counts: dict[str, np.ndarray], rng: np.random.Generator
                     ) -> dict[str, np.ndarray]:
    """Start days after diagnosis of the pathway kinds each patient has, in an order drawn from real patients with
    the same cancer and kinds (NaN where the kind's own timing decides)."""
    present = pd.DataFrame({k: counts[k] > 0 for k in PATHWAY_KINDS if k in counts}, index=p.index)
    out = {k: np.full(len(p), np.nan) for k in present.columns}
    if not orders or present.empty:
        return out
    kinds, _ = _orders(present.where(present, np.nan).astype(float))
    several = (present.sum(axis=1) >= 2).to_numpy()
    frame = p.loc[several, ["cancer_type"]].assign(pathway_kinds=kinds[several].to_numpy())
    strata = assign_strata(frame, ORDER_STRATA, set(orders))
    u = rng.random(len(frame))
    for name in sorted(set(strata.dropna())):
        rows = frame.index[(strata == name).to_numpy()]
        entry = orders[name]
        drawn = draw_from_counts(entry["orders"], u[frame.index.get_indexer(rows)])
        for order in sorted(set(drawn)):
            if order not in entry["first_days"]:
                continue
            members = rows[drawn == order]
            sequence = order.split(">")
            days = np.column_stack([np.interp(rng.random(len(members)), _QUANTILES, entry["first_days"][order][k])
                                    for k in sequence])
            days = np.sort(np.floor(days), axis=1)  # the drawn order, whatever the draws
            for column, kind in enumerate(sequence):
                out[kind][p.index.get_indexer(members)] = days[:, column]
    return out


def sample_pathways(model: dict, synthesizers: dict, patients: pd.DataFrame, *, seed: int) -> dict[str, pd.DataFrame]:
    """Each synthetic patient's stays and dispensings, kind by kind, inside their window."""
    p = with_bands(patients).reset_index(drop=True)
    counts, rngs = {}, {}
    for t_index, table in enumerate(TABLES):
        for k_index, care in enumerate(table.kinds):
            entry = model.get(table.name, {}).get(care.name)
            if entry is not None:
                rngs[care.name] = rng = np.random.default_rng([seed, t_index, k_index])
                frame = p.assign(eligible=_eligible(p, care))
                counts[care.name] = _draw_counts(entry["counts"], assign_strata(frame, COUNT_STRATA,
                                                                                set(entry["counts"])), rng)
    first_days = _draw_first_days(model.get("orders", {}), p, counts, np.random.default_rng([seed, 99]))
    out = {}
    for t_index, table in enumerate(TABLES):
        pieces = []
        for k_index, care in enumerate(table.kinds):
            entry = model.get(table.name, {}).get(care.name)
            if entry is None:
                continue
            rng, n = rngs[care.name], counts[care.name]
            owners = p.loc[np.repeat(p.index.to_numpy(), n)].reset_index(drop=True)
            timing_strata = assign_strata(p, TIMING_STRATA, set(entry["timing"]))
            first = first_days.get(care.name, np.full(len(p), np.nan)) + table.window_start_days
            days = _draw_days(entry["timing"], timing_strata, n, rng, first)
            start = owners["diagnosis_date"] - pd.Timedelta(days=table.window_start_days)
            span = (owners["end_of_followup"] - start).dt.days.to_numpy()
            if care.anchor == "end":
                days = span - days
            # a course running past the patient's window is placed within it: after the course's own start, or in
            # the last month of a patient who dies before the course would have started
            outside = (days < 0) | (days > span)
            start_of_course = np.repeat(days[np.r_[0, np.cumsum(n)[:-1]][n > 0]], n[n > 0]) if len(days) else days
            lower = np.where(start_of_course <= span, np.maximum(start_of_course, 0), np.maximum(span - LAST_MONTH, 0))
            lower = np.minimum(lower, span)
            days[outside] = lower[outside] + np.floor(rng.random(int(outside.sum())) * (span - lower + 1)[outside])
            if owners.empty:
                continue
            cancers = owners[["cancer_type"]]
            rows = _draw_attributes(entry, synthesizers, assign_strata(cancers, ATTRIBUTE_STRATA,
                                                                       set(entry["attributes"])),
                                    table, care, seed + 1000 * t_index + 100 * k_index)
            rows["cost_eur"] = _draw_costs(entry["costs"], table, rows, rng)
            rows[table.date_column] = start + pd.to_timedelta(days, unit="D")
            if "length_of_stay" in rows.columns:
                discharge = rows[table.date_column] + pd.to_timedelta(rows.pop("length_of_stay"), unit="D")
                rows["discharge_date"] = discharge.where(discharge <= owners["end_of_followup"],
                                                         owners["end_of_followup"])
            rows[PATIENT_ID] = owners[PATIENT_ID].to_numpy()
            pieces.append(rows)
        columns = column_order(table.name)
        frame = pd.concat(pieces, ignore_index=True)[columns] if pieces else \
            pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
        out[table.name] = frame.sort_values([PATIENT_ID, table.date_column], kind="stable").reset_index(drop=True)
    return out
