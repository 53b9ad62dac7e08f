#!/usr/bin/env bash
# Builds apitop's Java agent, target/java-agent/apitop-agent.jar, from java-agent/src with
# Debian's JDK 17 and Debian's ASM (libasm-java), installing both with apt-get when missing.
# Idempotent: a jar newer than every source (and this script) is kept.
#   apitop-agent.jar        Agent-Class apitop.agent.Agent (+ NestedLoader)
#     apitop-lib/boot.jar   the hooks, appended to the JVM's bootstrap class path
#     apitop-lib/xform.jar  the transformer + ASM, loaded in the agent's isolated class loader
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/java-agent/src"
out="${1:-$root/target/java-agent}"
jar_out="$out/apitop-agent.jar"
asm_jars=(/usr/share/java/asm.jar /usr/share/java/asm-commons.jar)

if [ -f "$jar_out" ] && [ -z "$(find "$src" "$0" -newer "$jar_out" -print -quit)" ]; then
  exit 0
fi

missing=()
jdk=/usr/lib/jvm/java-17-openjdk-amd64
[ -x "$jdk/bin/javac" ] || jdk=$(dirname "$(dirname "$(readlink -f /usr/lib/jvm/java-17-openjdk-*/bin/javac 2>/dev/null | head -1)")") || true
[ -x "$jdk/bin/javac" ] && [ -x "$jdk/bin/jar" ] || missing+=(openjdk-17-jdk-headless)
for j in "${asm_jars[@]}"; do [ -f "$j" ] || { missing+=(libasm-java); break; }; done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  jdk=$(dirname "$(dirname "$(readlink -f "$(ls /usr/lib/jvm/java-17-openjdk-*/bin/javac | head -1)")")")
fi
javac="$jdk/bin/javac"
jar="$jdk/bin/jar"

work="$(mktemp -d "${TMPDIR:-/tmp}/apitop-java-agent.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{boot,xform,agent/apitop-lib,xform-lib}
jopts=(--release 17 -encoding UTF-8 -Xlint:all -Werror -g)

# The hooks: java.base and java.instrument only; they end up in the bootstrap loader.
"$javac" "${jopts[@]}" -d "$work/boot" $(find "$src/boot" -name '*.java')
"$jar" --create --file "$work/agent/apitop-lib/boot.jar" -C "$work/boot" .

# The transformer with ASM's classes beside it (their license too), unrelocated: the isolated
# loader keeps them apart from any ASM the application has.
"$javac" "${jopts[@]}" -Xlint:-classfile -cp "$(IFS=:; echo "${asm_jars[*]}")" -d "$work/xform" \
  $(find "$src/xform" -name '*.java')
for j in "${asm_jars[@]}"; do (cd "$work/xform-lib" && "$jar" --extract --file "$(readlink -f "$j")"); done
rm -rf "$work/xform-lib/META-INF"
cp -r "$work/xform-lib/." "$work/xform/"
mkdir -p "$work/xform/META-INF"
cp /usr/share/doc/libasm-java/copyright "$work/xform/META-INF/ASM-COPYRIGHT" 2>/dev/null || true
"$jar" --create --file "$work/agent/apitop-lib/xform.jar" -C "$work/xform" .

"$javac" "${jopts[@]}" -d "$work/agent" $(find "$src/agent" -name '*.java')
cat >"$work/manifest.txt" <<'MF'
Agent-Class: apitop.agent.Agent
Premain-Class: apitop.agent.Agent
Can-Retransform-Classes: true
Can-Redefine-Classes: false
Implementation-Title: apitop Java agent (protocol 1)
MF
mkdir -p "$out"
"$jar" --create --file "$work/apitop-agent.jar" --manifest "$work/manifest.txt" -C "$work/agent" .
mv "$work/apitop-agent.jar" "$jar_out"
echo "built $jar_out"
