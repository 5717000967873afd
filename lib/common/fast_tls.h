// Thread-local variables that every engine iteration reads (which engine a thread runs,
// whether it is inside one). In a shared library -- libshardtcp.so, the LD_PRELOAD
// library -- the default TLS model calls __tls_get_addr on each access (three calls per
// iteration in sockets::wait_style alone); initial-exec is one %fs-relative load. Only
// for a few small variables: a library loaded with dlopen() takes them from glibc's
// small reserve of static TLS.
#pragma once

#define SHARDTCP_FAST_TLS [[gnu::tls_model("initial-exec")]]
