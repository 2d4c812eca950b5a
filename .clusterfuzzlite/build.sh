#!/bin/bash -eu
# ClusterFuzzLite entry point: the project's own build script does the work.
"$SRC/mailtls/fuzz/build.sh"
