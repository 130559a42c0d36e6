//! SDP bodies whose media-security and unknown attributes must cross the
//! IUT untouched (RFC 6271 #17). Values are synthetic test material.

/// The offer the peer sends: SRTP keys (RFC 4568), a DTLS fingerprint and
/// setup role (RFC 5763/4145), and attributes no element knows.
pub(crate) const OFFER: &[u8] = b"v=0\r
o=speermint 2890844526 2890844526 IN IP4 127.0.0.2\r
s=-\r
c=IN IP4 127.0.0.2\r
t=0 0\r
m=audio 49170 RTP/SAVP 0 8 101\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:101 telephone-event/8000\r
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:32\r
a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32\r
a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3F:8D:2B:C2:AA:6F:1B:4C:A7:2B:15:A9\r
a=setup:actpass\r
a=x-speermint-unknown:opaque value;with=odd chars\r
a=x-peering-tag\r
m=video 51372 RTP/SAVP 99\r
a=rtpmap:99 H264/90000\r
a=x-speermint-video:keep-me\r
";

/// The answer the terminating peer returns.
pub(crate) const ANSWER: &[u8] = b"v=0\r
o=terminating 2808844564 2808844564 IN IP4 127.0.0.4\r
s=-\r
c=IN IP4 127.0.0.4\r
t=0 0\r
m=audio 60000 RTP/SAVP 0 101\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:101 telephone-event/8000\r
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r
a=fingerprint:sha-256 19:E5:7C:AB:3F:8D:2B:C2:AA:6F:1B:4C:A7:2B:15:A9:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B\r
a=setup:active\r
a=x-speermint-answer:unknown-to-everyone\r
m=video 0 RTP/SAVP 99\r
";
