"""Record linkage without names: what the holders run to encode, and what the linkage unit runs.

Holders (each on its own side, with the shared secret)::

    spec = example_spec("indirect")                  # or load_spec("spec.toml")
    encoded = encode_holder(spec, key, "cohort", patients, stays)   # pandas or Arrow in
    write_encoded(encoded.encoded, encoded.metadata, "cohort.encoded.parquet")  # sent to the linkage unit

The linkage unit (encoded files only, never the secret)::

    from linkage.link import link                    # the module of the same name is the local engine
    result = link(spec, "cohort.encoded.parquet", "snds.encoded.parquet")  # or EncodedFile objects
    result.links            # Arrow: left_id, right_id, match_weight, match_probability, levels
    write_link_outputs(result, "run/")

Test populations with ground truth: :func:`make_population` (the cohort <-> SNDS
simulator) and the FEBRL sets; quality against truth: :func:`evaluate_links`.
"""

from harmonie.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    # the spec shared by holders and the linkage unit
    "Spec": "linkage.spec", "load_spec": "linkage.spec", "parse_spec": "linkage.spec",
    "example_spec": "linkage.spec", "example_spec_text": "linkage.spec",
    # holders: encoding
    "encode_holder": "linkage.encoding", "EncodeResult": "linkage.encoding", "EncodedFile": "linkage.encoding",
    "read_encoded": "linkage.encoding", "write_encoded": "linkage.encoding",
    # the linkage unit
    "LinkResult": "linkage.link", "write_link_outputs": "linkage.link",
    "LinkPlan": "linkage.plan", "LinkSummary": "linkage.plan", "FellegiSunter": "linkage.model",
    "load_model": "linkage.model",
    # measuring against truth
    "evaluate_links": "linkage.evaluate", "bench_linkage": "linkage.bench",
    "make_population": "linkage.datasets", "Population": "linkage.datasets", "PopulationParams": "linkage.datasets",
    # several sources: a plan of pairs, clustered into one patient id per person (issue #19)
    "make_warehouse": "linkage.datasets", "load_plan": "linkage.multisource", "link_all": "linkage.multisource",
    "evaluate_clusters": "linkage.multisource",
})
