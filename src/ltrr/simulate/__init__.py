"""The learning loop under simulated users (EVALUATION.md section 3).

``simulate.run.simulate`` is the driver: pools of queries (``pools``), Zipf traffic with
users and contexts (``traffic``), click models (``clicks``), fixed plans by set operations
(``fixed``), learned policies run live (``live``), their comparison and checks (``compare``,
``checks``), the JSON report and its plots (``report``, ``plots``) and off-policy estimates
checked against on-policy runs (``ope``). ``bench`` is the setup of one benchmark that the
driver and ``sweep`` share: a sweep runs every click model x seed x learned policy of one
benchmark, in-process or as Ray tasks, with the same numbers. It reaches the pipeline only
through its public modules, and its corpus and indexes through ``evaluate.workspace``.
"""
