"""One verifier per level. Each returns its module unchanged or raises an error that names
the offender: `ProgramError` at IR1, `VerifyError` (quoting the printed line) at IR2/IR3."""

from alta.ir.verify.dense import verify_dense
from alta.ir.verify.sparse import verify_sparse
from alta.ir.verify.symbolic import verify_symbolic

__all__ = ["verify_dense", "verify_sparse", "verify_symbolic"]
