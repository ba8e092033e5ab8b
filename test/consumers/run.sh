#!/usr/bin/env bash
# Consumer smoke tests: packages the library with jsii-pacmak (the project's own package:* tasks)
# and uses the packages from small CDK apps in other languages, then checks what they synthesized.
#
#   bash test/consumers/run.sh               # all: python java go (and .NET packaging where a SDK exists)
#   bash test/consumers/run.sh python java   # some languages only
#   SMOKE_SKIP_PACKAGE=1 bash test/consumers/run.sh   # reuse lib/, assets/ and dist/ from an earlier run
#
# Needs `npm ci` first; python3 (>= 3.10, with venv), Java 17 + Maven, Go, and the PyPI, Maven
# Central and Go module proxy registries. Works on a clean clone with no input (CI=true).
# Every check prints PASS/FAIL; the last line is `smoke: N passed, N failed[, N skipped]`, and the
# exit code is non-zero when anything failed. Scratch space: .tmp/consumers/ (git-ignored).
#
# The apps (python/app.py, java/…/SmokeApp.java, go/main.go) compose the same stack;
# check-assembly.mjs holds the expectations (resources, bundled handlers) for all of them.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/test/consumers"
WORK="$ROOT/.tmp/consumers"
LOGS="$WORK/logs"
cd "$ROOT"
mkdir -p "$LOGS"

# jsii and its runtimes warn about the Node.js version on every start: the warning is known.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=1 JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
export PIP_DISABLE_PIP_VERSION_CHECK=1

LANGS=("$@")
[ ${#LANGS[@]} -eq 0 ] && LANGS=(python java go)
for l in "${LANGS[@]}"; do
  case "$l" in python|java|go) ;; *) echo "run.sh: unknown language '$l' (python, java, go)"; exit 2 ;; esac
done
wants() { local l; for l in "${LANGS[@]}"; do [ "$l" = "$1" ] && return 0; done; return 1; }
drop_lang() { local keep=() l; for l in "${LANGS[@]}"; do [ "$l" = "$1" ] || keep+=("$l"); done; LANGS=("${keep[@]}"); }

