"""Command-line front of the linkage package: ``simulate``, ``spec``, ``encode``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harmonie.output_flag import OVERWRITE_FILE_HELP, overwrite_option

FILE = click.Path(dir_okay=False, path_type=Path)
DIRECTORY = click.Path(file_okay=False, path_type=Path)
MAX_COHORT, MAX_SNDS = 2_000_000, 30_000_000  # ten times the Harmonie scale (193,000 x 3,000,000)


class Probability(click.FloatRange):
    """A probability in (0, 1) (or (0, 1]), never NaN: click's range lets NaN through, as no comparison fails."""

    def __init__(self, min_open: bool = True, max_open: bool = True):
        super().__init__(0, 1, min_open=min_open, max_open=max_open)

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if number != number:
            self.fail("NaN is not a probability", param, ctx)
        return number


@click.command()
@click.option("--out", "out_dir", type=DIRECTORY,
              help="Directory for the Parquet files (created if missing).")
@click.option("--cohort", "n_cohort", type=int, default=None, help="Cohort patients [default: 2,000].")
@click.option("--snds", "n_snds", type=int, default=None, help="SNDS beneficiary ids [default: 30,000].")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Random seed: same seed, same files.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Set any simulation parameter, e.g. cohort.nir_missing=0.5 (repeatable; applied after --preset).")
@click.option("--preset", type=click.Choice(["default", "harsh"]), default="default", show_default=True,
              help="Starting values of the knobs. harsh: what an independent population exercised (movers "
                   "anywhere in France, ~17% of communes differ, commonest surname ~20%, stays at sister sites "
                   "or 2-7 days off, no death dates in the cohort, cohort-only patients under a real NIR); "
                   "--list-params --preset harsh shows its values.")
@click.option("--list-params", is_flag=True, help="List every parameter with its value and meaning, then exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of tables.")
@click.option("--cohorts", "cohorts_text", metavar="NAME:SIZE,...",
              help="Several cohort programmes instead of one cohort, e.g. canto:12000,esme:150000,odh:40000 "
                   "(CANTO early breast, ESME metastatic, ODH every centre patient; a patient may be in two).")
@click.option("--years", "years_text", metavar="FIRST-LAST",
              help="With --cohorts: yearly extractions, e.g. 2025-2030, one folder per year (sizes are the last "
                   "year's) [default: one extraction, at the last diagnosis year].")
@overwrite_option()
def simulate(out_dir: Path | None, n_cohort: int | None, n_snds: int | None, seed: int, params: tuple[str, ...],
             preset: str, list_params: bool, as_json: bool, cohorts_text: str | None = None,
             years_text: str | None = None, overwrite: bool = False) -> None:
    """Simulate a French cohort <-> SNDS population with ground truth, as Parquet files.

    Writes the cohort holder's patients and stays, the SNDS holder's beneficiaries, stays
    and dispensings, truth.parquet (cohort_id, snds_id), hard_cases.parquet and the FINESS
    -> legal entity map (finess_entities.parquet) into OUT. See the README for every file
    and column. With --cohorts, one set of files per programme (canto_patients.parquet,
    truth_canto.parquet, ...) and record_truth.parquet (source, local_id, person), per year
    with --years.
    """
    from rich.console import Console

    from harmonie.errors import InvalidParameter
    from linkage.datasets.params import describe, preset_params, with_overrides

    if list_params:
        for name, default, doc in describe(with_overrides(preset_params(preset), list(params))):
            click.echo(f"{name:38s} {default!s:>22s}  {doc}")
        return
    if out_dir is None:
        raise click.UsageError("--out DIR is required")
    if n_cohort is not None and n_cohort < 0 or n_snds is not None and n_snds < 0:
        raise InvalidParameter("--cohort and --snds must be zero or more")
    if (n_cohort or 0) > MAX_COHORT or (n_snds or 0) > MAX_SNDS:
        raise InvalidParameter(f"--cohort is at most {MAX_COHORT:,} and --snds at most {MAX_SNDS:,} (ten times the "
                               "Harmonie scale; more would not fit in memory)")
    if years_text and not cohorts_text:
        raise click.UsageError("--years goes with --cohorts (yearly extractions of several cohorts)")
    if cohorts_text:
        if n_cohort is not None:
            raise click.UsageError("give --cohort (one cohort) or --cohorts (several programmes), not both")
        _simulate_cohorts(out_dir, cohorts_text, years_text, n_snds, seed, with_overrides(preset_params(preset),
                                                                                       list(params)), as_json,
                          overwrite)
        return
    from harmonie.output_set import OutputFolder
    from linkage.datasets import make_population, population_summary
    from linkage.datasets.summary import render_summary

    with OutputFolder(out_dir, "simulate", overwrite=overwrite) as staging:  # checked before simulating, not after
        population = make_population(n_cohort, n_snds, seed=seed,
                                     params=with_overrides(preset_params(preset), list(params)))
        population.write(staging)
    summary = population_summary(population)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        Console().print(render_summary(summary))
        click.echo(f"wrote {len(population.tables)} tables and population.json to {out_dir}"
                   + (f" (preset {preset})" if preset != "default" else ""))


def _simulate_cohorts(out_dir: Path, cohorts_text: str, years_text: str | None, n_snds: int | None, seed: int,
                      params, as_json: bool, overwrite: bool = False) -> None:
    """``simulate --cohorts``: several programmes (and yearly extractions) into OUT, as one output set."""
    from harmonie.output_set import OutputFolder
    from linkage.datasets.cohorts import parse_cohorts, parse_years
    from linkage.datasets.warehouse import make_warehouse, warehouse_summary

    programmes = parse_cohorts(cohorts_text)
    years = parse_years(years_text) if years_text else None
    if sum(p.n_patients for p in programmes) > MAX_COHORT or (n_snds or 0) > MAX_SNDS:
        raise click.UsageError(f"--cohorts add up to at most {MAX_COHORT:,} patients and --snds is at most "
                               f"{MAX_SNDS:,} (ten times the Harmonie scale)")
    with OutputFolder(out_dir, "simulate", overwrite=overwrite) as staging:
        warehouse = make_warehouse(programmes, n_snds, seed=seed, params=params, years=years)
        warehouse.write(staging)
    if as_json:
        click.echo(json.dumps({k: warehouse.written[k] for k in ("programmes", "years", "overlaps", "rows")}, indent=2))
    else:
        click.echo(warehouse_summary(warehouse.written))
        click.echo(f"wrote {len(warehouse.years)} extraction{'s' if len(warehouse.years) > 1 else ''} and "
                   f"population.json to {out_dir}")


@click.group()
def spec() -> None:
    """Linkage specs: the TOML file shared by both holders and the linkage unit."""


@spec.command("example")
@click.argument("name", type=click.Choice(["direct", "names", "indirect"]))
@click.option("--out", "out_path", type=FILE,
              help="Write the spec to this file instead of printing it.")
@click.option("--with-given-names", is_flag=True,
              help="names only: switch on the opt-in given-name fields. The linkage unit can then name the "
                   "commonest given names of ~7-11% of records (see the spec's comments).")
@overwrite_option(OVERWRITE_FILE_HELP)
def spec_example(name: str, out_path: Path | None, with_given_names: bool, overwrite: bool = False) -> None:
    """Print (or write) the example spec of a scenario: direct, names or indirect."""
    from harmonie.io import write_text
    from harmonie.output_set import check_output_file
    from linkage.spec import example_spec_text
    from linkage.spec import with_given_names as switch_on

    text = example_spec_text(name)
    if with_given_names:
        if name != "names":
            raise click.UsageError("--with-given-names applies to the names example only")
        text = switch_on(text)
    if out_path is None:
        click.echo(text, nl=False)
    else:
        check_output_file(out_path, overwrite=overwrite)
        write_text(text, out_path)
        click.echo(f"wrote {out_path}")


