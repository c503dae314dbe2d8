# scripts/lib/jars.sh — sourced, not run: what the scripts that run Java
# servers from Maven jars (scripts/kafka, scripts/zookeeper) share: finding
# Java and resolving a pom's runtime jars, once, into a cache.
#
# The sourcing script defines say MESSAGE and die MESSAGE.

# jars_java: print the java to use: $JAVA_HOME/bin/java, else java on PATH.
jars_java() {
  local j
  if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then j=$JAVA_HOME/bin/java
  else j=$(command -v java || true); fi
  [[ -n $j ]] || die "java not found (need Java 17+; set JAVA_HOME)"
  echo "$j"
}

# jars_resolve WHAT POM LIBS JAR: copy the runtime dependencies of POM into the
# directory LIBS with Maven, unless LIBS already holds those of this POM (its
# marker holds the pom's hash, so editing the pom resolves again). JAR is a file
# name that must be among them. Concurrent callers wait for one another on a
# lock beside LIBS; the directory appears whole or not at all.
jars_resolve() {
  local what=$1 pom=$2 libs=$3 jar=$4 marker want
  marker=$libs/.complete
  want=$(sha256sum "$pom" | cut -d' ' -f1)
  if [[ -f $marker && $(cat "$marker") == "$want" ]]; then return 0; fi
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch the $what jars)"
  mkdir -p "$(dirname "$libs")"
  (
    flock 8
    # Another process may have finished while we waited for the lock.
    if [[ -f $marker && $(cat "$marker") == "$want" ]]; then exit 0; fi
    say "resolving $what jars with Maven into $libs ..."
    local tmp=$libs.tmp.$$ mvnlog
    mvnlog=$(mktemp)
    rm -rf "$tmp"
    if ! mvn -B -q -Dstyle.color=never -f "$pom" \
        dependency:copy-dependencies -DoutputDirectory="$tmp" -DincludeScope=runtime \
        </dev/null >"$mvnlog" 2>&1; then
      tail -n 40 "$mvnlog" >&2
      rm -rf "$tmp" "$mvnlog"
      die "Maven could not resolve the $what jars (see above)"
    fi
    rm -f "$mvnlog"
    [[ -f $tmp/$jar ]] || { rm -rf "$tmp"; die "$jar missing after resolution"; }
    rm -rf "$libs"
    mv "$tmp" "$libs"
    echo "$want" >"$marker"
  ) 8>"$(dirname "$libs")/.resolve.lock"
}
