//! The one x86-64 decoder module: every probe-placement decision decodes machine code here.
//! (Being written.)
