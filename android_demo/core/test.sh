#!/bin/sh
# Compile the Kotlin core and its tests with kotlinc in one call and run every *Test class with JUnit 4, without
# Gradle or the Android SDK (Debian: apt-get install kotlin junit4 libgoogle-gson-java).
#
#   android_demo/core/test.sh [BUILD_DIR]      (default android_demo/core/build/jvm-test, git-ignored)
#
# Environment: INVDN_GOLDEN (default: the repository's golden/), INVDN_RESULTS_OUT (BenchmarkTest writes its
# results document there), KOTLINC, JAVA, JUNIT_JAR, HAMCREST_JAR, GSON_JAR. Exit status: JUnit's (0: all passed).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/build/jvm-test}
golden=${INVDN_GOLDEN:-$here/../../golden}
kotlinc=${KOTLINC:-kotlinc}
java=${JAVA:-java}
junit=${JUNIT_JAR:-/usr/share/java/junit4.jar}
hamcrest=${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}
gson=${GSON_JAR:-/usr/share/java/gson.jar}

command -v "$kotlinc" >/dev/null || { echo "test.sh: $kotlinc not found (apt-get install kotlin)" >&2; exit 2; }
for jar in "$junit" "$hamcrest" "$gson"; do
  [ -f "$jar" ] || { echo "test.sh: $jar not found (apt-get install junit4 libgoogle-gson-java)" >&2; exit 2; }
done
# The Kotlin standard library the compiler ships with (kotlinc's lib/ folder).
stdlib=$(dirname "$(readlink -f "$(command -v "$kotlinc")")")/../lib/kotlin-stdlib.jar
[ -f "$stdlib" ] || { echo "test.sh: no kotlin-stdlib.jar beside $kotlinc" >&2; exit 2; }

# Compile unless the classes were built from these very sources by this compiler (kotlinc is slow).
classes=$build/classes
stamp=$( (cd "$here" && for f in $(find src -name '*.kt' | LC_ALL=C sort); do echo "$f"; cat "$f"; done
  ls -lL "$(command -v "$kotlinc")" "$junit" "$gson") | sha256sum | cut -c1-64)
if [ "$(cat "$classes/.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$classes"
  mkdir -p "$classes"
  # C1 JIT only and the serial GC: half the CPU time of kotlinc's defaults for a one-shot compile
  JAVA_OPTS=${JAVA_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC} \
    "$kotlinc" -nowarn -d "$classes" -cp "$junit:$hamcrest:$gson" "$here/src/main/kotlin" "$here/src/test/kotlin"
  echo "$stamp" >"$classes/.stamp"
fi
tests=$(cd "$classes" && find . -name '*Test.class' ! -name '*$*' | sed 's|^\./||; s|\.class$||; s|/|.|g' | sort)
[ -n "$tests" ] || { echo "test.sh: no test classes compiled" >&2; exit 2; }
exec "$java" -Dinvdn.golden="$golden" -Dinvdn.fixtures="$here/src/test/resources" -Dinvdn.results.out="${INVDN_RESULTS_OUT:-}" \
  -cp "$classes:$stdlib:$junit:$hamcrest:$gson" org.junit.runner.JUnitCore $tests