@spec.command("check")
@click.argument("spec_file", type=FILE)
def spec_check(spec_file: Path) -> None:
    """Validate a spec and print its hash and the columns an encoded file will hold."""
    from linkage.spec import load_spec

    parsed = load_spec(spec_file)
    click.echo(f"spec {parsed.name!r} is valid; hash {parsed.hash}")
    for role in parsed.holders:
        click.echo(f"  {role}: linkage_id, {', '.join(parsed.encoded_columns(role))}")


def input_kinds(parsed, role: str) -> dict[str, str]:
    """What each column of a holder's table must hold under the spec (checked before any work): the id,
    dates for the date fields (and the birth date of a FOIN), text for the others."""
    from harmonie.io import DATE, ID, TEXT

    holder = parsed.holder(role)
    kinds = {}
    for f in parsed.fields:
        for position, column in enumerate(f.columns):
            date = f.normalise == "date" or (f.normalise == "foin" and position == 1)
            kinds.setdefault(holder.column(column), DATE if date else TEXT)
    kinds[holder.id_column] = ID
    return kinds


def check_encoded_inputs(parsed, *paths: Path) -> None:
    """Before any linking: each encoded file readable, its metadata whole, made under this spec and with
    the columns (and their types) the spec gives its holder; the two files compatible. One line each."""
    from harmonie.errors import HarmonieError
    from linkage.encoding.encoded_file import check_compatible, check_spec_columns, read_footer

    footers = [(path, *read_footer(path)) for path in paths]
    if len(footers) == 2:
        check_compatible(footers[0][2], footers[1][2])
    for path, schema, metadata in footers:
        if metadata["spec_hash"] != parsed.hash:
            raise HarmonieError(f"the encoded file {path} was made with another spec than {parsed.name!r} "
                                f"(hash {metadata['spec_hash'][:12]}... vs {parsed.hash[:12]}...)")
        check_spec_columns(schema, metadata, parsed, str(path))


def check_text_encoding(path: Path, encoding: str) -> None:
    """A CSV's first MB decodes with ``encoding``, else one line naming the fix (a cp1252 export read as
    UTF-8 used to end in 'cannot tell which holder'). Parquet files carry no text encoding."""
    import codecs

    from harmonie.errors import HarmonieError

    if path.suffix.lower() in (".parquet", ".pq") or not path.is_file():
        return
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError:
        raise HarmonieError(f"unknown text encoding {encoding!r}: use utf-8, cp1252 or latin-1") from None
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    try:
        decoder.decode(head, final=False)
    except UnicodeDecodeError as exc:
        other = "cp1252" if codecs.lookup(encoding).name != "cp1252" else "utf-8"
        raise HarmonieError(f"{path} is not {encoding} text (byte {exc.start} cannot be decoded): pass "
                            f"--encoding {other} (a file exported from Excel or an older French system is often "
                            "cp1252; latin-1 also reads it)") from None


def _guess_holder(parsed, columns: list[str]) -> str:
    from harmonie.errors import HarmonieError

    roles = [role for role, h in parsed.holders.items() if h.id_column in columns]
    if len(roles) != 1:
        raise HarmonieError(f"cannot tell which holder this file belongs to; pass --holder "
                            f"({' or '.join(parsed.holders)})")
    return roles[0]


@click.command()
@click.option("--spec", "spec_file", required=True, type=FILE,
              help="The linkage spec (TOML) shared with the other holder and the linkage unit.")
@click.option("--key", "key_file", required=True, type=FILE,
              help="The linkage key file (passphrase from HARMONIE_KEY_PASSPHRASE or a prompt).")
@click.option("--in", "in_path", required=True, type=FILE,
              help="The holder's records (Parquet or CSV).")
@click.option("--stays", "stays_path", type=FILE,
              help="The holder's care events (hospital stays), when the spec encodes events.")
@click.option("--finess-map", "finess_map_path", type=FILE,
              help="FINESS -> establishment group table (Parquet or CSV: columns `finess` and its group, e.g. "
                   "`finess_juridique`), for events fields with establishment_groups; the other holder must use "
                   "the same map (its SHA-256 goes into the metadata).")
@click.option("--holder", type=str, help="Which holder of the spec this is (guessed from the id column).")
@click.option("--out", "out_path", required=True, type=FILE,
              help="Encoded file to send to the linkage unit (Parquet).")
@click.option("--crosswalk", "crosswalk_path", required=True, type=FILE,
              help="Local id <-> linkage id table; it stays with the holder.")
@click.option("--rejects", "rejects_path", type=FILE,
              help="Rows that could not be encoded, with a reason each [default: next to the crosswalk].")
@click.option("--encoding", "text_encoding", default="utf-8", show_default=True,
              help="Text encoding of CSV input (utf-8, cp1252, latin-1).")
@overwrite_option("Replace existing output files (--out, --crosswalk, --rejects) together; without it any of them "
                  "existing is refused (never a key file).")
