"""External (synthetic) control arms for single-arm trials, from the warehouse or a replica, with error rates.

    spec = read_arm_spec("eligibility.toml")                       # the emulated target trial (TOML)
    result = build_arm(trial_tables, warehouse_tables, spec, seed=0) # eligibility, balancing, HR, KM, RMST
    write_arm(result, "arm/")                                        # analysis_set.parquet + report/ (disclosure-safe)
    cal = calibrate_arms(warehouse, trial_source, spec, CalibrationSettings(trials=200), replica=replica)
    cal.summary, cal.warnings                                        # type I error, power, bias, coverage

Commands: ``harmonie arm example-eligibility | simulate-trial | build | calibrate`` (:mod:`synth.arms.cli`).
"""

from harmonie.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "ArmSpec": "synth.arms.eligibility", "Eligibility": "synth.arms.eligibility", "IndexRule": "synth.arms.eligibility",
    "Analysis": "synth.arms.eligibility", "parse_arm_spec": "synth.arms.eligibility",
    "read_arm_spec": "synth.arms.eligibility", "example_eligibility_text": "synth.arms.eligibility",
    "Cohort": "synth.arms.cohort", "build_cohort": "synth.arms.cohort",
    "balance_arms": "synth.arms.balance", "smd_table": "synth.arms.balance", "covariate_terms": "synth.arms.balance",
    "hazard_ratio": "synth.arms.outcome", "rmst_difference": "synth.arms.outcome",
    "target_trial_protocol": "synth.arms.protocol", "protocol_markdown": "synth.arms.protocol",
    "TrialDesign": "synth.arms.trial", "simulate_trial": "synth.arms.trial",
    "ArmResult": "synth.arms.build", "build_arm": "synth.arms.build", "write_arm": "synth.arms.build",
    "CalibrationSettings": "synth.arms.calibrate", "Calibration": "synth.arms.calibrate",
    "calibrate_arms": "synth.arms.calibrate",
    "build_arm_files": "synth.arms.files", "simulate_trial_files": "synth.arms.files",
    "calibrate_files": "synth.arms.files", "read_trial": "synth.arms.files",
})