PASSED=0 FAILED=0 SKIPPED=0
TIMES=()
pass() { PASSED=$((PASSED + 1)); echo "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP $*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# step NAME CMD...: runs CMD with its output in $LOGS/NAME.log, times it; shows the log's end on failure.
step() {
  local name="$1"; shift
  local log="$LOGS/$name.log" t0; t0=$(now)
  echo "== $name: $*"
  if "$@" >"$log" 2>&1; then
    TIMES+=("$name $(elapsed "$t0") s")
    return 0
  fi
  TIMES+=("$name $(elapsed "$t0") s (failed)")
  echo "-- $name failed; last lines of $log:"
  grep -v '^!!' "$log" | tail -n 40 | sed 's/^/   | /'
  return 1
}

# check_assembly LANG STACK OUTDIR: counts the checker's PASS/FAIL lines.
check_assembly() {
  local lang="$1" stack="$2" out="$3" log="$LOGS/check-$1.log"
  node "$HERE/check-assembly.mjs" --cdk-out "$out" --stack "$stack" --assets "$ROOT/assets" \
    --default-runtime "$DEFAULT_RUNTIME" --runtime-lifecycle "$RUNTIME_LIFECYCLE" >"$log" 2>&1
  local rc=$?
  sed "s/^/[$lang] /" "$log"
  local p f
  p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log")
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
  # A crash of the checker itself (no FAIL line, non-zero exit) is a failure too.
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then fail "$lang: check-assembly.mjs exited $rc"; fi
}

# expect_refused_sql LANG CMD...: the app run with SMOKE_REFUSED_SQL=1 adds a user operation whose
# SQL is a DELETE; synth must fail with the API's SQL guard's message (checked at synth, in a child
# Node.js process the construct starts, whatever the app's language).
REFUSED_SQL_MESSAGE="userOperations[1] ('purge_customers') is refused by the API's SQL guard: Only SELECT queries are allowed, not DELETE"
expect_refused_sql() {
  local lang="$1"; shift
  local log="$LOGS/$lang-refused-sql.log"
  echo "== $lang-refused-sql: SMOKE_REFUSED_SQL=1 $*"
  if SMOKE_REFUSED_SQL=1 "$@" >"$log" 2>&1; then
    fail "$lang: synth with a DELETE user operation succeeded (log: $log)"
  elif grep -qF "$REFUSED_SQL_MESSAGE" "$log"; then
    pass "$lang: refused user SQL is a synth error: $REFUSED_SQL_MESSAGE"
  else
    fail "$lang: synth with a DELETE user operation failed without the guard's message (log: $log)"
    grep -v '^!!' "$log" | tail -n 20 | sed 's/^/   | /'
  fi
}

echo "== toolchain: node $(node --version); $(python3 --version 2>&1); $(java -version 2>&1 | head -1);" \
  "$(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g'); $(go version 2>/dev/null || echo 'no go');" \
  "dotnet $(dotnet --version 2>/dev/null || echo 'not installed')"

# ---------- Java needs aws-cdk-lib's jar at the floor from the Maven repository ----------
# jsii-pacmak's Java build and the Java app resolve aws-cdk-lib in [floor, 3) from Maven. A Maven
# repository that has no jar of the floor (a stale mirror: Maven Central as this project reaches it
# serves aws-cdk-lib POMs up to 2.270.0 but jars only up to 2.263.0) cannot build the Java package:
# say so and skip Java rather than fail on the registry.
if wants java; then
  CDK_FLOOR=$(sed -n 's:.*<cdk.version>\(.*\)</cdk.version>.*:\1:p' "$HERE/java/pom.xml")
  if ! step java-floor-jar mvn -B -q dependency:get -Dartifact="software.amazon.awscdk:aws-cdk-lib:$CDK_FLOOR" -Dtransitive=false; then
    skip "java: the Maven repository serves no aws-cdk-lib $CDK_FLOOR jar (log: $LOGS/java-floor-jar.log); the Java package and its smoke test need it"
    drop_lang java
  fi
fi

# ---------- packaging: the project's own tasks ----------
PKG_OK_python=0 PKG_OK_java=0 PKG_OK_go=0
WHEEL="" GO_MODULE="$ROOT/dist/go/cdkserverlessdatapipeline"
LIB_VERSION=$(node -p "require('./package.json').version")
JAR="$ROOT/dist/java/io/github/cdk-serverless-data-pipeline/cdk-serverless-data-pipeline/$LIB_VERSION/cdk-serverless-data-pipeline-$LIB_VERSION.jar"

if [ "${SMOKE_SKIP_PACKAGE:-}" = "1" ]; then
  echo "== SMOKE_SKIP_PACKAGE=1: using lib/, assets/ and dist/ as they are"
else
  # lib/ and .jsii (jsii) with the handler bundles in assets/ (pre-compile), as in `projen build`.
  if step compile bash -c 'npx projen pre-compile && npx projen compile'; then
    pass "compile: jsii assembly and handler bundles"
  else
    fail "compile: npx projen pre-compile/compile"
  fi
  # The TypeScript examples translated by jsii-rosetta into .jsii.tabl.json, which pacmak reads.
  if grep -q '"rosetta:extract"' .projen/tasks.json; then
    rm -f .jsii.tabl.json
    if step rosetta npx projen rosetta:extract; then pass "rosetta: TypeScript examples compile and translate"; else fail "rosetta:extract"; fi
  else
    skip "rosetta: no rosetta:extract task in this build (the packages' READMEs keep the TypeScript examples)"
  fi
  for l in python java go; do
    wants "$l" || continue
    rm -rf "$ROOT/dist/$l"
    if step "package-$l" npx projen "package:$l"; then :
    elif [ "$l" = go ] && [ -f "$GO_MODULE/go.mod" ] \
        && grep -qE 'proxy.golang.org/github.com/aws/aws-cdk-go/awscdk/v2/@v/v[0-9.]+\.(mod|info|zip): 403' "$LOGS/package-go.log"; then
      # pacmak generated the module, then its check build fetched the aws-cdk-lib Go module of the
      # version the library was built with, which the Go module proxy refuses here. The Go app below
      # compiles the generated module anyway (against the floor).
      skip "package:go check build: the Go module proxy refuses $(grep -oE 'awscdk/v2@v[0-9.]+' "$LOGS/package-go.log" | head -1) (module generated; the Go app builds it)"
    else
      fail "package:$l (log: $LOGS/package-$l.log)"
    fi
  done
  # .NET: built where a .NET SDK exists; the task itself says when it skips.
  if step package-dotnet npx projen package:dotnet; then
    if grep -q 'package:dotnet skipped' "$LOGS/package-dotnet.log"; then
      skip "package:dotnet: $(grep -o 'package:dotnet skipped.*' "$LOGS/package-dotnet.log" | head -1)"
    elif ls "$ROOT"/dist/dotnet/*.nupkg >/dev/null 2>&1; then
      pass "package:dotnet: $(basename "$(ls "$ROOT"/dist/dotnet/*.nupkg | head -1)")"
    else
      fail "package:dotnet: no dist/dotnet/*.nupkg"
    fi
  else
    fail "package:dotnet (log: $LOGS/package-dotnet.log)"
  fi
fi

# What the library functions' runtime must be: the compiled library's default, and not blocked for
# new functions by AWS's lifecycle (the pinned cfn-lint's data, as in the tests' runtime gate).
DEFAULT_RUNTIME=$(node -p "require('./lib/common/lambda-tuning').DEFAULT_RUNTIME.name" 2>/dev/null || echo unknown)
if step cfn-lint-install bash tools/install-cfn-lint.sh; then
  RUNTIME_LIFECYCLE=$(ls "$ROOT"/.tools/cfn-lint-venv/lib/python*/site-packages/cfnlint/data/AdditionalSpecs/LmbdRuntimeLifecycle.json 2>/dev/null | head -1)