def encode(spec_file: Path, key_file: Path, in_path: Path, stays_path: Path | None, holder: str | None,
           out_path: Path, crosswalk_path: Path, rejects_path: Path | None, text_encoding: str,
           finess_map_path: Path | None = None, overwrite: bool = False) -> None:
    """Encode a holder's records for the linkage unit: keyed tokens and Bloom filters only.

    Writes the encoded file (no plaintext identifier, no local id), the crosswalk and the
    rejects. Input rows always reconcile: read = encoded + rejected.
    """
    from harmonie.errors import HarmonieError
    from harmonie.io import ID, SUPPORTED_DATE, TEXT, check_distinct_paths, column_names, read_table, write_parquet
    from harmonie.output_set import check_output_file, locked
    from linkage.encoding import encode_holder, write_encoded
    from linkage.encoding.events import load_finess_map
    from linkage.encoding.holder import required_columns
    from linkage.spec import load_spec
    from privacy.audit.trail import note
    from privacy.keys import load_key, passphrase_from_environment

    rejects_path = rejects_path or crosswalk_path.with_name(crosswalk_path.stem + ".rejects.parquet")
    check_distinct_paths({"--out": out_path, "--crosswalk": crosswalk_path, "--rejects": rejects_path},
                         {"--in": in_path, "--stays": stays_path, "--spec": spec_file, "--key": key_file,
                          "--finess-map": finess_map_path})
    for option, path in (("--out", out_path), ("--crosswalk", crosswalk_path), ("--rejects", rejects_path)):
        check_output_file(path, overwrite=overwrite, option=option)  # all three, before any work
    parsed = load_spec(spec_file)
    if not in_path.is_file():
        raise HarmonieError(f"input file {in_path} not found")
    for path in (in_path, stays_path):
        if path is not None:
            check_text_encoding(path, text_encoding)
    role = holder or _guess_holder(parsed, column_names(in_path, text_encoding))
    holder_spec = parsed.holder(role)
    patients = read_table(in_path, columns=required_columns(parsed, role), encoding=text_encoding, what="input",
                          kinds=input_kinds(parsed, role))
    events = None
    if any(f.encoding == "events" for f in parsed.fields):
        if stays_path is None:
            raise HarmonieError("the spec encodes hospital stays: give them with --stays")
        ev = holder_spec.events
        events = read_table(stays_path, columns=list(dict.fromkeys([ev.id_column, ev.finess, ev.date])),
                            encoding=text_encoding, what="stays", dictionary_columns=[ev.id_column, ev.finess],
                            kinds={ev.id_column: ID, ev.finess: TEXT, ev.date: SUPPORTED_DATE})
    finess_map = load_finess_map(finess_map_path, encoding=text_encoding) if finess_map_path else None
    key = load_key(key_file, passphrase_from_environment())  # inputs checked first: no key derived for nothing
    with locked(out_path, crosswalk_path, rejects_path):
        result = encode_holder(parsed, key, role, patients, events, finess_map=finess_map)
        provenance = {"harmonie.spec_hash": parsed.hash, "harmonie.key_fingerprint": key.fingerprint,
                      "harmonie.holder": role, "harmonie.run_id": result.metadata["run_id"]}
        # the crosswalk first: a run killed between the files leaves a crosswalk whose run id no encoded file
        # (and so no links) carries, which `synth extract` refuses, never a new encoded file beside an old crosswalk
        write_parquet(result.crosswalk, crosswalk_path, metadata=provenance)
        write_parquet(result.rejects, rejects_path, metadata=provenance)
        write_encoded(result.encoded, result.metadata, out_path)
    m = result.metadata
    note(key_fingerprint=key.fingerprint, spec_hash=parsed.hash,
         rows={"in": m["rows_in"], "encoded": m["rows_encoded"], "rejected": m["rows_rejected"]})
    click.echo(f"{role}: {m['rows_in']:,} rows read, {m['rows_encoded']:,} encoded, {m['rows_rejected']:,} rejected"
               f" (see {rejects_path})" if m["rows_rejected"] else
               f"{role}: {m['rows_in']:,} rows read, {m['rows_encoded']:,} encoded, 0 rejected")
    for name, flags in m["fields"].items():
        details = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in flags.items() if v)
        if details:
            click.echo(f"  {name}: {details}")
    click.echo(f"spec {parsed.name} ({parsed.hash[:12]}), key {key.fingerprint}"
               + (f", FINESS map {m['finess_map_sha256'][:12]} ({len(finess_map.groups):,} sites)"
                  if finess_map is not None else ""))
    click.echo(f"wrote {out_path} (for the linkage unit), {crosswalk_path} (keep it)")


def engine_options(command):
    """``--engine`` and ``--spark-master``, for the commands that link (``link``, ``link-all``)."""
    command = click.option("--spark-master", metavar="URL",
                           help="Spark master for --engine spark: local[2], spark://host:7077, yarn, k8s://... "
                                "[default: spark-submit's, else local[*]].")(command)
    return click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
                        help="Run the plan in this process, or on Apache Spark (pip install 'harmonie[spark]', "
                             "Java 17): same links and model.")(command)


def check_engine(engine: str, spark_master: str | None) -> None:
    """Before any work: --spark-master only with --engine spark, and Spark usable (a missing extra or Java is
    one line)."""
    if spark_master and engine != "spark":
        raise click.UsageError("--spark-master goes with --engine spark")
    if engine == "spark":
        from linkage.engines import require_spark

        require_spark()


@click.command()
@click.option("--spec", "spec_file", required=True, type=FILE,
              help="The linkage spec both files were encoded with.")
@click.option("--left", "left_path", required=True, type=FILE,
              help="Encoded file of the first holder (e.g. the cohort).")
@click.option("--right", "right_path", required=True, type=FILE,
              help="Encoded file of the second holder (e.g. SNDS).")
@click.option("--out", "out_dir", required=True, type=DIRECTORY,
              help="Folder for links.parquet, grey_zone.parquet, model.json, summary.json, charts and report.html.")
@click.option("--threshold", type=Probability(),
              help="Match probability above which a pair is a link [default: chosen by the model].")
@click.option("--no-charts", is_flag=True,
              help="Skip the PNG charts and the linkage report (report.html, report_data.json, one_to_one.parquet).")
@click.option("--keep-candidates", is_flag=True,
              help="Also write every candidate pair (candidates.parquet) so `evaluate` can measure the blocking.")
@click.option("--model", "model_path", type=FILE,
              help="Score with a saved model.json instead of fitting one (weights comparable between runs).")
@engine_options
@overwrite_option()
def link(spec_file: Path, left_path: Path, right_path: Path, out_dir: Path, threshold: float | None,
         no_charts: bool, keep_candidates: bool, model_path: Path | None, engine: str = "local",
         spark_master: str | None = None, overwrite: bool = False) -> None:
    """Link two encoded files (run by the linkage unit; reads encoded files only)."""
    from harmonie.output_set import OutputFolder, check_output_folder
    from linkage.link import link as run_link
    from linkage.link import write_link_outputs
    from linkage.model import load_model
    from linkage.spec import load_spec
    from privacy.audit.trail import note

    check_engine(engine, spark_master)
    inputs = {"--spec": spec_file, "--left": left_path, "--right": right_path, "--model": model_path}
    check_output_folder(out_dir, overwrite=overwrite, inputs=inputs)  # before reading anything
    parsed = load_spec(spec_file)
    check_encoded_inputs(parsed, left_path, right_path)
    model = load_model(model_path) if model_path else None
    with OutputFolder(out_dir, "link", inputs=inputs, overwrite=overwrite) as staging:
        if engine == "spark":
            from linkage.engines.spark import link_spark, write_spark_outputs

            result = link_spark(parsed, left_path, right_path, threshold=threshold, model=model,
                                master=spark_master, candidates_out=staging if keep_candidates else None)
            write_spark_outputs(result, staging, charts=not no_charts)
        else:
            result = run_link(parsed, left_path, right_path, threshold=threshold, model=model)
            write_link_outputs(result, staging, charts=not no_charts, keep_candidates=keep_candidates)
    s = result.summary
    note(key_fingerprint=s["key_fingerprint"], spec_hash=s["spec_hash"],
         rows={"left": s["left"]["records"], "right": s["right"]["records"], "links": s.get("links", 0)})
    click.echo(f"{s['left']['records']:,} x {s['right']['records']:,} records, {s['candidate_pairs']:,} candidate "
               f"pairs (reduction ratio {s['reduction_ratio']:.6f})")
    for p in s["blocking"]:
        skipped = f", {p['skipped_pairs']:,} pairs in {p['skipped_blocks']:,} oversized blocks skipped" \
            if p["skipped_blocks"] else ""
        click.echo(f"  pass {p['name']!r}: {p['pairs']:,} pairs{skipped}")
    if s["status"] != "linked":
        click.echo(f"warning: {s['status']}", err=True)
    else:
        e = s["estimated"]
        click.echo(f"{s['links']:,} links at match probability >= {s['threshold']['probability']:.3f}; "
                   f"{s['grey_zone_pairs']:,} pairs in the grey zone for review")
        click.echo(f"model's own estimate: precision {e['precision']:.4f}, recall {e['recall']:.4f} "
                   f"(EM {s['em_iterations']} iterations, prior {s['prior_lambda']:.2e})")
        for warning in s["warnings"]:
            click.echo(f"warning: {warning}", err=True)
    click.echo(f"wrote {out_dir}/")


