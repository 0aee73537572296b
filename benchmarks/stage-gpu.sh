#!/usr/bin/env bash
# Stages everything a GPU host without a JDK needs into the git-ignored .gpu/ folder: the float8j jars and their
# dependencies (.gpu/lib), the runtime's test classes and the JUnit console (for the CUDA tests), a jlink'ed
# Java 25 runtime (.gpu/jre.tar.xz) and the scripts of benchmarks/. Run from the repository root, then carry .gpu.
# With BASE=REV it also stages REV's float8j jars in .gpu/lib-base (built in a temporary worktree, with the same
# dependencies), and llama-gpu.sh then times both commits side by side; staged without BASE, .gpu/lib-base is removed.
set -euo pipefail
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
mvn -B -q install -DskipTests
rm -rf .gpu/lib .gpu/test-classes && mkdir -p .gpu/lib
for m in plan runtime samples benchmarks; do
  cp "$m"/target/float8j-"$m"-*.jar .gpu/lib/
done
rm -f .gpu/lib/*-sources.jar .gpu/lib/*-javadoc.jar
mvn -B -q -o dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$PWD/.gpu/lib" -pl runtime,samples,benchmarks
# oneDNN for CpuBenchmark --onednn (libdnnl.so.3, libgomp, libOpenCL.so.1 in two jars, 27 MB) only with WITH_ONEDNN=1:
# with them .gpu/ and the repository together pass the 64 MiB a device call carries; optional, so a failure only warns
if [ "${WITH_ONEDNN:-0}" = 1 ]; then
  mvn -B -q -Ponednn dependency:copy-dependencies -DincludeScope=runtime -DincludeGroupIds=org.bytedeco \
    -DoutputDirectory="$PWD/.gpu/lib" -pl benchmarks || echo "stage-gpu.sh: oneDNN jars not staged" >&2
fi
rm -f .gpu/lib/float8j-annotations-*.jar.bak
rm -rf .gpu/lib-base
if [ -n "${BASE:-}" ]; then
  # package, not install: the base's jars carry the same version as this checkout's and must not replace them in ~/.m2
  base_tree=$(mktemp -d)/float8j-base
  git worktree add -q --detach "$base_tree" "$BASE"
  (cd "$base_tree" && mvn -B -q -o package -DskipTests -pl plan,runtime,samples,benchmarks -am)
  mkdir -p .gpu/lib-base
  for m in plan runtime samples benchmarks annotations; do
    cp "$base_tree/$m"/target/float8j-"$m"-*.jar .gpu/lib-base/
  done
  rm -f .gpu/lib-base/*-sources.jar .gpu/lib-base/*-javadoc.jar
  git rev-parse --short "$BASE" > .gpu/lib-base/COMMIT
  git worktree remove --force "$base_tree"
fi
cp -r runtime/target/test-classes .gpu/test-classes
cp ~/.m2/repository/org/junit/platform/junit-platform-console-standalone/1.11.4/junit-platform-console-standalone-1.11.4.jar .gpu/junit-console.jar
cp benchmarks/*.sh benchmarks/*.py .gpu/
# the Llama demo's default text (the JDK's java.util sources) for the GPU host, whose jlink'ed JRE has no lib/src.zip
(unzip -p "$JAVA_HOME/lib/src.zip" 'java.base/java/util/*' || true) | head -c 2000000 > .gpu/jdk-sources.txt
# java.desktop: the demos draw their charts with java.awt (headless); the JRE is rebuilt when this list changes
modules=java.scripting,java.naming,jdk.management,java.instrument,jdk.zipfs,java.desktop
if [ ! -f .gpu/jre.tar.xz ] || [ "$(cat .gpu/jre.modules 2>/dev/null)" != "$modules" ]; then
  rm -f .gpu/jre.tar.xz
  ../shared/gpu/pack-jre.sh .gpu "$modules" && echo "$modules" > .gpu/jre.modules
fi
du -sh .gpu
