"""kancc.tools: what sits on top of the compiler for users to inspect and trust models.

``differential_check`` (kancc check), ``analyze`` (kancc analyze), ``plots`` (kancc plot),
``unfactorized`` (the full-coefficient twin of a Tucker or LoTRA model, the oracle of the
other tools) and ``random_specs`` (seeded random specs for differential tests).
"""