def check_truth_inputs(truth, crosswalks, summary_path: Path, truth_path: Path) -> None:
    """Before measuring: the crosswalks on the sides the links put their holders (and under the links' key),
    and the truth's two columns in the crosswalks' order. Each mistake would otherwise give F1 0.0 and exit 0."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from harmonie.errors import HarmonieError

    summary = {}
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            summary = {}
    summary = summary if isinstance(summary, dict) else {}
    for side, crosswalk in zip(("left", "right"), crosswalks):
        meta = crosswalk.schema.metadata or {}
        holder = meta.get(b"harmonie.holder", b"").decode("utf-8", "replace")
        fingerprint = meta.get(b"harmonie.key_fingerprint", b"").decode("utf-8", "replace")
        expected = (summary.get(side) or {}).get("holder") if isinstance(summary.get(side), dict) else None
        if holder and isinstance(expected, str) and holder != expected:
            raise HarmonieError(f"--{side}-crosswalk belongs to holder {holder!r}, but the links' {side} side is "
                                f"{expected!r}: swap --left-crosswalk and --right-crosswalk")
        linked_with = summary.get("key_fingerprint")
        if fingerprint and isinstance(linked_with, str) and fingerprint != linked_with:
            raise HarmonieError(f"--{side}-crosswalk was made with key {fingerprint}, the links with key "
                                f"{linked_with}: give the crosswalks of the encoding that was linked")
    if truth.num_columns < 2:
        raise HarmonieError(f"the truth file {truth_path} needs two id columns (left id, right id)")

    def shared(column, crosswalk) -> int:
        values = pc.cast(truth.column(column), pa.string())
        return int(pc.sum(pc.is_in(values, value_set=pc.cast(crosswalk["local_id"], pa.string()).combine_chunks()))
                   .as_py() or 0)

    if truth.num_rows and shared(0, crosswalks[0]) == 0:
        if shared(1, crosswalks[0]) and shared(0, crosswalks[1]):  # each column matches the other crosswalk
            raise HarmonieError(f"0 of {truth.num_rows:,} truth pairs map — are the crosswalks swapped? (swap "
                                "--left-crosswalk and --right-crosswalk; or the truth's columns are in the other "
                                "order: put the left id first)")
        raise HarmonieError("none of the truth's first-column ids is a local id of the left crosswalk: is it the "
                            "truth of this population, in local ids?")
    if truth.num_rows and shared(1, crosswalks[1]) == 0:
        raise HarmonieError("none of the truth's second-column ids is a local id of the right crosswalk: is it "
                            "the truth of this population, in local ids?")


@click.command()
@click.option("--links", "links_path", required=True, type=FILE,
              help="links.parquet written by `harmonie link`.")
@click.option("--truth", "truth_path", required=True, type=FILE,
              help="True pairs in local ids: two columns (left id, right id), e.g. truth.parquet.")
@click.option("--left-crosswalk", required=True, type=FILE)
@click.option("--right-crosswalk", required=True, type=FILE)
@click.option("--duplicates", "duplicates_path", type=FILE,
              help="Second right ids of one person (snds_duplicates.parquet): a link to one counts as correct.")
@click.option("--hard-cases", "hard_cases_path", type=FILE,
              help="Per-patient hard cases (hard_cases.parquet) for recall and false links by case "
                   "[default: hard_cases.parquet next to the truth, if there].")
@click.option("--out", "out_dir", type=DIRECTORY,
              help="Folder for evaluation.json, precision_recall.png and report.html (the linkage report with the "
                   "truth) [default: the link run's folder, beside the links].")
@overwrite_option("Replace an earlier evaluation: in the link run's folder its files only (evaluation.json, "
                  "precision_recall.png, report.html), another --out folder whole. Without it an earlier "
                  "evaluation, or a non-empty other --out, is refused.")
def evaluate(links_path: Path, truth_path: Path, left_crosswalk: Path, right_crosswalk: Path,
             duplicates_path: Path | None, hard_cases_path: Path | None, out_dir: Path | None,
             overwrite: bool = False) -> None:
    """Measure links against ground truth: precision, recall, F1, blocking reduction ratio,
    and recall and false links by hard case (married name, moved, twin, NIR...).

    Into the link run's folder (the default) it adds its own files and rewrites the run's
    report.html with the truth (the link run's manifest then lists the enriched page); an
    earlier evaluation there is refused unless --overwrite. Another --out must be empty.
    """
    from harmonie.io import read_table
    from harmonie.output_set import OutputFolder, check_output_set
    from linkage.evaluate import evaluate_links, format_hard_cases

    from harmonie.io import ID

    if hard_cases_path is None and (beside := truth_path.with_name("hard_cases.parquet")).is_file():
        hard_cases_path = beside
    summary_path, candidates = links_path.with_name("summary.json"), links_path.with_name("candidates.parquet")
    from linkage.report.data import DATA_FILE, PAIRS_FILE

    report_files = [links_path.with_name(DATA_FILE), links_path.with_name(PAIRS_FILE)]
    check_output_set(links_path, summary_path, candidates, *report_files)  # one run's files, never a mix
    out = out_dir or links_path.parent
    into_run = Path(out).resolve() == links_path.parent.resolve()
    inputs = {"--links": links_path, "--truth": truth_path, "--left-crosswalk": left_crosswalk,
              "--right-crosswalk": right_crosswalk, "--duplicates": duplicates_path, "--hard-cases": hard_cases_path}
    outputs = OutputFolder(out, "evaluate", inputs=[links_path, summary_path, candidates, *report_files] if into_run
                           else inputs, overwrite=overwrite, into_run=into_run,
                           writes=("evaluation.json", "precision_recall.png"), enriches=("report.html",)).check()
    crosswalks = [read_table(p, columns=["local_id", "linkage_id"], what=f"{side} crosswalk")
                  for side, p in (("left", left_crosswalk), ("right", right_crosswalk))]
    truth = read_table(truth_path, what="truth", kinds={"*": ID})
    check_truth_inputs(truth, crosswalks, summary_path, truth_path)
    with outputs as staging:
        report = evaluate_links(
            read_table(links_path, what="links").to_pandas(), truth.to_pandas(),
            crosswalks[0].to_pandas(), crosswalks[1].to_pandas(),
            read_table(duplicates_path, what="duplicates").to_pandas() if duplicates_path else None,
            summary_path=summary_path, out_dir=staging,
            candidates_path=candidates if candidates.exists() else None,
            hard_cases=read_table(hard_cases_path, what="hard cases").to_pandas() if hard_cases_path else None,
            run_dir=links_path.parent, placed_in=out)
    report["paths"] = {kind: str(Path(out) / Path(p).name) for kind, p in report["paths"].items()}
    click.echo(f"precision {report['precision']:.4f}  recall {report['recall']:.4f}  f1 {report['f1']:.4f}  "
               f"({report['true_positives']:,} of {report['true_pairs']:,} true pairs found, "
               f"{report['false_positives']:,} false links)")
    if "reduction_ratio" in report:
        completeness = report.get("pairs_completeness")
        click.echo(f"blocking reduction ratio {report['reduction_ratio']:.6f}" +
                   (f", pairs completeness {completeness:.4f}" if completeness is not None else
                    " (rerun link with --keep-candidates for pairs completeness)"))
    if report.get("estimated"):
        e = report["estimated"]
        click.echo(f"the model had estimated precision {e['precision']:.4f}, recall {e['recall']:.4f}")
    if report.get("by_hard_case"):
        click.echo(format_hard_cases(report["by_hard_case"]))
    click.echo(f"wrote {report['paths']['json']} and {report['paths']['curve']}"
               + (f"; the linkage report with the truth: {report['paths']['report']}" if "report" in report["paths"]
                  else ""))


@click.command()
@click.option("--left", "left_path", required=True, type=FILE, help="Encoded file of the first holder.")
@click.option("--right", "right_path", required=True, type=FILE, help="Encoded file of the second holder.")
@click.option("--spec", "spec_file", required=True, type=FILE, help="The linkage spec both files were encoded with.")
@click.option("--truth", "truth_path", required=True, type=FILE,
              help="True pairs: two columns (left id, right id), in local ids with the crosswalks, else linkage ids.")
@click.option("--left-crosswalk", type=FILE, help="The first holder's crosswalk (when truth is in local ids).")
@click.option("--right-crosswalk", type=FILE, help="The second holder's crosswalk (when truth is in local ids).")
@click.option("--duplicates", "duplicates_path", type=FILE,
              help="Second right ids of one person (snds_duplicates.parquet): a link to one counts as correct.")
@click.option("--threshold", type=Probability(),
              help="Match probability above which a pair is a link [default: chosen by the model].")
@click.option("--out", "out_dir", required=True, type=DIRECTORY,
              help="Folder for bench.md, bench.json and the link outputs (links, model, summary).")
@overwrite_option()
def bench(left_path: Path, right_path: Path, spec_file: Path, truth_path: Path, left_crosswalk: Path | None,
          right_crosswalk: Path | None, duplicates_path: Path | None, threshold: float | None, out_dir: Path,
          overwrite: bool = False) -> None:
    """Link two encoded files and measure the result against known true pairs.

    Reports precision, recall and F1 at the model's threshold, the blocking's pairs
    completeness, the model's own estimate of its quality, time and peak memory.
    """
    from harmonie.errors import HarmonieError
    from harmonie.io import read_table, write_text
    from harmonie.output_set import OutputFolder
    from linkage.bench import bench_linkage, render_markdown
    from linkage.link import write_link_outputs

    if (left_crosswalk is None) != (right_crosswalk is None):
        raise HarmonieError("give both --left-crosswalk and --right-crosswalk (truth in local ids) or neither "
                            "(truth in linkage ids)")
    from linkage.spec import load_spec

    check_encoded_inputs(load_spec(spec_file), left_path, right_path)
    out = Path(out_dir)
    inputs = {"--left": left_path, "--right": right_path, "--spec": spec_file, "--truth": truth_path,
              "--left-crosswalk": left_crosswalk, "--right-crosswalk": right_crosswalk, "--duplicates": duplicates_path}
    with OutputFolder(out, "bench", inputs=inputs, overwrite=overwrite) as staging:  # checked before linking
        truth = read_table(truth_path, what="truth").to_pandas()
        crosswalks = [read_table(p, what=f"{side} crosswalk").to_pandas() if p else None
                      for side, p in (("left", left_crosswalk), ("right", right_crosswalk))]
        duplicates = read_table(duplicates_path, what="duplicates").to_pandas() if duplicates_path else None
        report, result = bench_linkage(spec_file, left_path, right_path, truth, left_crosswalk=crosswalks[0],
                                       right_crosswalk=crosswalks[1], duplicates=duplicates, threshold=threshold)
        write_link_outputs(result, staging, charts=False)
        report["paths"] = {"markdown": str(out / "bench.md"), "json": str(out / "bench.json")}
        write_text(json.dumps(report, indent=2, default=str) + "\n", staging / "bench.json")
        write_text(render_markdown(report), staging / "bench.md")
    click.echo(f"precision {report['precision']:.4f}  recall {report['recall']:.4f}  f1 {report['f1']:.4f}  "
               f"({report['true_positives']:,} of {report['true_pairs']:,} true pairs found, "
               f"{report['false_positives']:,} false links)")
    click.echo(f"pairs completeness {report['pairs_completeness']:.4f}, {report['candidate_pairs']:,} candidate pairs; "
               f"link {report['seconds']['link']:.1f} s, peak RSS {report['peak_rss_gb']['whole']:.2f} GB")
    click.echo(f"wrote {out / 'bench.md'} and {out / 'bench.json'}")


# --- second round: given names of the undecided pairs, under per-pair keys (linkage/second_round.py)


@click.command("query-pairs")
@click.option("--spec", "spec_file", required=True, type=FILE, help="The linkage spec both files were encoded with.")
@click.option("--left", "left_path", required=True, type=FILE, help="Encoded file of the first holder (the cohort).")
@click.option("--right", "right_path", required=True, type=FILE, help="Encoded file of the second holder (SNDS).")
@click.option("--out", "out_dir", required=True, type=DIRECTORY,
              help="Folder for query.parquet (send it to both holders) and first_round.parquet (keep it).")
@click.option("--model", "model_path", type=FILE,
              help="The first round's model.json (from `harmonie link`): the same weights without EM.")
@click.option("--threshold", type=Probability(),
              help="Match probability above which a pair is a link, as given to `harmonie link` [default: the model's].")
@click.option("--decided", type=Probability(max_open=False), default=0.999, show_default=True,
              help="A left record whose best candidate is at least this probable is decided (not queried).")
@click.option("--min-probability", type=Probability(), default=0.02,
              show_default=True, help="Candidates of undecided records at least this probable are queried.")
@click.option("--max-per-record", type=click.IntRange(1, 100), default=10, show_default=True,
              help="At most this many queried pairs per record (the holders refuse more than they allow).")
@click.option("--max-group", type=click.IntRange(2, 1000), default=12, show_default=True,
              help="At most this many records joined by queried pairs (the holders refuse larger groups).")
@click.option("--unlinked-top", type=click.IntRange(0, 10), default=0, show_default=True,
              help="Also query the best candidates of left records left without a link, even below the "
                   "assignment floor.")
@overwrite_option()
def query_pairs(spec_file: Path, left_path: Path, right_path: Path, out_dir: Path, model_path: Path | None,
                threshold: float | None, decided: float, min_probability: float, max_per_record: int,
                max_group: int, unlinked_top: int, overwrite: bool = False) -> None:
    """Second round, linkage unit: ask both holders for the given names of the undecided pairs.

    Re-runs the first round (with --model, the link run's weights without EM), selects the
    pairs it cannot decide and writes the query: pairs of linkage ids, nothing else.
    """
    from harmonie.output_set import OutputFolder
    from linkage.model import load_model
    from linkage.second_round import Selection, first_round
    from linkage.spec import load_spec
    from privacy.audit.trail import note

    inputs = {"--spec": spec_file, "--left": left_path, "--right": right_path, "--model": model_path}
    parsed = load_spec(spec_file)
    check_encoded_inputs(parsed, left_path, right_path)
    with OutputFolder(out_dir, "query-pairs", inputs=inputs, overwrite=overwrite) as staging:
        state, summary = first_round(parsed, left_path, right_path,
                                     model=load_model(model_path) if model_path else None, threshold=threshold,
                                     selection=Selection(decided, min_probability, max_per_record, max_group,
                                                         unlinked_top))
        query = state.query
        state.save(staging / "first_round.parquet")
        query.save(staging / "query.parquet")
    out = Path(out_dir)
    q = state.metadata["queried"]
    note(key_fingerprint=summary["key_fingerprint"], spec_hash=summary["spec_hash"],
         rows={"pairs": q["pairs"], "left": q["left_records"], "right": q["right_records"]})
    click.echo(f"first round: {summary['links']:,} links, {summary['grey_zone_pairs']:,} pairs in the grey zone")
    click.echo(f"query: {q['pairs']:,} undecided pairs of {q['left_records']:,} {state.metadata['left_holder']} and "
               f"{q['right_records']:,} {state.metadata['right_holder']} records")
    click.echo(f"wrote {out / 'query.parquet'} (send it to both holders), {out / 'first_round.parquet'} (keep it)")


@click.command("encode-pairs")
@click.option("--spec", "spec_file", required=True, type=FILE, help="The linkage spec (the one `encode` used).")
@click.option("--key", "key_file", required=True, type=FILE,
              help="The linkage key file (passphrase from HARMONIE_KEY_PASSPHRASE or a prompt).")
@click.option("--holder", type=str, help="Which holder of the spec this is [default: from the crosswalk].")
@click.option("--in", "in_path", required=True, type=FILE, help="The holder's records (Parquet or CSV), as encoded.")
@click.option("--crosswalk", "crosswalk_path", required=True, type=FILE, help="The crosswalk `encode` wrote.")
@click.option("--query", "query_path", required=True, type=FILE, help="query.parquet from the linkage unit.")
@click.option("--out", "out_path", required=True, type=FILE, help="The answer to send back to the linkage unit.")
@click.option("--given-names-column", "column", help="Column of the given names [default: the spec's first_names].")
@click.option("--max-pairs-per-record", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="Refuse a query pairing one of this holder's records with more records than this.")
@click.option("--max-group", type=click.IntRange(2, 10000), default=12, show_default=True,
              help="Refuse a query whose pairs join more records than this into one group (within a group the "
                   "linkage unit learns which records share a given name).")
@click.option("--max-share", type=Probability(max_open=False), default=0.5, show_default=True,
              help="Refuse a query asking for more than this share of this holder's records.")
@click.option("--encoding", "text_encoding", default="utf-8", show_default=True,
              help="Text encoding of CSV input (utf-8, cp1252, latin-1).")
@overwrite_option(OVERWRITE_FILE_HELP)
def encode_pairs(spec_file: Path, key_file: Path, holder: str | None, in_path: Path, crosswalk_path: Path,
                 query_path: Path, out_path: Path, column: str | None, max_pairs_per_record: int, max_group: int,
                 max_share: float, text_encoding: str, overwrite: bool = False) -> None:
    """Second round, holder: encode the given names of the queried pairs, each under its pair's own key.

    The same name in two pairs gives unrelated filters, so the linkage unit can compare the two
    holders' names of a pair but count nothing across records.
    """
    from harmonie.errors import HarmonieError
    from harmonie.io import check_distinct_paths, read_table
    from harmonie.output_set import check_output_file
    from linkage.encoding.pair_names import GIVEN_NAMES_COLUMN, AnswerLimits, PairQuery, encode_pairs as answer
    from linkage.spec import load_spec
    from privacy.audit.trail import note
    from privacy.keys import load_key, passphrase_from_environment

    check_output_file(out_path, overwrite=overwrite)
    parsed = load_spec(spec_file)
    query = PairQuery.load(query_path)
    crosswalk = read_table(crosswalk_path, what="crosswalk")
    role = holder or (crosswalk.schema.metadata or {}).get(b"harmonie.holder", b"").decode("utf-8", "replace")
    if not role:
        raise HarmonieError("cannot tell which holder this crosswalk belongs to; pass --holder")
    holder_spec = parsed.holder(role)
    check_distinct_paths({"--out": out_path}, {"--in": in_path, "--crosswalk": crosswalk_path, "--query": query_path,
                                               "--spec": spec_file, "--key": key_file})
    key = load_key(key_file, passphrase_from_environment())
    patients = read_table(in_path, columns=[holder_spec.id_column, column or holder_spec.column(GIVEN_NAMES_COLUMN)],
                          encoding=text_encoding, what="input")
    result = answer(parsed, key, role, patients, crosswalk, query,
                    limits=AnswerLimits(max_pairs_per_record, max_group, max_share), column=column)
    result.save(out_path)
    m = result.metadata
    note(key_fingerprint=key.fingerprint, spec_hash=parsed.hash, rows={"pairs": m["pairs"], "records": m["records"]})
    click.echo(f"{role}: {m['pairs']:,} pairs answered for {m['records']:,} records "
               f"({m['pairs_without_given_name']:,} pairs without a given name)")
    click.echo(f"spec {parsed.name} ({parsed.hash[:12]}), key {key.fingerprint}, query {m['query_sha256'][:12]}")
    click.echo(f"wrote {out_path} (for the linkage unit)")


@click.command("resolve")
@click.option("--spec", "spec_file", required=True, type=FILE, help="The linkage spec of the first round.")
@click.option("--first-round", "state_path", required=True, type=FILE,
              help="first_round.parquet written by `harmonie query-pairs`.")
@click.option("--given-names", "answer_paths", required=True, nargs=2, type=FILE,
              help="The two holders' answers (either order).")
@click.option("--out", "out_dir", required=True, type=DIRECTORY,
              help="Folder for links.parquet, grey_zone.parquet, given_names_model.json and summary.json.")
@click.option("--threshold", type=Probability(),
              help="Match probability above which a pair is a link [default: chosen by the model].")
@overwrite_option()
def resolve(spec_file: Path, state_path: Path, answer_paths: tuple[Path, Path], out_dir: Path,
            threshold: float | None, overwrite: bool = False) -> None:
    """Second round, linkage unit: rescore the queried pairs with their given names and link again."""
    from harmonie.output_set import OutputFolder, check_output_set
    from linkage.encoding.pair_names import PairAnswer
    from linkage.second_round import FirstRound, resolve as run_resolve
    from linkage.second_round import write_second_round_outputs
    from linkage.spec import load_spec
    from privacy.audit.trail import note

    check_output_set(state_path)
    inputs = {"--spec": spec_file, "--first-round": state_path, "--given-names": answer_paths[0],
              "--given-names (second)": answer_paths[1]}
    with OutputFolder(out_dir, "resolve", inputs=inputs, overwrite=overwrite) as staging:
        state = FirstRound.load(state_path)
        result = run_resolve(load_spec(spec_file), state, [PairAnswer.load(p) for p in answer_paths],
                             threshold=threshold)
        write_second_round_outputs(result, staging)
    s, r = result.summary, result.summary["second_round"]
    note(key_fingerprint=s["key_fingerprint"], spec_hash=s["spec_hash"],
         rows={"pairs": r["queried_pairs"], "links": s["links"]})
    model = {level["label"]: level["weight"] for level in r["model"]["levels"]}
    click.echo(f"{r['queried_pairs']:,} queried pairs; given-name weights: "
               + ", ".join(f"{label} {weight:+.1f}" for label, weight in model.items()))
    click.echo(f"{s['links']:,} links at match probability >= {s['threshold']['probability']:.3f} (first round "
               f"{r['first_round_links']:,}: {r['links_dropped']:,} dropped, {r['links_added']:,} added); "
               f"{s['grey_zone_pairs']:,} pairs in the grey zone")
    e = s["estimated"]
    click.echo(f"model's own estimate: precision {e['precision']:.4f}, recall {e['recall']:.4f}")
    for warning in s["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"wrote {out_dir}/")


# --- several sources: a plan of pairs, linked and clustered into one patient id per person (issue #19)


@click.group()
def plan() -> None:
    """Multi-source plans: which sources, which pairs linked with which spec (harmonie link-all)."""


@plan.command("example")
@click.option("--cohorts", "cohorts_text", default="canto,esme,odh", show_default=True, metavar="NAME,...",
              help="The cohort sources; each is linked to snds and to the other cohorts.")
@click.option("--snds-spec", type=click.Choice(["indirect", "direct", "names"]), default="indirect",
              show_default=True, help="Example spec of the cohort x SNDS pairs.")
@click.option("--cohort-spec", type=click.Choice(["names", "direct"]), default="names", show_default=True,
              help="Example spec of the cohort x cohort pairs.")
@click.option("--out", "out_dir", required=True, type=DIRECTORY, help="Folder for plan.toml and the pair specs.")
@overwrite_option()
def plan_example(cohorts_text: str, snds_spec: str, cohort_spec: str, out_dir: Path, overwrite: bool = False) -> None:
    """Write an example plan (plan.toml) and one spec per pair, holders named after the sources."""
    from harmonie.io import write_text
    from harmonie.output_set import OutputFolder
    from linkage.multisource.examples import example_plan

    files = example_plan([c.strip() for c in cohorts_text.split(",") if c.strip()], snds_spec=snds_spec,
                         cohort_spec=cohort_spec)
    with OutputFolder(out_dir, "plan-example", overwrite=overwrite) as staging:
        for name, text in files.items():
            write_text(text, staging / name)
    click.echo(f"wrote {out_dir / 'plan.toml'} and {len(files) - 1} pair specs; encode each pair's files as the "
               "plan names them (encoded/<pair>.<source>.parquet), then `harmonie link-all --plan`")


def _echo_clusters(summary: dict, out: Path) -> None:
    c = summary["clustering"]
    for p in summary["pairs"]:
        click.echo(f"  pair {p['name']:<14s} {p['links']:>9,} links ({p['seconds']:.1f} s)")
    click.echo(f"{c['records']:,} records, {c['links']:,} links -> {c['clusters']:,} patients; "
               f"{c['resolved_components']:,} clusters resolved edge by edge ({c['checked_pairs']:,} unlinked "
               f"pairs scored), {sum(c['conflicts'].values()):,} links refused for review "
               f"({c['conflicts']['duplicate_free']:,} two records of a cohort, "
               f"{c['conflicts']['contradiction']:,} contradicted)")
    top = ", ".join(f"{k} {v:,}" for k, v in list(c["by_sources"].items())[:6])
    click.echo(f"patients by sources: {top}")
    click.echo(f"wrote {out}/ (clusters.parquet, conflicts.parquet, cluster_summary.json, pairs/)")


@click.command("link-all")
@click.option("--plan", "plan_path", required=True, type=FILE, help="The multi-source plan (plan.toml).")
@click.option("--out", "out_dir", required=True, type=DIRECTORY,
              help="Folder for pairs/<pair>/ (each pair's link outputs), clusters.parquet, conflicts.parquet and "
                   "cluster_summary.json.")
@click.option("--charts", is_flag=True, help="Also draw each pair's PNG charts.")
@click.option("--keep-candidates", is_flag=True, help="Also write each pair's candidate pairs.")
@click.option("--previous", "previous_dir", type=DIRECTORY,
              help="Last year's link-all folder: refresh (score only records that changed, with last year's models), "
                   "keep the Harmonie ids, write changes.parquet (the change log).")
@click.option("--rekey", "rekey_items", multiple=True, metavar="SOURCE=MAP",
              help="With --previous, after a key rotation: a holder's old -> new linkage id map "
                   "(harmonie rekey-map), so its records keep their Harmonie ids (repeatable).")
@engine_options
@overwrite_option()
def link_all(plan_path: Path, out_dir: Path, charts: bool, keep_candidates: bool, previous_dir: Path | None = None,
             rekey_items: tuple[str, ...] = (), engine: str = "local", spark_master: str | None = None,
             overwrite: bool = False) -> None:
    """Link every pair of a plan, then cluster: one Harmonie patient id per person (linkage unit).

    At most one record per duplicate-free source (a cohort) in a patient; a person's SNDS second
    ids may share one; links that would break that, or that a direct pair contradicts, are refused
    by match weight and listed in conflicts.parquet for review.
    """
    from harmonie.errors import HarmonieError
    from harmonie.io import read_table
    from harmonie.output_set import OutputFolder, check_output_folder
    from linkage.multisource.plan import check_plan, load_plan
    from linkage.multisource.run import PreviousRun
    from linkage.multisource.run import link_all as run_link_all
    from privacy.audit.trail import note

    if rekey_items and previous_dir is None:
        raise click.UsageError("--rekey goes with --previous (it renames last year's linkage ids)")
    check_engine(engine, spark_master)
    if engine == "spark" and keep_candidates:
        raise click.UsageError("--keep-candidates does not go with --engine spark in link-all (the candidate pairs "
                               "stay on the cluster)")
    if previous_dir is not None and Path(previous_dir).resolve() == Path(out_dir).resolve():
        raise HarmonieError("give --out another folder than --previous (last year's run stays as it was)")
    check_output_folder(out_dir, overwrite=overwrite, inputs={"--plan": plan_path, "--previous": previous_dir})
    parsed = load_plan(plan_path)
    specs = check_plan(parsed)  # every spec and file checked before any linking
    previous = PreviousRun.load(previous_dir, parsed) if previous_dir is not None else None
    for item in rekey_items:
        source, sep, path = item.partition("=")
        if not sep or source not in {s.name for s in parsed.sources}:
            raise HarmonieError(f"--rekey expects SOURCE=MAP with a source of the plan, got {item!r}")
        mapping = read_table(Path(path), columns=["old_linkage_id", "new_linkage_id"], what=f"{source} rekey map")
        previous.rekey(source, mapping.to_pandas())
    inputs = {"--plan": plan_path, "--previous": previous_dir,
              **{str(f): f for p in parsed.pairs for f in (p.spec, p.left_file, p.right_file)}}
    with OutputFolder(out_dir, "link-all", inputs=inputs, overwrite=overwrite) as staging:
        result = run_link_all(parsed, staging, charts=charts, keep_candidates=keep_candidates, specs=specs,
                              previous=previous, engine=engine, spark_master=spark_master)
    c = result.summary["clustering"]
    note(rows={"records": c["records"], "links": c["links"], "patients": c["clusters"]},
         **({"changes": {k: v for k, v in result.summary["changes"].items() if k != "previous_run"}}
            if "changes" in result.summary else {}))
    _echo_clusters(result.summary, out_dir)
    if "changes" in result.summary:
        changes = {k: v for k, v in result.summary["changes"].items() if k != "previous_run"}
        listed = ", ".join(f"{k} {v:,}" for k, v in sorted(changes.items())) or "none"
        click.echo(f"changes since {previous_dir}: {listed} (changes.parquet)")
        if changes.get("record_added", 0) > 0.5 * c["records"] and not rekey_items:
            click.echo("warning: most records are new to last year's run: if the key was rotated, give each holder's "
                       "--rekey SOURCE=MAP (harmonie rekey-map) so they keep their Harmonie ids", err=True)


@click.command("rekey-map")
@click.option("--old-crosswalk", "old_path", required=True, type=FILE, help="The crosswalk of last year's encoding.")
@click.option("--new-crosswalk", "new_path", required=True, type=FILE, help="The crosswalk under the new key.")
@click.option("--out", "out_path", required=True, type=FILE, help="The map to send to the linkage unit (Parquet).")
@overwrite_option(OVERWRITE_FILE_HELP)
def rekey_map(old_path: Path, new_path: Path, out_path: Path, overwrite: bool = False) -> None:
    """Holder, after a key rotation: map old to new linkage ids (no local id leaves), for link-all --rekey."""
    import pyarrow as pa

    from harmonie.io import ID, check_distinct_paths, read_table, write_parquet
    from harmonie.output_set import check_output_file, locked

    check_distinct_paths({"--out": out_path}, {"--old-crosswalk": old_path, "--new-crosswalk": new_path})
    check_output_file(out_path, overwrite=overwrite)
    old, new = (read_table(p, columns=["local_id", "linkage_id"], what=what, kinds={"*": ID}).to_pandas()
                for p, what in ((old_path, "old crosswalk"), (new_path, "new crosswalk")))
    joined = old.merge(new, on="local_id", suffixes=("_old", "_new")).sort_values("linkage_id_new")
    with locked(out_path):
        write_parquet(pa.table({"old_linkage_id": pa.array(joined.linkage_id_old.astype(str).tolist(), pa.string()),
                                "new_linkage_id": pa.array(joined.linkage_id_new.astype(str).tolist(), pa.string())}),
                      out_path)
    click.echo(f"{len(joined):,} records in both encodings ({len(old) - len(joined):,} only in the old one, "
               f"{len(new) - len(joined):,} only in the new one); wrote {out_path} (for the linkage unit)")


@click.command("cluster")
@click.option("--plan", "plan_path", required=True, type=FILE, help="The multi-source plan (plan.toml).")
@click.option("--run", "run_dir", required=True, type=DIRECTORY, help="A `harmonie link-all` output folder.")
@click.option("--out", "out_dir", required=True, type=DIRECTORY,
              help="Folder for clusters.parquet, conflicts.parquet and cluster_summary.json (not the run's own).")
@click.option("--no-contradictions", is_flag=True, help="Only the duplicate-free constraint, no contradiction check.")
@click.option("--components-only", is_flag=True,
              help="Plain connected components of the links, no constraint at all (to compare with).")
@click.option("--margin", type=click.FloatRange(-100, 100), help="contradiction_margin [default: the plan's].")
@overwrite_option()
def cluster_command(plan_path: Path, run_dir: Path, out_dir: Path, no_contradictions: bool,
                    margin: float | None, components_only: bool = False, overwrite: bool = False) -> None:
    """Cluster a link-all run's pair links again, e.g. with other clustering settings (no relinking)."""
    import dataclasses

    from harmonie.errors import HarmonieError
    from harmonie.output_set import OutputFolder, check_output_folder
    from linkage.multisource.plan import check_plan, load_plan
    from linkage.multisource.run import cluster_runs, load_pair_runs, write_cluster_outputs

    if Path(out_dir).resolve() == Path(run_dir).resolve():
        raise HarmonieError("give `cluster` another --out than the run folder (link-all's own clusters stay there)")
    inputs = {"--plan": plan_path, "--run": run_dir}
    check_output_folder(out_dir, overwrite=overwrite, inputs=inputs)
    parsed = load_plan(plan_path)
    settings = dataclasses.replace(parsed.clustering, check_contradictions=parsed.clustering.check_contradictions
                                   and not no_contradictions,
                                   contradiction_margin=parsed.clustering.contradiction_margin if margin is None
                                   else margin, components_only=components_only)
    parsed = dataclasses.replace(parsed, clustering=settings)
    specs = check_plan(parsed)
    runs = load_pair_runs(parsed, run_dir)
    with OutputFolder(out_dir, "cluster", inputs=inputs, overwrite=overwrite) as staging:
        result = cluster_runs(parsed, specs, runs)
        write_cluster_outputs(result, staging)
    _echo_clusters(result.summary, out_dir)


@click.command("evaluate-clusters")
@click.option("--run", "run_dir", required=True, type=DIRECTORY,
              help="A `harmonie link-all` (or `cluster`) output folder.")
@click.option("--truth", "truth_path", required=True, type=FILE,
              help="record_truth.parquet: source, local_id, person (harmonie simulate --cohorts).")
@click.option("--crosswalk", "crosswalk_items", multiple=True, required=True, metavar="SOURCE=PATH",
              help="A holder's crosswalk (local id <-> linkage id), one per source at least (repeatable).")
@click.option("--pairs-run", "pairs_dir", type=DIRECTORY,
              help="Folder holding pairs/<pair>/links.parquet for the per-pair figures [default: --run].")
@click.option("--out", "out_dir", type=DIRECTORY, help="Folder for cluster_evaluation.json [default: --run].")
@overwrite_option("Replace an earlier cluster evaluation: in the run folder its file only, another --out folder "
                  "whole. Without it an earlier one, or a non-empty other --out, is refused.")
def evaluate_clusters_command(run_dir: Path, truth_path: Path, crosswalk_items: tuple[str, ...],
                              pairs_dir: Path | None, out_dir: Path | None, overwrite: bool = False) -> None:
    """Measure patients (clusters) and each pair's links against the truth: cluster-level precision,
    recall and F1 (pairwise and exact clusters), per-pair F1, refused links that were wrong."""
    from harmonie.errors import HarmonieError
    from harmonie.io import ID, read_table, write_text
    from harmonie.output_set import OutputFolder, check_output_set
    from linkage.multisource.evaluate import evaluate_clusters, format_cluster_report

    crosswalks: dict[str, list] = {}
    for item in crosswalk_items:
        source, sep, path = item.partition("=")
        if not sep or not source.strip() or not path.strip():
            raise HarmonieError(f"--crosswalk expects SOURCE=PATH (e.g. canto=canto.crosswalk.parquet), got {item!r}")
        crosswalks.setdefault(source.strip(), []).append(
            read_table(Path(path.strip()), columns=["local_id", "linkage_id"], what=f"{source} crosswalk",
                       kinds={"*": ID}).to_pandas())
    clusters_path, summary_path = run_dir / "clusters.parquet", run_dir / "cluster_summary.json"
    conflicts_path = run_dir / "conflicts.parquet"
    for path in (clusters_path, summary_path):
        if not path.is_file():
            raise HarmonieError(f"{path} not found: give --run a `harmonie link-all` output folder")
    check_output_set(clusters_path, summary_path, conflicts_path)
    out = out_dir or run_dir
    into_run = Path(out).resolve() == Path(run_dir).resolve()
    outputs = OutputFolder(out, "evaluate-clusters", inputs=[clusters_path, summary_path, conflicts_path] if into_run
                           else {"--run": run_dir, "--truth": truth_path, "--pairs-run": pairs_dir},
                           overwrite=overwrite, into_run=into_run, writes=("cluster_evaluation.json",)).check()
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    duplicate_free = {s["name"]: bool(s["duplicate_free"]) for s in summary["sources"]}
    pairs_root = pairs_dir or run_dir
    pair_links = []
    for p in summary["pairs"]:
        links = pairs_root / p["outputs"] / "links.parquet"
        if links.is_file():
            left, right = p["name"].split("-", 1)
            pair_links.append((p["name"], left, right, read_table(links, what="links").to_pandas()))
    report = evaluate_clusters(read_table(clusters_path, what="clusters"), read_table(truth_path, what="truth",
                               kinds={"local_id": ID}), crosswalks, duplicate_free, pair_links=pair_links,
                               conflicts=read_table(conflicts_path, what="conflicts") if conflicts_path.is_file()
                               else None)
    report["clustering"] = summary["clustering"]
    with outputs as staging:
        write_text(json.dumps(report, indent=2) + "\n", staging / "cluster_evaluation.json")
    click.echo(format_cluster_report(report))
    click.echo(f"wrote {Path(out) / 'cluster_evaluation.json'}")


commands = [simulate, spec, encode, link, evaluate, bench, query_pairs, encode_pairs, resolve, plan, link_all,
            cluster_command, evaluate_clusters_command, rekey_map]
