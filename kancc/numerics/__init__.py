"""kancc.numerics: float math on coefficient arrays, shared by passes, trainers and tools.

No IR and no parameter names: HOSVD and Tucker tensors (``hosvd``), the float64 forms of the
exact change of basis and prolongation and the coefficient maps they define
(``basis_matrices``).
"""
