//! Go programs: finding `crypto/tls` functions in stripped binaries and choosing where to probe
//! them. (Being written.)
