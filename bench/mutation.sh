#!/usr/bin/env bash
# Mutation testing of the Python-only modules (optional; not part of CI).
#
#   pip install -e ".[test,mutation]"
#   bench/mutation.sh                                   # the modules in [tool.mutmut] only_mutate
#   bench/mutation.sh fastem/io.py tests/test_io.py     # another module and the tests that guard it
#
# mutmut (https://pypi.org/project/mutmut/) copies the package to mutants/, changes one
# operator, constant or call at a time, and runs the tests that reach the changed function;
# a mutant that no test notices "survives". The first run compiles the Numba kernels of the
# copy (a minute or two); docs/robustness.md has the scores and what the survivors were.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -ge 1 ]; then
    # one module and its tests: a temporary [tool.mutmut] section replaces the default one
    module=$1; shift
    tests=$(printf '"%s", ' "$@")
    cp pyproject.toml pyproject.toml.mutation-backup
    trap 'mv pyproject.toml.mutation-backup pyproject.toml' EXIT
    python - "$module" "[${tests%, }]" <<'PY'
import re, sys
text = open("pyproject.toml").read()
text = re.sub(r'only_mutate = \[[^\]]*\]', f'only_mutate = ["{sys.argv[1]}"]', text)
text = re.sub(r'pytest_add_cli_args_test_selection = \[[^\]]*\]',
              f'pytest_add_cli_args_test_selection = {sys.argv[2]}', text)
open("pyproject.toml", "w").write(text)
PY
fi
rm -rf mutants
python -m mutmut run --max-children "${MUTMUT_JOBS:-2}"
python -m mutmut results --all true 2>/dev/null | grep -c ': survived' || true
