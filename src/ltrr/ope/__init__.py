"""Off-policy estimation (EVALUATION.md section 4): what another policy would have achieved.

``estimators`` holds IPS, SNIPS and DR with their bootstrap intervals in the Open Bandit
Pipeline's vocabulary (``pscore``, ``action_dist``); ``plans`` applies them to ltrr's logged
plans (coverage propensities); ``clicks`` judges relevance from the log with a click model;
``open_bandit`` reads the Open Bandit Dataset sample.
"""
