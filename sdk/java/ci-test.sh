#!/usr/bin/env bash
# Builds and tests the Java SDK (every module) against the real agent binary.
# Run from anywhere; `make test-sdk-java` runs it from the repository root as
#   LOGFLUX_AGENT_BIN=$PWD/bin/logflux-agent bash sdk/java/ci-test.sh
# Maven downloads what it needs on a fresh machine. Exits non-zero on any test failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ -z "${LOGFLUX_AGENT_BIN:-}" ]; then
	mkdir -p "$here/target"
	echo "== building the agent (LOGFLUX_AGENT_BIN unset)"
	(cd "$root" && go build -o "$here/target/logflux-agent" ./cmd/logflux-agent)
	LOGFLUX_AGENT_BIN="$here/target/logflux-agent"
fi
export LOGFLUX_AGENT_BIN

# The virtual-thread test needs Java 21+; the Temurin 25 JDK runs the whole suite
# when it is installed. Otherwise that one test reports itself as not run.
if [ -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]; then
	export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
	# Maven 3.8's bundled Guava calls sun.misc.Unsafe; keep JDK 24+ quiet about it.
	export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
fi
java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
echo "== Java SDK: $("$java_bin" -version 2>&1 | head -n 1); agent $LOGFLUX_AGENT_BIN"

status=0
mvn -B -q -f "$here/pom.xml" install || status=$?

# A short summary from the Surefire reports (Maven -q prints only failures).
summary() {
	local tests=0 failures=0 errors=0 skipped=0 f t
	for f in "$here"/*/target/surefire-reports/TEST-*.xml; do
		[ -e "$f" ] || continue
		t=$(grep -m1 -o '<testsuite [^>]*>' "$f")
		tests=$((tests + $(sed -E 's/.* tests="([0-9]+)".*/\1/' <<<"$t")))
		failures=$((failures + $(sed -E 's/.* failures="([0-9]+)".*/\1/' <<<"$t")))
		errors=$((errors + $(sed -E 's/.* errors="([0-9]+)".*/\1/' <<<"$t")))
		skipped=$((skipped + $(sed -E 's/.* skipped="([0-9]+)".*/\1/' <<<"$t")))
	done
	echo "== Java SDK tests: $tests run, $failures failed, $errors errors, $skipped skipped"
	# What was skipped, and why (a skipped test names its reason).
	grep -h -o 'TestAbortedException: .*' "$here"/*/target/surefire-reports/TEST-*.xml 2>/dev/null | sort | uniq -c || true
	grep -h "VirtualThreadTest:" "$here"/*/target/surefire-reports/*-output.txt 2>/dev/null || true
}
summary
exit $status