else
  fail "cfn-lint install (its runtime lifecycle data is what the runtime checks read)"
fi
RUNTIME_LIFECYCLE="${RUNTIME_LIFECYCLE:-missing}"
echo "== library default runtime: $DEFAULT_RUNTIME; lifecycle data: ${RUNTIME_LIFECYCLE#"$ROOT/"}"

# What each language's package must have produced.
if wants python; then
  WHEEL=$(ls "$ROOT"/dist/python/cdk_serverless_data_pipeline-*.whl 2>/dev/null | head -1)
  if [ -n "$WHEEL" ]; then pass "python package: $(basename "$WHEEL")"; PKG_OK_python=1; else fail "python package: no dist/python/*.whl"; fi
  # With rosetta, the wheel's README shows the usage in Python, not TypeScript.
  if [ -n "$WHEEL" ] && [ -f .jsii.tabl.json ]; then
    if python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
text = z.read(meta).decode()
sys.exit(0 if "CanonicalStore(stack, \"Store\"," in text and "new CanonicalStore(" not in text else 1)' "$WHEEL"; then
      pass "python package: README examples translated to Python by jsii-rosetta"
    else
      fail "python package: README still shows TypeScript (new CanonicalStore) or no Python usage"
    fi
  fi
fi
if wants java; then
  if [ -f "$JAR" ]; then pass "java package: ${JAR#"$ROOT/"}"; PKG_OK_java=1; else fail "java package: no $JAR"; fi
fi
if wants go; then
  if [ -f "$GO_MODULE/go.mod" ]; then pass "go package: ${GO_MODULE#"$ROOT/"}"; PKG_OK_go=1; else fail "go package: no $GO_MODULE/go.mod"; fi
fi

