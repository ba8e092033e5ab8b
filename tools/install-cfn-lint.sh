#!/usr/bin/env bash
# Installs the pinned cfn-lint (tools/cfn-lint-requirements.txt) from PyPI into .tools/cfn-lint-venv,
# once: the template lint (npm run lint:templates) and the runtime gate (test/runtime-gate.test.ts)
# use it from there. Needs python3 (>= 3.9) with venv. Run from anywhere:
#   npx projen cfn-lint:install        (or: bash tools/install-cfn-lint.sh)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.tools/cfn-lint-venv"
requirements="$root/tools/cfn-lint-requirements.txt"
wanted="$(grep -E '^cfn-lint==' "$requirements" | sed 's/^cfn-lint==//')"
if [ -x "$venv/bin/cfn-lint" ] && [ "$("$venv/bin/cfn-lint" --version 2>/dev/null)" = "cfn-lint $wanted" ]; then
  echo "cfn-lint $wanted is installed in .tools/cfn-lint-venv"
  exit 0
fi
echo "installing cfn-lint $wanted from PyPI into .tools/cfn-lint-venv" >&2
rm -rf "$venv"
python3 -m venv "$venv"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install --quiet -r "$requirements"
"$venv/bin/cfn-lint" --version
