#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build script (run as $SRC/build.sh inside the
# base-builder-rust image, from $SRC/speermint). Builds every fuzz target
# with `cargo fuzz build -O` (the image's toolchain and sanitizer flags) and
# puts into $OUT, per target: the binary, <target>_seed_corpus.zip,
# <target>.dict and, with a FUZZ_MAX_LEN entry, <target>.options.
#
# The lists below mirror FUZZ_TARGETS / FUZZ_SEEDS / FUZZ_DICTS /
# FUZZ_MAX_LEN of .ci/run, one line per target; corpora/tests/oss_fuzz.rs
# checks that they agree with each other and with the [[bin]] names of
# fuzz/Cargo.toml.

cd "${SRC:?}/speermint"

FUZZ_TARGETS=(
    sip_parse
    sip_structured
    sip_stream
    sip_diff
    sdp_roundtrip
    sbe_sequence
    rtp_parse
    rtcp_parse
    srtp_unprotect
    sbe_media
    dbe_sequence
    enum_naptr
    lrf_answers
    identity_verify
)
declare -A FUZZ_SEEDS=(
    [sip_parse]=corpora/sip
    [sip_structured]=corpora/sip
    [sip_stream]=corpora/sip
    [sip_diff]=corpora/sip
    [sdp_roundtrip]=corpora/sdp
    [sbe_sequence]=corpora/sbe
    [rtp_parse]=corpora/rtp
    [rtcp_parse]=corpora/rtp
    [srtp_unprotect]=corpora/rtp
    [sbe_media]=corpora/sbe_media
    [dbe_sequence]=corpora/dbe
    [enum_naptr]=corpora/enum
    [lrf_answers]=corpora/lrf
    [identity_verify]=corpora/identity
)
declare -A FUZZ_DICTS=(
    [sip_parse]=corpora/dict/sip.dict
    [sip_structured]=corpora/dict/sip.dict
    [sip_stream]=corpora/dict/sip.dict
    [sip_diff]=corpora/dict/sip.dict
    [sdp_roundtrip]=corpora/dict/sdp.dict
    [sbe_sequence]=corpora/dict/sip.dict
    [rtp_parse]=corpora/dict/rtp.dict
    [rtcp_parse]=corpora/dict/rtp.dict
    [srtp_unprotect]=corpora/dict/rtp.dict
    [sbe_media]=corpora/dict/sdp.dict
    [dbe_sequence]=corpora/dict/rtp.dict
    [enum_naptr]=corpora/dict/enum.dict
    [lrf_answers]=corpora/dict/enum.dict
    [identity_verify]=corpora/dict/sip.dict
)
# libFuzzer -max_len per target, as in .ci/run: written to <target>.options.
declare -A FUZZ_MAX_LEN=(
    [sbe_sequence]=64
    [sbe_media]=256
    [dbe_sequence]=128
)

cargo fuzz build -O

for t in "${FUZZ_TARGETS[@]}"; do
    cp "fuzz/target/x86_64-unknown-linux-gnu/release/$t" "$OUT/"
    rm -f "$OUT/${t}_seed_corpus.zip"
    (cd "${FUZZ_SEEDS[$t]}" && zip -q -r "$OUT/${t}_seed_corpus.zip" .)
    cp "${FUZZ_DICTS[$t]}" "$OUT/$t.dict"
    rm -f "$OUT/$t.options"
    if [[ -n ${FUZZ_MAX_LEN[$t]:-} ]]; then
        printf '[libfuzzer]\nmax_len = %s\n' "${FUZZ_MAX_LEN[$t]}" >"$OUT/$t.options"
    fi
done