# ---------- Python: a venv with aws-cdk-lib at the floor and the built wheel ----------
smoke_python() {
  local venv="$WORK/python-venv" out="$WORK/cdk.out.python" t0; t0=$(now)
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    fail "python: python3 >= 3.10 needed, found $(python3 --version 2>&1)"; return
  fi
  [ -x "$venv/bin/python" ] || step python-venv python3 -m venv "$venv" || { fail "python: venv"; return; }
  # Dependencies (and the wheel's own: jsii, publication, typeguard), then the wheel itself afresh:
  # an unreleased build is always 0.0.0, so pip would keep an older install of it.
  if step python-install bash -c "'$venv/bin/pip' install -q -r '$HERE/python/requirements.txt' '$WHEEL' \
      && '$venv/bin/pip' install -q --force-reinstall --no-deps '$WHEEL'"; then
    pass "python: pip install $(grep -E '^aws-cdk-lib==' "$HERE/python/requirements.txt") + $(basename "$WHEEL")"
  else
    fail "python: pip install"; return
  fi
  rm -rf "$out"
  if step python-synth "$venv/bin/python" "$HERE/python/app.py" "$out"; then
    pass "python: app.py synthesized"
    check_assembly python SmokePython "$out"
  else
    fail "python: app.py synth"
  fi
  expect_refused_sql python "$venv/bin/python" "$HERE/python/app.py" "$out.refused"
  TIMES+=("smoke-python total $(elapsed "$t0") s")
}

# ---------- Java: Maven, the jar from dist/java (a repository layout), aws-cdk-lib from Maven Central ----------
smoke_java() {
  local m2="${SMOKE_M2_REPO:-$HOME/.m2/repository}" out="$WORK/cdk.out.java" t0; t0=$(now)
  # Release versions are never re-fetched: drop any earlier copy of this library's jar.
  rm -rf "$m2/io/github/cdk-serverless-data-pipeline"
  rm -rf "$out"
  if step java-synth mvn -B -q -Dmaven.repo.local="$m2" -f "$HERE/java/pom.xml" \
      -Dlibrary.version="$LIB_VERSION" -Dsmoke.migrations="$HERE/migrations" \
      compile exec:java -Dexec.args="$out"; then
    pass "java: mvn compile exec:java synthesized"
    check_assembly java SmokeJava "$out"
  else
    fail "java: mvn compile exec:java"
  fi
  expect_refused_sql java mvn -B -q -Dmaven.repo.local="$m2" -f "$HERE/java/pom.xml" \
    -Dlibrary.version="$LIB_VERSION" -Dsmoke.migrations="$HERE/migrations" \
    exec:java -Dexec.args="$out.refused"
  TIMES+=("smoke-java total $(elapsed "$t0") s")
}

# ---------- Go: the module from dist/go through a replace directive ----------
smoke_go() {
  local app="$WORK/go-app" out="$WORK/cdk.out.go" t0; t0=$(now)
  # A copy, so that `go mod tidy` can follow dist/go's requirements without touching the tree.
  rm -rf "$app" "$out" && mkdir -p "$app"
  cp "$HERE/go/main.go" "$HERE/go/go.mod" "$HERE/go/go.sum" "$app/"
  if step go-build bash -c "cd '$app' \
      && go mod edit -replace=github.com/example/cdk-serverless-data-pipeline-go/cdkserverlessdatapipeline='$GO_MODULE' \
      && go mod tidy && go build -o smoke ."; then
    pass "go: go build"
  else
    fail "go: go build"; return
  fi
  if step go-synth env SMOKE_MIGRATIONS="$HERE/migrations" "$app/smoke" "$out"; then
    pass "go: app synthesized"
    check_assembly go SmokeGo "$out"
  else
    fail "go: app synth"
  fi
  expect_refused_sql go env SMOKE_MIGRATIONS="$HERE/migrations" "$app/smoke" "$out.refused"
  TIMES+=("smoke-go total $(elapsed "$t0") s")
}

for l in "${LANGS[@]}"; do
  ok_var="PKG_OK_$l"
  if [ "${!ok_var}" = "1" ]; then "smoke_$l"; else fail "$l: smoke test not run (no package)"; fi
done

echo "== timings"
for t in "${TIMES[@]}"; do echo "   $t"; done
summary="smoke: $PASSED passed, $FAILED failed"
[ "$SKIPPED" -gt 0 ] && summary="$summary, $SKIPPED skipped"
echo "$summary"
[ "$FAILED" -eq 0 ]
