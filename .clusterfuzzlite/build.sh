#!/bin/bash -eu
# ClusterFuzzLite builds exactly as OSS-Fuzz does.
exec "${SRC:?}/speermint/fuzz/oss-fuzz/build.sh"
