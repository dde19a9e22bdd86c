"""A stand-in for `python -m scripts.preflight --stack NAME` that finds a problem.

The contract (helper "gcp", issue 18): exit 0 when the project can take the stack, exit 2 with
one problem per line otherwise.
"""

import sys

if __name__ == "__main__":
    print("problem: the quota for C2D CPUs in us-central1 is 24, this stack needs 64")
    sys.exit(2)
